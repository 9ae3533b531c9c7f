"""Registering units, heartbeats, disable/enable."""

from __future__ import annotations

from tests.helpers import HubClient, fault_code, rows, zei_query


def test_register_returns_credentials_once(hub: HubClient) -> None:
    credentials = hub.register("011")
    assert credentials["client_id"] and credentials["client_secret"]
    assert credentials["provides"] == ["IF_JDT_0001"]
    listed = hub.http.get("/adapters", headers=hub.admin()).json()
    assert [a["unit_code"] for a in listed] == ["011"]
    assert "client_secret" not in listed[0]
    assert hub.http.get("/adapters/011", headers=hub.admin()).json()["organ"] == "市長"


def test_duplicate_unit_code(hub: HubClient) -> None:
    hub.register("011")
    body = {"unit_code": "011", "name": "x", "organ": "市長", "base_url": "http://127.0.0.1:9"}
    response = hub.http.post("/adapters", json=body, headers=hub.admin())
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "E1004"


def test_registration_must_agree_with_the_catalog(hub: HubClient) -> None:
    body = {
        "unit_code": "051",
        "name": "就学援助",
        "organ": "教育委員会",
        "base_url": "http://127.0.0.1:9",
        "provides": ["IF_ZEI_0001", "IF_NOP_0001"],
        "subscribes": ["IF_ZEI_0001", "IF_ZEI_0101"],
    }
    response = hub.http.post("/adapters", json=body, headers=hub.admin())
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "E1002"
    assert error["details"] == [
        "provides: IF_ZEI_0001 is provided by unit 002",
        "provides: unknown interface IF_NOP_0001",
        "subscribes: IF_ZEI_0001 is a query; only notifications and batches fan out",
        "subscribes: unit 051 is not a consumer of IF_ZEI_0101",
    ]


def test_invalid_json_bodies(hub: HubClient) -> None:
    for body in (
        {"unit_code": "1", "name": "x", "organ": "y", "base_url": "http://a"},
        {"unit_code": "011", "name": "x", "organ": "y", "base_url": "not a url"},
        {"unit_code": "011"},
    ):
        response = hub.http.post("/adapters", json=body, headers=hub.admin())
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "E1002"
    response = hub.http.post(
        "/adapters", content=b"{", headers={**hub.admin(), "Content-Type": "application/json"}
    )
    assert response.json()["error"]["code"] == "E1002"


def test_heartbeat_by_the_unit_itself(hub: HubClient) -> None:
    jidou = hub.unit_headers(hub.register("011"))
    hub.register("002")
    beat = hub.http.post("/adapters/011/heartbeat", headers=jidou)
    assert beat.status_code == 200
    assert beat.json()["last_heartbeat_at"] is not None
    assert hub.http.post("/adapters/002/heartbeat", headers=jidou).json()["error"]["code"] == "E2002"
    assert hub.http.post("/adapters/999/heartbeat", headers=hub.admin()).json()["error"]["code"] == "E1003"


def test_disabled_unit_cannot_get_tokens_or_send(hub: HubClient) -> None:
    hub.register("002")
    jidou = hub.register("011")
    headers = hub.unit_headers(jidou)
    assert hub.http.post("/adapters/011/disable", headers=hub.admin()).json()["enabled"] is False
    response = hub.http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(jidou["client_id"], jidou["client_secret"]),
    )
    assert response.status_code == 401
    # A token issued before the unit was disabled no longer sends either.
    assert fault_code(hub.send(zei_query(), headers)) == "E2002"
    assert hub.http.post("/adapters/011/enable", headers=hub.admin()).json()["enabled"] is True
    hub.unit_headers(jidou)


def test_an_integrator_gives_a_unit_that_lost_its_credentials_new_ones(
    hub: HubClient, database_url: str
) -> None:
    first = hub.register("011")
    body = {"unit_code": "011", "name": "児童手当", "organ": "市長", "base_url": "http://127.0.0.1:9"}
    registered_again = hub.http.post("/adapters", json=body, headers=hub.admin())
    assert registered_again.json()["error"]["code"] == "E1004"  # what the unit met before, forever
    unit = hub.unit_headers(first)
    for refused in (unit, hub.admin_auditor()):
        assert hub.http.post("/adapters/011/secret", headers=refused).status_code == 403
    rotated = hub.http.post("/adapters/011/secret", headers=hub.staff("integrator"))
    assert rotated.status_code == 200, rotated.text
    answer = rotated.json()
    assert answer["unit_code"] == "011" and answer["client_id"] == first["client_id"]
    assert answer["client_secret"] != first["client_secret"]
    old = hub.http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(first["client_id"], first["client_secret"]),
    )
    assert old.status_code == 401
    hub.unit_headers(answer)  # the new secret gets a token
    unknown = hub.http.post("/adapters/999/secret", headers=hub.admin())
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "E1003"
    recorded = rows(
        database_url, "SELECT detail, outcome FROM operations WHERE action = 'unit.rotate_secret'"
    )
    assert [(r.detail, r.outcome) for r in recorded] == [
        (f"client {first['client_id']}", "ok"),
        ("E1003: no unit '999' is registered", "refused"),
    ]
