"""OAuth2 client credentials: a bearer token fetched when needed and refreshed before it runs out.

The client authenticates with ``client_secret_jwt`` (an HS256 assertion signed with its secret, RFC
7523: the secret never travels) or ``client_secret_basic`` (the Digital Agency's interim measure).
``auto``, the default, starts with basic, which every hub takes, and moves to client_secret_jwt as soon
as the hub's answer shows it knows it (the answer's ``notice`` that basic is interim); whichever method
the hub refuses (E2001), the other is tried once, so a hub that turned basic off, and a client whose
secret predates client_secret_jwt (it works with basic until its secret is rotated), both get tokens.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import httpx
import jwt

from platform_hub_sdk.errors import LinkageError


@dataclass(frozen=True)
class Credentials:
    """A client of the hub: a unit's own, or an integrator's (to register units)."""

    client_id: str
    client_secret: str = field(repr=False)


TokenMethod = Literal["auto", "client_secret_jwt", "client_secret_basic"]
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MIN_HS256_KEY_BYTES = 32  # a shorter secret (a hand-written admin's) gets basic only
ASSERTION_SECONDS = 60  # how long an assertion lives: the hub refuses those living over 5 minutes


def client_assertion(credentials: Credentials, token_endpoint: str) -> str:
    """A client_secret_jwt assertion for ``token_endpoint`` (its full URL, the assertion's aud)."""
    now = int(time.time())
    claims = {
        "iss": credentials.client_id,
        "sub": credentials.client_id,
        "aud": token_endpoint,
        "iat": now,
        "exp": now + ASSERTION_SECONDS,
        "jti": uuid.uuid4().hex,  # used once: the hub refuses it again
    }
    return jwt.encode(claims, credentials.client_secret, algorithm="HS256")


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
        method: TokenMethod = "auto",
    ) -> None:
        self.http, self.credentials = http, credentials
        self.method = method
        # What auto uses next; the fixed methods only ever use themselves.
        self._using: str = "client_secret_basic" if method == "auto" else method
        self._refused: set[str] = set()
        if len(credentials.client_secret.encode()) < MIN_HS256_KEY_BYTES:  # no HS256 key (RFC 7518 §3.2)
            self._refused.add("client_secret_jwt")
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
        response = await self._ask(self._using)
        other = "client_secret_jwt" if self._using == "client_secret_basic" else "client_secret_basic"
        if response.status_code == 401 and self.method == "auto" and other not in self._refused:
            retried = await self._ask(other)
            if retried.status_code == 200:
                self._refused.add(self._using)  # not tried first again
                self._using, response = other, retried
        if response.status_code != 200:
            raise json_error(response)
        answer = response.json()
        if self.method == "auto" and answer.get("notice") and "client_secret_jwt" not in self._refused:
            # the hub knows client_secret_jwt, and takes it for this client as far as we know
            self._using = "client_secret_jwt"
        expires_in = float(answer.get("expires_in", 60))
        self._token = str(answer["access_token"])
        self._expires_at = asked_at + max(expires_in - min(self._margin, expires_in / 5), 0.0)

    async def _ask(self, method: str) -> httpx.Response:
        data = {"grant_type": "client_credentials"}
        if method == "client_secret_jwt":
            endpoint = str(self.http.base_url).rstrip("/") + "/oauth/token"  # where httpx sends it
            data |= {
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": client_assertion(self.credentials, endpoint),
            }
            return await self.http.post("/oauth/token", data=data)
        return await self.http.post(
            "/oauth/token", data=data, auth=(self.credentials.client_id, self.credentials.client_secret)
        )


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
