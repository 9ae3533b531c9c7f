"""OAuth2 client credentials, roles and scopes; the source binding of linkage messages."""

from __future__ import annotations

import time

import jwt
import pytest

from tests.helpers import ADMIN_ID, ADMIN_SECRET, HubClient, fault_code, zei_query


def test_token_by_client_secret_basic(hub: HubClient) -> None:
    credentials = hub.register("011")
    response = hub.http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(credentials["client_id"], credentials["client_secret"]),
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert 0 < body["expires_in"] <= 3600
    # No scope asked: every scope the unit is allowed: the queries it consumes (per the catalog), the
    # registry, and My Numbers (児童手当 JDT-001 is a 番号利用事務).
    assert set(body["scope"].split()) == {
        "011:IF_JUK_0002:send",
        "011:IF_ZEI_0001:send",
        "011:addressees",
        "011:mynumber",
    }


def test_token_by_client_secret_post(hub: HubClient) -> None:
    credentials = hub.register("011")
    response = hub.http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
            "scope": "011:IF_ZEI_0001:send",
        },
    )
    assert response.status_code == 200
    assert response.json()["scope"] == "011:IF_ZEI_0001:send"


@pytest.mark.parametrize(
    ("data", "auth", "status", "code"),
    [
        ({"grant_type": "client_credentials"}, ("nobody", "wrong"), 401, "E2001"),
        ({"grant_type": "client_credentials"}, (ADMIN_ID, "wrong-secret"), 401, "E2001"),
        ({"grant_type": "client_credentials"}, None, 401, "E2001"),
        ({"grant_type": "password"}, (ADMIN_ID, ADMIN_SECRET), 400, "E1002"),
        ({}, (ADMIN_ID, ADMIN_SECRET), 400, "E1002"),
    ],
)
def test_bad_token_requests(
    hub: HubClient, data: dict[str, str], auth: tuple[str, str] | None, status: int, code: str
) -> None:
    response = hub.http.post("/oauth/token", data=data, auth=auth)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_unit_a_cannot_get_unit_b_scope(hub: HubClient) -> None:
    credentials = hub.register("011")
    hub.register("051")
    response = hub.http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "051:IF_ZEI_0001:send"},
        auth=(credentials["client_id"], credentials["client_secret"]),
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "E2002"


def test_forged_source_system_id_is_refused(hub: HubClient, database_url: str) -> None:
    hub.register("002")
    jidou = hub.register("011")
    hub.register("051")
    response = hub.send(zei_query(source="051"), hub.unit_headers(jidou))
    assert response.status_code == 403
    assert fault_code(response) == "E2002"


def test_token_without_the_interface_scope_is_refused(hub: HubClient) -> None:
    hub.register("002")
    jidou = hub.register("011")
    narrow = hub.unit_headers(jidou, scope="011:IF_JUK_0002:send")
    response = hub.send(zei_query(), narrow)
    assert response.status_code == 403
    assert fault_code(response) == "E2002"


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-jwt", "Basic abc"])
def test_linkage_needs_a_valid_bearer_token(hub: HubClient, authorization: str | None) -> None:
    headers = {"Content-Type": "text/xml"} | ({"Authorization": authorization} if authorization else {})
    response = hub.send(b"<not even xml", headers)
    assert response.status_code == 401  # the token is checked before the body is parsed
    assert fault_code(response) == "E2001"


def test_expired_and_foreign_tokens_are_refused(hub: HubClient, settings) -> None:  # type: ignore[no-untyped-def]
    now = int(time.time())
    claims = {"iss": "platform-hub", "sub": ADMIN_ID, "role": "admin", "scope": "admin"}
    expired = jwt.encode({**claims, "iat": now - 600, "exp": now - 300}, settings.token_secret, "HS256")
    foreign = jwt.encode({**claims, "iat": now, "exp": now + 300}, "some-other-secret-" * 3, "HS256")
    for token, message in ((expired, "expired"), (foreign, "not valid")):
        response = hub.http.get("/adapters", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert message in response.json()["error"]["message"]


def test_roles(hub: HubClient) -> None:
    unit_headers = hub.unit_headers(hub.register("011"))
    assert hub.http.get("/adapters", headers=unit_headers).json()["error"]["code"] == "E2002"
    created = hub.http.post("/clients", json={"name": "監査責任者", "role": "auditor"}, headers=hub.admin())
    assert created.status_code == 201
    auditor = {
        "Authorization": f"Bearer {hub.token(created.json()['client_id'], created.json()['client_secret'])}"
    }
    assert hub.http.get("/adapters", headers=auditor).status_code == 403
    assert hub.http.post("/clients", json={"name": "x", "role": "admin"}, headers=auditor).status_code == 403
    assert hub.http.get("/interfaces", headers=auditor).status_code == 200
    integrator = hub.http.post(
        "/clients", json={"name": "SIer", "role": "integrator"}, headers=hub.admin()
    ).json()
    integrator_headers = {
        "Authorization": f"Bearer {hub.token(integrator['client_id'], integrator['client_secret'])}"
    }
    assert hub.http.get("/adapters", headers=integrator_headers).status_code == 200
    assert (
        hub.http.post("/clients", json={"name": "x", "role": "admin"}, headers=integrator_headers).status_code
        == 403
    )


def test_auditor_cannot_send_messages(hub: HubClient) -> None:
    hub.register("002")
    created = hub.http.post("/clients", json={"name": "監査", "role": "auditor"}, headers=hub.admin()).json()
    headers = {"Authorization": f"Bearer {hub.token(created['client_id'], created['client_secret'])}"}
    hub.register("011")
    response = hub.send(zei_query(), headers)
    assert response.status_code == 403
    assert fault_code(response) == "E2002"


def test_only_a_hash_of_the_secret_is_stored(hub: HubClient, database_url: str) -> None:
    from tests.helpers import rows

    credentials = hub.register("011")
    stored = rows(database_url, "SELECT secret_hash FROM clients")
    assert stored and all(credentials["client_secret"] not in row[0] for row in stored)
