"""Clients, secrets and bearer tokens (JWT, HS256 via PyJWT) with roles and scopes.

Roles: ``unit`` (a business system), ``auditor``, ``integrator`` and ``admin`` (which includes
integrator). A unit's own scopes name the unit and the interface, e.g. ``011:IF_ZEI_0001:send`` (the
SOAP endpoints check these); its Digital Agency scopes name the provider, e.g.
``002:IF_ZEI_0001:get`` (``da_scope``), one provider per token.

Clients authenticate with client_secret_jwt (``authenticate_assertion``, RFC 7523) or, as the Digital
Agency's interim measure, client_secret_basic / client_secret_post (``authenticate_client``).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import secrets
import string
import time
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.auth import repository
from platform_hub.auth.assertions import ClientAssertion, claimed_client, verify_assertion
from platform_hub.kit.settings import Settings
from platform_hub.kit.vault import MyNumberVault
from platform_hub.models import Client, Unit
from platform_hub.protocol.catalog import Catalog
from platform_hub.protocol.errors import Forbidden, NotAuthenticated, SchemaViolation, UnknownTarget
from platform_hub.protocol.rest import operation_of
from platform_hub.protocol.specs import InterfaceSpec, Pattern

ISSUER = "platform-hub"
# monitor: Prometheus's client, which reads /metrics and nothing else (web/security.py).
ROLES = ("unit", "auditor", "integrator", "admin", "monitor")
# What each role may act as: admin is an integrator too.
ROLE_GRANTS: dict[str, frozenset[str]] = {
    "unit": frozenset({"unit"}),
    "auditor": frozenset({"auditor"}),
    "integrator": frozenset({"integrator"}),
    "admin": frozenset({"admin", "integrator"}),
    "monitor": frozenset({"monitor"}),
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


CLIENT_ID_ALPHABET = string.digits + string.ascii_letters
CLIENT_ID_LENGTH = 32  # the Digital Agency's: 32 characters of [0-9A-Za-z]
DA_OPERATIONS = frozenset({"get", "post"})
MIN_HS256_KEY_BYTES = 32


def new_client_id() -> str:
    """A client id as the Digital Agency has them (ids made before, ``unit011-…``, keep working)."""
    return "".join(secrets.choice(CLIENT_ID_ALPHABET) for _ in range(CLIENT_ID_LENGTH))


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


def provider_of(scope: str) -> str | None:
    """The provider a Digital Agency scope names (``002`` in ``002:IF_ZEI_0001:get``); None for the
    hub's own scopes (``011:IF_ZEI_0001:send``, ``011:addressees``)."""
    parts = scope.split(":")
    return parts[0] if len(parts) == 3 and parts[2] in DA_OPERATIONS else None


def providers_of(scopes: Collection[str]) -> set[str]:
    return {provider for provider in map(provider_of, scopes) if provider is not None}


def da_scope_of(spec: InterfaceSpec) -> str:
    """The DA scope a REST call of ``spec`` needs: its provider's, ``get`` for a query, ``post`` for a
    notification (the 操作名 the REST binding uses, ``protocol.rest.operation_of``)."""
    return da_scope(spec.provider, spec.id, operation_of(spec))


def grant_scopes(allowed: set[str], requested: str | None) -> set[str]:
    """No scope asked means every scope the client is allowed but the Digital Agency's, which are
    granted only when asked, alone, for one provider per token; asking for more is refused (E2002),
    for two providers at once or with the hub's own scopes too (E1002)."""
    if not requested:
        return {scope for scope in allowed if provider_of(scope) is None}
    asked = set(requested.split())
    beyond = asked - allowed
    if beyond:
        raise Forbidden(f"scope not allowed for this client: {' '.join(sorted(beyond))}")
    providers = providers_of(asked)
    if len(providers) > 1:
        raise _invalid_scope(
            f"one token per provider: the scopes name {', '.join(sorted(providers))}; ask for each apart"
        )
    # The provider may be shown the token (it introspects it): nothing in it may work at the hub as
    # the asking unit, its registry scopes or its SOAP sends.
    own = sorted(scope for scope in asked if provider_of(scope) is None)
    if providers and own:
        raise _invalid_scope(f"a provider's scope comes alone, without {' '.join(own)}: ask for them apart")
    return asked


def _invalid_scope(message: str) -> SchemaViolation:
    refused = SchemaViolation(message)
    refused.oauth_error = "invalid_scope"
    return refused


def issue_token(
    settings: Settings, *, client_id: str, role: str, unit_code: str | None, scopes: set[str]
) -> tuple[str, int]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": client_id,
        "client_id": client_id,
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


def introspection(settings: Settings, token: str, caller_unit: str | None) -> dict[str, Any]:
    """RFC 7662's answer about ``token`` to the unit ``caller_unit``: active only for a valid, current
    token of the hub's whose Digital Agency scopes name that unit as their provider; anything else
    (expired, forged, another provider's, no unit asking) is ``{"active": False}``, all alike."""
    try:
        claims = jwt.decode(
            token,
            _secret(settings),
            algorithms=["HS256"],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )
    except jwt.PyJWTError:
        return {"active": False}
    scopes = str(claims.get("scope", "")).split()
    if caller_unit is None or caller_unit not in providers_of(scopes):
        return {"active": False}
    return {
        "active": True,
        "scope": " ".join(scopes),
        "client_id": claims.get("client_id", claims["sub"]),
        "sub": claims["sub"],
        "exp": claims["exp"],
        "iat": claims["iat"],
        "iss": claims["iss"],
        "token_type": "Bearer",
    }


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


def new_client(
    name: str, role: str, unit_code: str | None = None, *, vault: MyNumberVault | None = None
) -> tuple[Client, str]:
    """A client and its secret, shown once: the hub keeps its hash (client_secret_basic) and, given the
    vault, the secret sealed (client_secret_jwt needs it to check an assertion's signature)."""
    client = Client(client_id=new_client_id(), name=name, role=role, unit_code=unit_code)
    return client, _set_secret(client, vault)


def _set_secret(client: Client, vault: MyNumberVault | None) -> str:
    """A new secret for ``client``: hashed, and sealed when there is a vault. Without one the client
    authenticates with client_secret_basic only, and any secret sealed before goes with the old one."""
    secret = new_secret()
    client.secret_hash = hash_secret(secret)
    client.secret_key_id, client.secret_ciphertext = (
        vault.seal_secret(secret, client.client_id) if vault is not None else (None, None)
    )
    return secret


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


async def rotate_secret(session: AsyncSession, client: Client, *, vault: MyNumberVault | None = None) -> str:
    """A new secret for the client, shown only to the caller now; the old one works no more. A client
    made before migration 0011 gets client_secret_jwt with it (its new secret is sealed)."""
    secret = _set_secret(client, vault)
    await session.flush()
    return secret


async def create_client(
    session: AsyncSession,
    name: str,
    role: str,
    unit_code: str | None = None,
    *,
    vault: MyNumberVault | None = None,
) -> tuple[Client, str]:
    """``new_client``, stored in the caller's transaction."""
    client, secret = new_client(name, role, unit_code, vault=vault)
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
    return await _grants(session, catalog, client)


async def authenticate_assertion(
    session: AsyncSession,
    settings: Settings,
    catalog: Catalog,
    vault: MyNumberVault | None,
    assertion: str,
    audiences: Collection[str],
) -> tuple[ClientAssertion, str, str | None, set[str]]:
    """``(the verified assertion, role, unit code, allowed scopes)`` of the client whose
    client_secret_jwt assertion this is, or E2001. The caller keeps its jti (``use_assertion``) once
    nothing else can refuse the request: a refused request's assertion may come again."""
    client_id = claimed_client(assertion)
    max_lifetime = settings.assertion_max_lifetime_seconds
    if settings.admin_client_id and settings.admin_client_secret and client_id == settings.admin_client_id:
        secret = settings.admin_client_secret
        if len(secret.encode()) < MIN_HS256_KEY_BYTES:  # RFC 7518 §3.2: an HS256 key has 256 bits at least
            raise NotAuthenticated(
                "client_secret_jwt needs a secret of 32+ characters; "
                "PLATFORM_HUB_ADMIN_CLIENT_SECRET is shorter (client_secret_basic takes it)"
            )
        verified = verify_assertion(assertion, secret, client_id, audiences, max_lifetime)
        return verified, "admin", None, {"admin"}
    client = await repository.get_client(session, client_id)
    if client is None or not client.enabled:
        raise NotAuthenticated("invalid client credentials")
    if client.secret_ciphertext is None or client.secret_key_id is None:
        raise NotAuthenticated(
            "this client's secret predates client_secret_jwt: use client_secret_basic, or have its "
            "secret rotated (POST /adapters/{code}/secret, platform-hub clients rotate)"
        )
    if vault is None:
        raise NotAuthenticated("client_secret_jwt needs the hub's key file, which is unavailable")
    secret = vault.open_secret(client.secret_key_id, client.secret_ciphertext, client.client_id)
    verified = verify_assertion(assertion, secret, client_id, audiences, max_lifetime)
    role, unit_code, allowed = await _grants(session, catalog, client)
    return verified, role, unit_code, allowed


async def use_assertion(session: AsyncSession, assertion: ClientAssertion) -> None:
    """Keep the verified assertion's jti until it expires — in the database, so that every hub replica
    refuses it again at once; E2001 if it was used before."""
    until = dt.datetime.fromtimestamp(assertion.expires_at, dt.UTC)
    if not await repository.use_assertion(session, assertion.client_id, assertion.jti, until):
        raise NotAuthenticated("the client assertion was used before (jti): make a new one for each request")


async def _grants(
    session: AsyncSession, catalog: Catalog, client: Client
) -> tuple[str, str | None, set[str]]:
    if client.role != "unit":
        return client.role, None, {client.role}
    unit = await repository.unit_of(session, client)
    if unit is None or not unit.enabled:
        raise NotAuthenticated(f"unit {client.unit_code} is not registered or is disabled")
    return "unit", unit.code, unit_scopes(unit, catalog)


def unit_scopes(unit: Unit, catalog: Catalog) -> set[str]:
    """What a unit may do: send the queries it consumes and the notifications and batches it provides
    (the hub's ``send`` scopes, and the Digital Agency's: ``get`` a query of its provider, ``post`` a
    notification or batch as its provider); use the addressee registry; and see My Numbers when one of
    its 事務 handles them (``number_use``: a 個人番号利用事務, or the 住民基本台帳, which is none)."""
    provided = set(unit.interface_ids("provides"))
    scopes = {f"{unit.code}:addressees"}
    if any(catalog.purposes[p].number_use for p in unit.purposes if p in catalog.purposes):
        scopes.add(f"{unit.code}:mynumber")
    for spec in catalog.specs():
        may_send = spec.allows_consumer(unit.code) if spec.pattern == Pattern.QUERY else spec.id in provided
        if may_send:
            scopes.add(send_scope(unit.code, spec.id))
            scopes.add(da_scope_of(spec))
    return scopes
