"""Clients, secrets and bearer tokens (JWT, HS256 via PyJWT) with roles and scopes.

Roles: ``unit`` (a business system), ``auditor``, ``integrator`` and ``admin`` (which includes
integrator). A unit's scopes name the unit and the interface, e.g. ``011:IF_ZEI_0001:send``.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import jwt
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.auth import repository
from platform_hub.kit.settings import Settings
from platform_hub.models import Client, Unit
from platform_hub.protocol.catalog import Catalog
from platform_hub.protocol.errors import Forbidden, NotAuthenticated, UnknownTarget
from platform_hub.protocol.specs import Pattern

ISSUER = "platform-hub"
ROLES = ("unit", "auditor", "integrator", "admin")
# What each role may act as: admin is an integrator too.
ROLE_GRANTS: dict[str, frozenset[str]] = {
    "unit": frozenset({"unit"}),
    "auditor": frozenset({"auditor"}),
    "integrator": frozenset({"integrator"}),
    "admin": frozenset({"admin", "integrator"}),
}


@dataclass(frozen=True)
class Principal:
    """Who is calling, from a verified bearer token."""

    client_id: str
    role: str
    unit_code: str | None
    scopes: frozenset[str]

    def acts_as(self, role: str) -> bool:
        return role in ROLE_GRANTS.get(self.role, frozenset())


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_client_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), secret_hash)


def send_scope(unit_code: str, interface_id: str) -> str:
    return f"{unit_code}:{interface_id}:send"


def da_scope(provider: str, interface_id: str, operation: str) -> str:
    """A scope in the Digital Agency's form ``{provider 業務システムID}:{APIコール名}:{操作名}``: it names
    the unit that provides the API (not the caller), the interface, and ``get`` (a query) or ``post``
    (a notification)."""
    return f"{provider}:{interface_id}:{operation}"


def grant_scopes(allowed: set[str], requested: str | None) -> set[str]:
    """No scope asked means every scope the client is allowed; asking for more is refused."""
    if not requested:
        return allowed
    asked = set(requested.split())
    beyond = asked - allowed
    if beyond:
        raise Forbidden(f"scope not allowed for this client: {' '.join(sorted(beyond))}")
    return asked


def issue_token(
    settings: Settings, *, client_id: str, role: str, unit_code: str | None, scopes: set[str]
) -> tuple[str, int]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": client_id,
        "role": role,
        "unit": unit_code,
        "scope": " ".join(sorted(scopes)),
        "iat": now,
        "exp": now + settings.token_ttl_seconds,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, _secret(settings), algorithm="HS256"), settings.token_ttl_seconds


def verify_token(settings: Settings, token: str) -> Principal:
    """The token's principal; a token verified before is not decoded again, only its expiry checked
    (a unit sends many messages with one token, and decoding one costs as much as routing a message)."""
    principal, expires = _verified(_secret(settings), token)
    if expires <= time.time():
        raise NotAuthenticated("the bearer token has expired")
    return principal


def _secret(settings: Settings) -> str:
    if settings.token_secret is None:  # create_app fills it in (web/app.py): never sign without one
        raise RuntimeError("no token secret: the settings did not go through create_app")
    return settings.token_secret


@functools.lru_cache(maxsize=4096)
def _verified(secret: str, token: str) -> tuple[Principal, float]:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise NotAuthenticated("the bearer token has expired") from None
    except jwt.PyJWTError:
        raise NotAuthenticated("the bearer token is not valid") from None
    role = claims.get("role")
    if role not in ROLES:
        raise NotAuthenticated("the bearer token carries no known role")
    principal = Principal(
        client_id=claims["sub"],
        role=role,
        unit_code=claims.get("unit"),
        scopes=frozenset(str(claims.get("scope", "")).split()),
    )
    return principal, float(claims["exp"])


def new_client(name: str, role: str, unit_code: str | None = None) -> tuple[Client, str]:
    """A client and its secret; only the secret's hash is kept, so the secret is shown once."""
    secret = new_secret()
    prefix = f"unit{unit_code}" if unit_code else role
    client = Client(
        client_id=new_client_id(prefix),
        secret_hash=hash_secret(secret),
        name=name,
        role=role,
        unit_code=unit_code,
    )
    return client, secret


async def get_client(session: AsyncSession, client_id: str) -> Client:
    client = await repository.get_client(session, client_id)
    if client is None:
        raise UnknownTarget(f"no client {client_id!r}")
    return client


async def list_clients(session: AsyncSession, role: str | None = None) -> Sequence[Client]:
    """Every client (staff's and units'), oldest first; of one role only, when given."""
    return await repository.list_clients(session, role)


async def clients_of_unit(session: AsyncSession, unit_code: str) -> Sequence[Client]:
    """The clients acting for a unit: the one its registration made (first), as a rule the only one."""
    return await repository.clients_of_unit(session, unit_code)


async def set_client_enabled(session: AsyncSession, client_id: str, enabled: bool) -> Client:
    """A disabled client gets no token (authenticate_client); those it has expire with their TTL."""
    client = await get_client(session, client_id)
    client.enabled = enabled
    await session.flush()
    return client


async def rotate_secret(session: AsyncSession, client: Client) -> str:
    """A new secret for the client, shown only to the caller now; the old one works no more."""
    secret = new_secret()
    client.secret_hash = hash_secret(secret)
    await session.flush()
    return secret


async def create_client(
    session: AsyncSession, name: str, role: str, unit_code: str | None = None
) -> tuple[Client, str]:
    """``new_client``, stored in the caller's transaction."""
    client, secret = new_client(name, role, unit_code)
    repository.add_client(session, client)
    await session.flush()
    return client, secret


async def authenticate_client(
    session: AsyncSession, settings: Settings, catalog: Catalog, client_id: str, secret: str
) -> tuple[str, str | None, set[str]]:
    """``(role, unit code, allowed scopes)`` of a client whose secret matches, or E2001."""
    if settings.admin_client_id and settings.admin_client_secret and client_id == settings.admin_client_id:
        if secret_matches(secret, hash_secret(settings.admin_client_secret)):
            return "admin", None, {"admin"}
        raise NotAuthenticated("invalid client credentials")
    client = await repository.get_client(session, client_id)
    if client is None or not secret_matches(secret, client.secret_hash) or not client.enabled:
        raise NotAuthenticated("invalid client credentials")
    if client.role != "unit":
        return client.role, None, {client.role}
    unit = await repository.unit_of(session, client)
    if unit is None or not unit.enabled:
        raise NotAuthenticated(f"unit {client.unit_code} is not registered or is disabled")
    return "unit", unit.code, unit_scopes(unit, catalog)


def unit_scopes(unit: Unit, catalog: Catalog) -> set[str]:
    """What a unit may do: send the queries it consumes and the notifications and batches it provides;
    use the addressee registry; and see My Numbers when one of its 事務 is a 個人番号利用事務."""
    provided = set(unit.interface_ids("provides"))
    scopes = {f"{unit.code}:addressees"}
    if any(catalog.purposes[p].number_use for p in unit.purposes if p in catalog.purposes):
        scopes.add(f"{unit.code}:mynumber")
    for spec in catalog.specs():
        may_send = spec.allows_consumer(unit.code) if spec.pattern == Pattern.QUERY else spec.id in provided
        if may_send:
            scopes.add(send_scope(unit.code, spec.id))
            scopes.add(da_scope(spec.provider, spec.id, "get" if spec.pattern == Pattern.QUERY else "post"))
    return scopes
