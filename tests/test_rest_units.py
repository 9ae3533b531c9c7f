"""REST to the units: a unit chooses, per interface, whether the hub sends it the queries it provides
and the notifications it takes by SOAP or by the Digital Agency's REST binding; the hub's token is
checked by the unit through introspection, and the record says how each transfer went on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from platform_hub_sdk import Received

from platform_hub.kit.settings import Settings
from platform_hub.linkage.unit_client import hub_token
from platform_hub.protocol.rest import path_of
from tests.helpers import (
    CATALOG,
    YAMADA,
    HubClient,
    free_port,
    ido_notification,
    rows,
    serve_in_thread,
    wait_until,
    zei_query,
)
from tests.test_sdk_adapter import tax_adapter

ZEI = path_of(CATALOG.interfaces["IF_ZEI_0001"].spec)
CALL = {"purpose": "JDT-001", "department": "KODOMO-1", "user": "u0123"}
REST = ["IF_ZEI_0001", "IF_JUK_0001"]


@pytest.fixture
def rest_unit(hub: HubClient, tmp_path: Path) -> Iterator[tuple[str, list[Received]]]:
    port = free_port()
    # 002 as a DA-style system: the hub reaches it by REST for both its interfaces.
    unit, moves = tax_adapter(str(hub.http.base_url), port, tmp_path / "zeimu.db", rest=REST)
    with serve_in_thread(unit.app(), port=port) as url:
        yield url, moves


def entries(database_url: str) -> list[dict[str, Any]]:
    query = "SELECT interface_id, binding, onward_binding, outcome FROM transfer_records ORDER BY id"
    return [dict(row._mapping) for row in rows(database_url, query)]


def test_a_unit_that_chose_rest_is_asked_and_told_by_rest(
    hub: HubClient, rest_unit: tuple[str, list[Received]], database_url: str
) -> None:
    _, moves = rest_unit
    registered = hub.http.get("/adapters/002", headers=hub.admin()).json()
    assert registered["rest"] == ["IF_JUK_0001", "IF_ZEI_0001"]
    juki = hub.unit_headers(hub.register("001"))
    jidou = hub.unit_headers(hub.register("011"))
    hub.enroll(YAMADA)

    answer = hub.send(zei_query(destination="002"), jidou)  # asked by SOAP, passed on by REST
    assert answer.status_code == 200, answer.text
    assert b"<lk:SoshotokuKingaku>4200000</lk:SoshotokuKingaku>" in answer.content
    assert f"<lk:AtenaNo>{YAMADA['011']}</lk:AtenaNo>".encode() in answer.content  # back in 011's numbers

    assert hub.send(ido_notification(msgid="move-rest"), juki).status_code == 200
    wait_until(lambda: len(moves) == 1)
    assert moves[0].msgid == "move-rest" and moves[0].payload["AtenaNo"] == YAMADA["002"]
    assert moves[0].source == "001" and moves[0].reception_number

    wait_until(lambda: len(entries(database_url)) == 2)
    assert [(e["interface_id"], e["binding"], e["onward_binding"]) for e in entries(database_url)] == [
        ("IF_ZEI_0001", "soap", "rest"),
        ("IF_JUK_0001", "soap", "rest"),
    ]
    # 002 checked the hub's tokens at the hub: one introspection per token, not one per call.
    introspected = rows(database_url, "SELECT unit_code FROM operations WHERE action = 'token.introspect'")
    assert [row.unit_code for row in introspected] == ["002", "002"]


def test_the_unit_takes_no_call_without_a_token_of_the_hub_for_it(
    hub: HubClient, rest_unit: tuple[str, list[Received]], settings: Settings
) -> None:
    url, _ = rest_unit
    hub.register("011")
    call = {
        "AtenaNo": YAMADA["002"],
        "KazeiNendo": "2026",
        "purpose": "JDT-001",
        "department": "K",
        "user": "u",
    }
    headers = {"X-Message-Id": "m-1", "X-Source-System-Id": "011"}
    others = hub_token(settings, "003:IF_ZEI_0001:get")  # the hub's, but for another unit's API
    for authorization in ({}, {"Authorization": "Bearer forged"}, {"Authorization": f"Bearer {others}"}):
        answer = httpx.get(url + ZEI, params=call, headers=headers | authorization)
        assert answer.status_code == 401, answer.text
        assert answer.json()["errors"][0]["code"] == "E0002"
    own = {"Authorization": f"Bearer {hub_token(settings, '002:IF_ZEI_0001:get')}"}
    answer = httpx.get(url + ZEI, params=call, headers=headers | own)
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["SoshotokuKingaku"] == "4200000"


def test_the_hubs_own_token_is_taken_nowhere_at_the_hub(hub: HubClient, settings: Settings) -> None:
    hub.register("002")
    token = hub_token(settings, "002:IF_ZEI_0001:get")
    call = {
        "AtenaNo": YAMADA["002"],
        "KazeiNendo": "2026",
        "purpose": "JDT-001",
        "department": "K",
        "user": "u",
    }
    answer = hub.http.get(ZEI, params=call, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401
    assert answer.json()["errors"][0]["hubCode"] == "E2001"


def test_bindings_are_chosen_per_interface_and_only_where_the_hub_sends(hub: HubClient) -> None:
    hub.register("002", subscribes=["IF_JUK_0001"])
    chosen = hub.http.put("/adapters/002/bindings/IF_ZEI_0001", json={"binding": "rest"}, headers=hub.admin())
    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["rest"] == ["IF_ZEI_0001"]
    back = hub.http.put("/adapters/002/bindings/IF_ZEI_0001", json={"binding": "soap"}, headers=hub.admin())
    assert back.json()["rest"] == []
    for interface_id in ("IF_ZEI_0101", "IF_JUK_0002"):  # a batch it sends; a query it does not provide
        refused = hub.http.put(
            f"/adapters/002/bindings/{interface_id}", json={"binding": "rest"}, headers=hub.admin()
        )
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "E1002", refused.text
    registering = hub.http.post(
        "/adapters",
        json={
            "unit_code": "051",
            "name": "就学援助",
            "organ": "教育委員会",
            "base_url": "http://127.0.0.1:9",
            "rest": ["IF_ZEI_0001"],
        },
        headers=hub.admin(),
    )
    assert registering.status_code == 400, registering.text
    assert "rest: IF_ZEI_0001" in str(registering.json()["error"]["details"])


def test_a_later_version_is_served_by_rest_through_a_provider_that_takes_it(
    hub: HubClient, rest_unit: tuple[str, list[Received]]
) -> None:
    credentials = hub.register("011")
    hub.enroll(YAMADA)
    headers = hub.unit_headers(credentials, scope="002:IF_ZEI_0001:get")
    asked = {"AtenaNo": YAMADA["011"], "KazeiNendo": "2026", **CALL}
    second = CATALOG.get("IF_ZEI_0001", 2)
    assert second is not None
    v2 = hub.http.get(path_of(second.spec), params=asked, headers=headers)
    assert v2.status_code == 200, v2.text
    assert v2.json()["metadata"]["version"] == 2
    assert v2.json()["result"]["GokeiShotokuKingaku"] == "4500000"
    assert v2.json()["result"]["AtenaNo"] == YAMADA["011"]
    v1 = hub.http.get(ZEI, params=asked, headers=headers)
    assert v1.status_code == 200 and "GokeiShotokuKingaku" not in v1.json()["result"]


def test_a_later_version_is_refused_for_a_provider_that_takes_soap(hub: HubClient) -> None:
    hub.register("002")  # SOAP: version 1 only
    credentials = hub.register("011")
    hub.enroll({"011": YAMADA["011"], "002": YAMADA["002"]})
    second = CATALOG.get("IF_ZEI_0001", 2)
    assert second is not None
    asked = {"AtenaNo": YAMADA["011"], "KazeiNendo": "2026", **CALL}
    answer = hub.http.get(
        path_of(second.spec), params=asked, headers=hub.unit_headers(credentials, scope="002:IF_ZEI_0001:get")
    )
    assert answer.status_code == 400
    (error,) = answer.json()["errors"]
    assert error["hubCode"] == "E1003" and "version 2" in error["message"]
