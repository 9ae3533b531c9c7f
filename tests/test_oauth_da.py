"""The Digital Agency's OAuth: client_secret_jwt (RFC 7523), introspection (RFC 7662), one token per
provider, no refresh tokens, 32-character client ids, client_secret_basic as the interim measure.

Driven against the served hub by clients nobody here wrote: authlib's, and httpx with a JWT PyJWT signs.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.rfc7523 import ClientSecretJWT
from cryptography.hazmat.primitives.asymmetric import rsa
from platform_hub_sdk import Credentials, TokenMethod, TokenSource

from platform_hub.auth.service import issue_token
from platform_hub.kit.settings import Settings
from platform_hub.protocol.rest import path_of
from tests.helpers import (
    ADMIN_ID,
    ADMIN_SECRET,
    CATALOG,
    YAMADA,
    HubClient,
    execute,
    header_field,
    rows,
    serve_in_thread,
    served_hub,
    zei_query,
)
from tests.units import TestUnit, zei_answer

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SEND_SCOPE = "011:IF_ZEI_0001:send"  # a SOAP message's
PROVIDER_SCOPE = "002:IF_ZEI_0001:get"  # a provider's API, alone in its token
REST_CALL = {"purpose": "JDT-001", "department": "KODOMO-1", "user": "u0123"}


@pytest.fixture
def zeimu_url() -> Iterator[str]:
    with serve_in_thread(TestUnit(answer=zei_answer).app()) as url:
        yield url


@pytest.fixture
def served(settings: Settings) -> Iterator[tuple[str, HubClient]]:
    with served_hub(settings) as hub:
        yield hub


@pytest.fixture
def city(served: tuple[str, HubClient], zeimu_url: str) -> dict[str, dict[str, Any]]:
    """002 個人住民税 (the provider of IF_ZEI_0001, served), 011 児童手当 and 001 住民基本台帳."""
    _, hub = served
    units = {
        code: hub.register(code, zeimu_url if code == "002" else "http://127.0.0.1:9")
        for code in ("002", "011", "001")
    }
    hub.enroll({"011": YAMADA["011"], "002": YAMADA["002"]})
    return units


def assertion(
    client_id: str,
    secret: str,
    aud: str,
    *,
    lifetime: int = 60,
    issued: float | None = None,
    jti: str | None = None,
    **claims: Any,
) -> str:
    """A client_secret_jwt assertion as RFC 7523 §3 has it, signed by PyJWT."""
    now = int(issued if issued is not None else time.time())
    body = {"iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": now + lifetime}
    body |= {"jti": jti or uuid.uuid4().hex, **claims}
    return jwt.encode(body, secret, algorithm="HS256")


def jwt_token_request(
    http: httpx.Client, client_assertion: str, scope: str | None = None, **extra: str
) -> httpx.Response:
    data = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE}
    data |= {"client_assertion": client_assertion, **({"scope": scope} if scope else {}), **extra}
    return http.post("/oauth/token", data=data)


def refused(response: httpx.Response, status: int, code: str, oauth_error: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["oauth_error"]) == (code, oauth_error), error
    return str(error["message"])


class ShortLivedJWT(ClientSecretJWT):
    """authlib's client_secret_jwt, its assertions living a minute (authlib's default is an hour, more
    than the hub takes). The claims are made anew for each assertion: authlib adds its jti to them."""

    def sign(self, auth: Any, token_endpoint: str) -> Any:
        self.claims = {"exp": int(time.time()) + 60}
        return super().sign(auth, token_endpoint)


async def authlib_token(url: str, credentials: dict[str, Any], scope: str) -> dict[str, Any]:
    async with AsyncOAuth2Client(
        credentials["client_id"],
        credentials["client_secret"],
        token_endpoint_auth_method="client_secret_jwt",
        scope=scope,
    ) as client:
        client.register_client_auth_method(ShortLivedJWT())
        token: dict[str, Any] = await client.fetch_token(
            f"{url}/oauth/token", grant_type="client_credentials"
        )
        return token


async def authlib_introspect(url: str, credentials: dict[str, Any], token: str) -> dict[str, Any]:
    async with AsyncOAuth2Client(
        credentials["client_id"], credentials["client_secret"], token_endpoint_auth_method="client_secret_jwt"
    ) as client:
        client.register_client_auth_method(ShortLivedJWT())
        response = await client.introspect_token(f"{url}/oauth/introspect", token=token)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer


def test_authlib_gets_a_token_sends_a_query_and_the_provider_introspects_it(
    served: tuple[str, HubClient], city: dict[str, dict[str, Any]], database_url: str
) -> None:
    url, hub = served
    sending = asyncio.run(authlib_token(url, city["011"], SEND_SCOPE))
    assert sending["token_type"] == "Bearer" and sending["scope"] == SEND_SCOPE
    assert "refresh_token" not in sending and "notice" not in sending  # client_secret_jwt is not interim
    answer = hub.send(zei_query(msgid="da-1"), {"Authorization": f"Bearer {sending['access_token']}"})
    assert answer.status_code == 200, answer.text
    assert header_field(answer.content, "MSGResult") == "0"
    # A token of the hub's own scopes is no provider's: to 002 it is not active.
    assert asyncio.run(authlib_introspect(url, city["002"], sending["access_token"])) == {"active": False}

    token = asyncio.run(authlib_token(url, city["011"], PROVIDER_SCOPE))
    seen = asyncio.run(authlib_introspect(url, city["002"], token["access_token"]))
    assert seen["active"] is True
    assert (seen["client_id"], seen["sub"], seen["iss"]) == (city["011"]["client_id"],) * 2 + (
        "platform-hub",
    )
    assert seen["scope"] == PROVIDER_SCOPE and seen["token_type"] == "Bearer"
    assert seen["iat"] <= time.time() < seen["exp"]
    # 001 is not the provider the token is meant for: to it, the token is not active.
    assert asyncio.run(authlib_introspect(url, city["001"], token["access_token"])) == {"active": False}

    recorded = rows(
        database_url, "SELECT client_id, parameters FROM operations WHERE action = 'token.introspect'"
    )
    assert [r.client_id for r in recorded] == [city[code]["client_id"] for code in ("002", "002", "001")]
    assert [('"active": "True"' in r.parameters) for r in recorded] == [False, True, False]
    everything = " ".join(str(r) for r in rows(database_url, "SELECT * FROM operations"))
    assert token["access_token"] not in everything and sending["access_token"] not in everything
    assert all(city[code]["client_secret"] not in everything for code in city)


def test_authlib_calls_the_rest_binding_and_gets_the_da_envelope(
    served: tuple[str, HubClient], city: dict[str, dict[str, Any]]
) -> None:
    """The issue's whole way: a client no one here wrote takes a client_secret_jwt token for one
    provider's DA scope, asks IF_ZEI_0001 over REST, and the provider checks the token itself."""
    url, hub = served
    token = asyncio.run(authlib_token(url, city["011"], "002:IF_ZEI_0001:get"))
    answer = hub.http.get(
        path_of(CATALOG.interfaces["IF_ZEI_0001"].spec),
        params={"AtenaNo": YAMADA["011"], "KazeiNendo": "2026", **REST_CALL},
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )
    assert answer.status_code == 200, answer.text
    document = answer.json()
    assert set(document) == {"metadata", "_links", "result"}
    assert document["result"]["SoshotokuKingaku"] == "4200000"
    seen = asyncio.run(authlib_introspect(url, city["002"], token["access_token"]))
    assert seen["active"] is True and seen["scope"] == "002:IF_ZEI_0001:get"


def test_httpx_with_a_pyjwt_assertion(served: tuple[str, HubClient], city: dict[str, dict[str, Any]]) -> None:
    url, hub = served
    credentials = city["011"]
    signed = assertion(credentials["client_id"], credentials["client_secret"], f"{url}/oauth/token")
    response = jwt_token_request(hub.http, signed, SEND_SCOPE)
    assert response.status_code == 200, response.text
    bearer = {"Authorization": f"Bearer {response.json()['access_token']}"}
    assert hub.send(zei_query(msgid="da-2"), bearer).status_code == 200
    signed = assertion(credentials["client_id"], credentials["client_secret"], f"{url}/oauth/token")
    response = jwt_token_request(hub.http, signed, PROVIDER_SCOPE)
    # Introspected with client_secret_jwt made by hand too, the aud naming the introspection endpoint.
    provider = city["002"]
    introspected = hub.http.post(
        "/oauth/introspect",
        data={
            "token": response.json()["access_token"],
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion(
                provider["client_id"], provider["client_secret"], f"{url}/oauth/introspect"
            ),
        },
    )
    assert introspected.status_code == 200 and introspected.json()["active"] is True


def test_no_scope_asked_gets_no_provider_scopes(
    served: tuple[str, HubClient], city: dict[str, dict[str, Any]]
) -> None:
    url, hub = served
    credentials = city["011"]
    signed = assertion(credentials["client_id"], credentials["client_secret"], f"{url}/oauth/token")
    response = jwt_token_request(hub.http, signed)
    assert response.status_code == 200, response.text
    assert set(response.json()["scope"].split()) == {
        "011:IF_JUK_0002:send",
        "011:IF_ZEI_0001:send",
        "011:addressees",
        "011:mynumber",
    }


def test_a_replayed_jti_is_refused(served: tuple[str, HubClient], city: dict[str, dict[str, Any]]) -> None:
    url, hub = served
    credentials = city["011"]
    signed = assertion(credentials["client_id"], credentials["client_secret"], f"{url}/oauth/token")
    assert jwt_token_request(hub.http, signed).status_code == 200
    message = refused(jwt_token_request(hub.http, signed), 401, "E2001", "invalid_client")
    assert "used before" in message
    # Another assertion with the same jti, too: the jti is what is kept.
    again = assertion(
        credentials["client_id"],
        credentials["client_secret"],
        f"{url}/oauth/token",
        jti=jwt.decode(signed, options={"verify_signature": False})["jti"],
    )
    refused(jwt_token_request(hub.http, again), 401, "E2001", "invalid_client")


def test_a_refused_request_does_not_use_up_its_jti(
    served: tuple[str, HubClient], city: dict[str, dict[str, Any]]
) -> None:
    url, hub = served
    credentials = city["011"]
    signed = assertion(credentials["client_id"], credentials["client_secret"], f"{url}/oauth/token")
    refused(jwt_token_request(hub.http, signed, "051:IF_ZEI_0001:send"), 403, "E2002", "invalid_scope")
    assert jwt_token_request(hub.http, signed).status_code == 200


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"aud": "https://elsewhere.example/oauth/token"}, "aud"),
        ({"issued": -600}, "expired"),  # seconds from when the test runs, not from its collection
        ({"lifetime": 3600}, "longer than 300"),
        ({"issued": 600}, "future"),
        ({"sub": "someone-else"}, "sub"),
        ({"secret": "not-the-secret-" + "x" * 30}, "invalid client credentials"),
    ],
)
def test_bad_assertions_are_refused(
    served: tuple[str, HubClient], city: dict[str, dict[str, Any]], change: dict[str, Any], says: str
) -> None:
    url, hub = served
    credentials = city["011"]
    change = dict(change)
    secret = change.pop("secret", credentials["client_secret"])
    if "issued" in change:
        change["issued"] = time.time() + change["issued"]
    claims = {"aud": f"{url}/oauth/token", **change}
    signed = assertion(credentials["client_id"], secret, **claims)
    assert says in refused(jwt_token_request(hub.http, signed), 401, "E2001", "invalid_client")


def test_a_short_admin_secret_gets_no_jwt(served: tuple[str, HubClient]) -> None:
    url, hub = served
    with pytest.warns(jwt.warnings.InsecureKeyLengthWarning):
        signed = assertion(ADMIN_ID, ADMIN_SECRET, f"{url}/oauth/token")
    assert "32+" in refused(jwt_token_request(hub.http, signed), 401, "E2001", "invalid_client")


def test_alg_none_and_rs256_are_refused(
    served: tuple[str, HubClient], city: dict[str, dict[str, Any]]
) -> None:
    url, hub = served
    client_id = city["011"]["client_id"]
    claims = {"iss": client_id, "sub": client_id, "aud": f"{url}/oauth/token", "jti": uuid.uuid4().hex}
    claims |= {"iat": int(time.time()), "exp": int(time.time()) + 60}
    unsigned = jwt.encode(claims, None, algorithm="none")
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for signed in (unsigned, jwt.encode(claims, private, algorithm="RS256")):
        assert "HS256" in refused(jwt_token_request(hub.http, signed), 401, "E2001", "invalid_client")
    refused(jwt_token_request(hub.http, "not.a.jwt"), 401, "E2001", "invalid_client")


def test_one_token_per_provider(served: tuple[str, HubClient], city: dict[str, dict[str, Any]]) -> None:
    url, hub = served
    credentials = city["011"]
    signed = assertion(credentials["client_id"], credentials["client_secret"], f"{url}/oauth/token")
    both = "002:IF_ZEI_0001:get 001:IF_JUK_0002:get"
    message = refused(jwt_token_request(hub.http, signed, both), 400, "E1002", "invalid_scope")
    assert "001, 002" in message
    # Each apart, it is granted.
    for scope in both.split():
        signed = assertion(credentials["client_id"], credentials["client_secret"], f"{url}/oauth/token")
        assert jwt_token_request(hub.http, signed, scope).json()["scope"] == scope


def test_a_provider_scope_comes_alone(served: tuple[str, HubClient], city: dict[str, dict[str, Any]]) -> None:
    """A token with a provider's DA scope is one the provider may be shown (it introspects it): it
    must carry nothing that works at the hub as the asking unit."""
    url, hub = served
    credentials = city["011"]
    for mixed in ("002:IF_ZEI_0001:get 011:addressees", "002:IF_ZEI_0001:get 011:IF_ZEI_0001:send"):
        signed = assertion(credentials["client_id"], credentials["client_secret"], f"{url}/oauth/token")
        message = refused(jwt_token_request(hub.http, signed, mixed), 400, "E1002", "invalid_scope")
        assert "alone" in message
    signed = assertion(credentials["client_id"], credentials["client_secret"], f"{url}/oauth/token")
    token = jwt_token_request(hub.http, signed, "002:IF_ZEI_0001:get").json()["access_token"]
    search = hub.http.post(
        "/addressees/search",
        json={"name": "山田太郎", "birth_date": "1985-04-01"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert search.status_code == 403 and search.json()["error"]["code"] == "E2002"


def test_no_refresh_tokens(served: tuple[str, HubClient], city: dict[str, dict[str, Any]]) -> None:
    _, hub = served
    credentials = city["011"]
    response = hub.http.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": "anything"},
        auth=(credentials["client_id"], credentials["client_secret"]),
    )
    assert "no refresh tokens" in refused(response, 400, "E1002", "unsupported_grant_type")
    issued = hub.http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(credentials["client_id"], credentials["client_secret"]),
    )
    assert "refresh_token" not in issued.json()


def test_client_ids_are_32_alphanumerics(
    served: tuple[str, HubClient], city: dict[str, dict[str, Any]]
) -> None:
    _, hub = served
    staff = hub.http.post("/clients", json={"name": "監査", "role": "auditor"}, headers=hub.admin()).json()
    for client_id in [credentials["client_id"] for credentials in city.values()] + [staff["client_id"]]:
        assert re.fullmatch(r"[0-9A-Za-z]{32}", client_id), client_id
    assert len({credentials["client_id"] for credentials in city.values()}) == 3


def test_basic_still_works_and_says_it_is_interim(
    served: tuple[str, HubClient], city: dict[str, dict[str, Any]]
) -> None:
    _, hub = served
    credentials = city["011"]
    response = hub.http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "002:IF_ZEI_0001:get"},
        auth=(credentials["client_id"], credentials["client_secret"]),
    )
    assert response.status_code == 200, response.text
    assert "interim" in response.json()["notice"] and response.json()["scope"] == "002:IF_ZEI_0001:get"
    # Introspection with client_secret_basic too.
    introspected = hub.http.post(
        "/oauth/introspect",
        data={"token": response.json()["access_token"]},
        auth=(city["002"]["client_id"], city["002"]["client_secret"]),
    )
    assert introspected.json()["active"] is True


def jwt_only(settings: Settings) -> Settings:
    """A hub that takes client_secret_jwt only, its administrator's secret long enough for HS256."""
    return settings.model_copy(
        update={"client_secret_basic": False, "admin_client_secret": LONG_ADMIN_SECRET}
    )


LONG_ADMIN_SECRET = ADMIN_SECRET + "-long-enough-for-hs256"


def test_basic_turned_off(settings: Settings) -> None:
    with served_hub(jwt_only(settings)) as (url, hub):
        # The administrator of the settings authenticates with client_secret_jwt too.
        signed = assertion(ADMIN_ID, LONG_ADMIN_SECRET, f"{url}/oauth/token")
        admin = jwt_token_request(hub.http, signed)
        assert admin.status_code == 200, admin.text
        hub._admin = (time.monotonic(), {"Authorization": f"Bearer {admin.json()['access_token']}"})
        credentials = hub.register("011")
        for auth, data in (
            ((credentials["client_id"], credentials["client_secret"]), {}),
            (None, {"client_id": credentials["client_id"], "client_secret": credentials["client_secret"]}),
        ):
            response = hub.http.post(
                "/oauth/token", data={"grant_type": "client_credentials", **data}, auth=auth
            )
            assert "client_secret_jwt" in refused(response, 401, "E2001", "invalid_client")
        signed = assertion(credentials["client_id"], credentials["client_secret"], f"{url}/oauth/token")
        assert jwt_token_request(hub.http, signed).status_code == 200


def test_a_client_from_before_gets_jwt_after_a_rotation(
    served: tuple[str, HubClient], city: dict[str, dict[str, Any]], database_url: str
) -> None:
    url, hub = served
    client_id = city["011"]["client_id"]
    # As a client made before migration 0011: its secret's hash only.
    execute(
        database_url,
        f"UPDATE clients SET secret_key_id = NULL, secret_ciphertext = NULL WHERE client_id = '{client_id}'",
    )
    signed = assertion(client_id, city["011"]["client_secret"], f"{url}/oauth/token")
    assert "rotated" in refused(jwt_token_request(hub.http, signed), 401, "E2001", "invalid_client")
    assert hub.token(client_id, city["011"]["client_secret"])  # basic keeps working
    rotated = hub.http.post("/adapters/011/secret", headers=hub.admin()).json()
    assert rotated["client_id"] == client_id
    signed = assertion(client_id, rotated["client_secret"], f"{url}/oauth/token")
    assert jwt_token_request(hub.http, signed).status_code == 200
    stored = rows(database_url, f"SELECT secret_ciphertext FROM clients WHERE client_id = '{client_id}'")
    assert rotated["client_secret"].encode() not in bytes(stored[0].secret_ciphertext)


def test_the_public_url_is_an_audience(settings: Settings) -> None:
    public = "https://hub.city.example"
    with served_hub(settings.model_copy(update={"public_url": public + "/"})) as (url, hub):
        credentials = hub.register("011")
        for aud in (f"{public}/oauth/token", f"{url}/oauth/token"):
            signed = assertion(credentials["client_id"], credentials["client_secret"], aud)
            assert jwt_token_request(hub.http, signed).status_code == 200
        signed = assertion(credentials["client_id"], credentials["client_secret"], f"{public}/other")
        refused(jwt_token_request(hub.http, signed), 401, "E2001", "invalid_client")


def test_the_form_client_id_must_be_the_assertions(
    served: tuple[str, HubClient], city: dict[str, dict[str, Any]]
) -> None:
    url, hub = served
    credentials = city["011"]
    signed = assertion(credentials["client_id"], credentials["client_secret"], f"{url}/oauth/token")
    response = jwt_token_request(hub.http, signed, client_id=city["002"]["client_id"])
    refused(response, 401, "E2001", "invalid_client")
    both = jwt_token_request(hub.http, signed, client_secret=credentials["client_secret"])
    refused(both, 401, "E2001", "invalid_client")


def test_introspection_of_the_hubs_own_and_of_bad_tokens(
    served: tuple[str, HubClient], city: dict[str, dict[str, Any]], settings: Settings
) -> None:
    url, hub = served
    secret = settings.token_secret
    assert secret is not None
    hubs_own, _ = issue_token(
        settings, client_id="platform-hub", role="unit", unit_code=None, scopes={"002:IF_ZEI_0001:get"}
    )
    expired = jwt.encode(
        {
            "iss": "platform-hub",
            "sub": "x",
            "role": "unit",
            "scope": "002:IF_ZEI_0001:get",
            "iat": 1,
            "exp": 2,
        },
        secret,
        algorithm="HS256",
    )
    forged = jwt.encode(
        {
            "iss": "platform-hub",
            "sub": "x",
            "role": "unit",
            "scope": "002:IF_ZEI_0001:get",
            "iat": int(time.time()),
            "exp": int(time.time()) + 60,
        },
        "another-secret-" + "y" * 40,
        algorithm="HS256",
    )
    seen = asyncio.run(authlib_introspect(url, city["002"], hubs_own))
    assert (
        seen["active"] is True
        and seen["client_id"] == "platform-hub"
        and seen["scope"] == "002:IF_ZEI_0001:get"
    )
    for token in (expired, forged, "garbage"):
        assert asyncio.run(authlib_introspect(url, city["002"], token)) == {"active": False}
    # A token with none of the Digital Agency's scopes is meant for no provider.
    plain = hub.token(city["011"]["client_id"], city["011"]["client_secret"])
    assert asyncio.run(authlib_introspect(url, city["002"], plain)) == {"active": False}


def test_introspection_needs_an_authenticated_client(
    served: tuple[str, HubClient], city: dict[str, dict[str, Any]]
) -> None:
    _, hub = served
    anonymous = hub.http.post("/oauth/introspect", data={"token": "x"})
    refused(anonymous, 401, "E2001", "invalid_client")
    wrong = hub.http.post("/oauth/introspect", data={"token": "x"}, auth=(city["002"]["client_id"], "wrong"))
    refused(wrong, 401, "E2001", "invalid_client")


async def sdk_tokens(
    url: str, credentials: dict[str, Any], method: TokenMethod
) -> tuple[list[str], TokenSource]:
    """Three tokens the SDK gets in turn, and the methods it used (from the hub's record)."""
    async with httpx.AsyncClient(base_url=url) as http:
        source = TokenSource(
            http, Credentials(credentials["client_id"], credentials["client_secret"]), method=method
        )
        tokens = []
        for _ in range(3):
            tokens.append(await source.token())
            source.invalidate()
        return tokens, source


def token_methods(database_url: str, client_id: str) -> list[str]:
    entries = rows(
        database_url,
        "SELECT parameters FROM operations WHERE action = 'token.issue' "
        f"AND client_id = '{client_id}' ORDER BY id",
    )
    return [json.loads(entry.parameters)["method"] for entry in entries]


def test_the_sdk_gets_tokens_with_client_secret_jwt(
    served: tuple[str, HubClient], city: dict[str, dict[str, Any]], database_url: str
) -> None:
    url, _ = served
    tokens, _ = asyncio.run(sdk_tokens(url, city["011"], "client_secret_jwt"))
    assert len(set(tokens)) == 3
    assert token_methods(database_url, city["011"]["client_id"]) == ["client_secret_jwt"] * 3
    # auto: basic first (every hub takes it), then client_secret_jwt once the hub's answer shows it knows it.
    asyncio.run(sdk_tokens(url, city["002"], "auto"))
    assert (
        token_methods(database_url, city["002"]["client_id"])
        == ["client_secret_basic"] + ["client_secret_jwt"] * 2
    )


def test_the_sdk_auto_stays_with_basic_for_a_client_from_before(
    served: tuple[str, HubClient], city: dict[str, dict[str, Any]], database_url: str
) -> None:
    url, _ = served
    client_id = city["011"]["client_id"]
    execute(
        database_url,
        f"UPDATE clients SET secret_key_id = NULL, secret_ciphertext = NULL WHERE client_id = '{client_id}'",
    )
    asyncio.run(sdk_tokens(url, city["011"], "auto"))
    # The second try (jwt) is refused and basic answers instead; the third goes to basic at once.
    assert token_methods(database_url, client_id) == ["client_secret_basic"] * 3


def test_the_sdk_auto_finds_jwt_when_basic_is_turned_off(settings: Settings) -> None:
    with served_hub(jwt_only(settings)) as (url, hub):
        signed = assertion(ADMIN_ID, LONG_ADMIN_SECRET, f"{url}/oauth/token")
        hub._admin = (
            time.monotonic(),
            {"Authorization": f"Bearer {jwt_token_request(hub.http, signed).json()['access_token']}"},
        )
        credentials = hub.register("011")
        tokens, source = asyncio.run(sdk_tokens(url, credentials, "auto"))
        assert len(tokens) == 3
        assert source._using == "client_secret_jwt"
