"""OAuth2 client credentials: a bearer token fetched when needed and refreshed before it runs out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from platform_hub_sdk.errors import LinkageError


@dataclass(frozen=True)
class Credentials:
    """A client of the hub: a unit's own, or an integrator's (to register units)."""

    client_id: str
    client_secret: str = field(repr=False)


class TokenSource:
    """One client's bearer token. Refreshed a little before it expires (a slow request must not carry
    a token that dies on the way), and at once when the hub says it is no longer valid."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        credentials: Credentials,
        *,
        clock: Callable[[], float] = time.monotonic,
        margin_seconds: float = 30.0,
    ) -> None:
        self.http, self.credentials = http, credentials
        self._clock, self._margin = clock, margin_seconds
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        if self._token is not None and self._clock() < self._expires_at:
            return self._token
        async with self._lock:  # concurrent callers share one refresh
            if self._token is None or self._clock() >= self._expires_at:
                await self._refresh()
            assert self._token is not None
            return self._token

    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token()}"}

    def invalidate(self) -> None:
        self._token = None

    async def _refresh(self) -> None:
        asked_at = self._clock()
        response = await self.http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(self.credentials.client_id, self.credentials.client_secret),
        )
        if response.status_code != 200:
            raise json_error(response)
        answer = response.json()
        expires_in = float(answer.get("expires_in", 60))
        self._token = str(answer["access_token"])
        self._expires_at = asked_at + max(expires_in - min(self._margin, expires_in / 5), 0.0)


def json_error(response: httpx.Response) -> LinkageError:
    """The hub's JSON error (``{"error": {"code", "message"}}``) as a ``LinkageError``."""
    try:
        error = response.json()["error"]
        return LinkageError(str(error["code"]), str(error["message"]), status_code=response.status_code)
    except (ValueError, KeyError, TypeError):
        code = "E5001" if response.status_code == 503 else "E5000"
        return LinkageError(
            code, f"the hub answered HTTP {response.status_code}", status_code=response.status_code
        )
