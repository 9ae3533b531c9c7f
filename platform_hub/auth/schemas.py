from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

StaffRole = Literal["auditor", "integrator", "admin", "monitor"]


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int
    scope: str
    # Set when the client authenticated with client_secret_basic or _post: an interim measure.
    notice: str | None = None


class ClientCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: StaffRole


class ClientCredentials(BaseModel):
    """Returned once, when the client is created: only a hash of the secret is kept."""

    client_id: str
    client_secret: str
    role: str


class ClientOut(BaseModel):
    """A client as listed: never its secret (only a hash of it is kept anyway)."""

    model_config = ConfigDict(from_attributes=True)

    client_id: str
    name: str
    role: str
    unit_code: str | None
    enabled: bool
    created_at: dt.datetime
