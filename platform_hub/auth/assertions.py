"""client_secret_jwt (RFC 7523 §2.2, as OpenID Connect Core §9 names it): a client authenticates with
a JWT it signs (HS256) with its own secret, instead of sending the secret.

The assertion names the client (``iss`` = ``sub`` = its client id), the endpoint it is meant for
(``aud``), when it was made and expires (``iat``, ``exp``: it may live ``max_lifetime`` seconds at most)
and a ``jti`` the hub refuses to see twice (``service.authenticate_assertion`` keeps it until ``exp``).
Checked with PyJWT, which takes only the algorithms named: ``none``, RS256 and every other are refused.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass

import jwt

from platform_hub.protocol.errors import NotAuthenticated

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHM = "HS256"
LEEWAY_SECONDS = 30  # the clocks of the hub and of a unit's server differ a little
MAX_JTI_LENGTH = 200


@dataclass(frozen=True)
class ClientAssertion:
    """A verified assertion: who made it, its jti, and until when that jti is kept."""

    client_id: str
    jti: str
    expires_at: float


def claimed_client(assertion: str) -> str:
    """The client id the assertion claims (``iss``), read before its signature is checked: it says
    whose secret checks the signature. Anything but an HS256 JWT is refused here."""
    try:
        header = jwt.get_unverified_header(assertion)
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise NotAuthenticated("the client assertion is not a JWT") from None
    if header.get("alg") != ALGORITHM:
        raise NotAuthenticated("the client assertion must be signed with HS256 (client_secret_jwt)")
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or not issuer or len(issuer) > 200:
        raise NotAuthenticated("the client assertion names no client (iss)")
    return issuer


def verify_assertion(
    assertion: str, secret: str, client_id: str, audiences: Collection[str], max_lifetime: int
) -> ClientAssertion:
    """The assertion, checked: signed with the client's secret, by and about the client, for one of
    ``audiences``, current, living no longer than ``max_lifetime``. E2001 otherwise."""
    try:
        claims = jwt.decode(
            assertion,
            secret,
            algorithms=[ALGORITHM],
            audience=list(audiences),
            issuer=client_id,
            leeway=LEEWAY_SECONDS,
            options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"]},
        )
    except jwt.InvalidSignatureError:
        raise NotAuthenticated("invalid client credentials") from None
    except jwt.ExpiredSignatureError:
        raise NotAuthenticated("the client assertion has expired") from None
    except jwt.InvalidAudienceError:
        raise NotAuthenticated(
            f"the client assertion's aud is not this endpoint: use {sorted(audiences)[0]}"
        ) from None
    except jwt.ImmatureSignatureError:
        raise NotAuthenticated("the client assertion was issued in the future (iat)") from None
    except jwt.MissingRequiredClaimError as missing:
        raise NotAuthenticated(f"the client assertion lacks the claim {missing.claim}") from None
    except jwt.PyJWTError as invalid:
        raise NotAuthenticated(f"the client assertion is not valid ({type(invalid).__name__})") from None
    if claims["sub"] != client_id:
        raise NotAuthenticated("the client assertion's sub must be its iss, the client id")
    issued, expires, jti = claims["iat"], claims["exp"], claims["jti"]
    if expires - issued > max_lifetime or expires > time.time() + max_lifetime + LEEWAY_SECONDS:
        raise NotAuthenticated(f"the client assertion lives longer than {max_lifetime} s (exp - iat)")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
        raise NotAuthenticated(f"the client assertion's jti must be a string of 1 to {MAX_JTI_LENGTH}")
    return ClientAssertion(client_id=client_id, jti=jti, expires_at=float(expires) + LEEWAY_SECONDS)
