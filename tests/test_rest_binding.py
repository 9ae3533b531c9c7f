"""The Digital Agency's REST/JSON binding: the same interfaces, checks and record as SOAP, answered in
the DA's envelope, its routes generated from the catalog."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from platform_hub.protocol.rest import path_of
from tests.helpers import (
    CATALOG,
    YAMADA,
    HubClient,
    ido_notification,
    rows,
    serve_in_thread,
    wait_until,
    zei_query,
)
from tests.units import TestUnit, zei_answer

ZEI = path_of(CATALOG.interfaces["IF_ZEI_0001"].spec)
IDO = path_of(CATALOG.interfaces["IF_JUK_0001"].spec)
CALL = {"purpose": "JDT-001", "department": "KODOMO-1", "user": "u0123"}
# What differs between two transfers by nature (their ids and times), and the binding itself.
OWN = {"id", "reception_number", "msgid", "requested_at", "provided_at", "recorded_at"}
OWN |= {"entry_digest", "entry_mac", "binding"}


def item_label(interface_id: str, romaji: str) -> str:
    item = next(i for i in CATALOG.interfaces[interface_id].spec.all_items() if i.romaji == romaji)
    return f"{romaji} ({item.id} {item.name})"


@pytest.fixture
def zeimu() -> Iterator[TestUnit]:
    unit = TestUnit(answer=zei_answer)
    with serve_in_thread(unit.app()) as url:
        unit.url = url  # type: ignore[attr-defined]
        yield unit


@pytest.fixture
def jidou_credentials(hub: HubClient, zeimu: TestUnit) -> dict[str, str]:
    hub.register("002", zeimu.url)  # type: ignore[attr-defined]
    credentials = hub.register("011")
    hub.enroll({"011": YAMADA["011"], "002": YAMADA["002"]})
    return credentials


@pytest.fixture
def jidou(hub: HubClient, jidou_credentials: dict[str, str]) -> dict[str, str]:
    """011's headers for a REST call of 002's IF_ZEI_0001 (the provider's scope, alone)."""
    return hub.unit_headers(jidou_credentials, scope="002:IF_ZEI_0001:get")


def ask(hub: HubClient, headers: dict[str, str], **items: str) -> Any:
    parameters = {"AtenaNo": YAMADA["011"], "KazeiNendo": "2026", **CALL, **items}
    return hub.http.get(ZEI, params=parameters, headers=headers)


def test_a_query_over_rest_answers_the_da_envelope(
    hub: HubClient, jidou: dict[str, str], zeimu: TestUnit
) -> None:
    answer = ask(hub, {**jidou, "X-Message-Id": "rest-1"})
    assert answer.status_code == 200, answer.text
    document = answer.json()
    assert set(document) == {"metadata", "_links", "result"}
    assert document["metadata"]["interfaceId"] == "IF_ZEI_0001"
    assert document["metadata"]["relatesToMessageId"] == "rest-1"
    assert document["metadata"]["receptionNumber"]
    assert document["_links"]["self"]["href"].startswith(ZEI + "?")
    assert document["result"]["SoshotokuKingaku"] == "4200000"
    assert document["result"]["AtenaNo"] == YAMADA["011"]  # translated back into the asker's numbering
    assert zeimu.header(0, "DestinationSystemID") == "002"  # the provider got the SOAP message


def test_the_same_query_over_soap_and_rest_leaves_entries_differing_only_in_binding(
    hub: HubClient, jidou_credentials: dict[str, str], jidou: dict[str, str], database_url: str
) -> None:
    soap = re.sub(rb">\s+<", b"><", zei_query(msgid="same-soap"))  # as a unit's toolkit sends it
    sending = hub.unit_headers(jidou_credentials, scope="011:IF_ZEI_0001:send")
    assert hub.send(soap, sending).status_code == 200
    assert ask(hub, {**jidou, "X-Message-Id": "same-rest"}).status_code == 200
    entries = [dict(row._mapping) for row in rows(database_url, "SELECT * FROM transfer_records ORDER BY id")]
    assert [entry["binding"] for entry in entries] == ["soap", "rest"]
    over_soap, over_rest = ({k: v for k, v in e.items() if k not in OWN} for e in entries)
    assert over_soap == over_rest
    audited = hub.http.get("/audit/transfers", headers=hub.staff("auditor")).json()["items"]
    assert sorted(entry["binding"] for entry in audited) == ["rest", "soap"]


def test_a_request_failing_its_schema_names_each_item(hub: HubClient, jidou: dict[str, str]) -> None:
    answer = ask(hub, jidou, KazeiNendo="20X6", Shimei="山田")
    assert answer.status_code == 400
    (error,) = answer.json()["errors"]
    assert (error["code"], error["hubCode"]) == ("E0001", "E1002")
    assert any("Shimei: no such item" in d for d in error["details"])
    answer = ask(hub, jidou, KazeiNendo="20X6")
    (error,) = answer.json()["errors"]
    assert any(item_label("IF_ZEI_0001", "KazeiNendo") in d for d in error["details"]), error


def test_errors_answer_the_das_codes_and_statuses(hub: HubClient, jidou: dict[str, str]) -> None:
    cases: list[tuple[Any, int, str, str]] = [
        (ask(hub, {}), 401, "E0002", "E2001"),  # no token
        (ask(hub, hub.unit_headers(hub.register("051"), scope="051:addressees")), 401, "E0002", "E2002"),
        (ask(hub, jidou, AtenaNo="011999999999999"), 400, "E0003", "E3002"),  # no such person
        (ask(hub, jidou, purpose="ZEI-001"), 400, "E0003", "E3001"),  # not a 事務 of 011's
    ]
    for answer, status, code, hub_code in cases:
        (error,) = answer.json()["errors"]
        assert (answer.status_code, error["code"], error["hubCode"]) == (status, code, hub_code), answer.text


def test_a_provider_that_cannot_answer_is_503(hub: HubClient) -> None:
    hub.register("002", "http://127.0.0.1:9")
    credentials = hub.register("011")
    hub.enroll({"011": YAMADA["011"], "002": YAMADA["002"]})
    answer = ask(hub, hub.unit_headers(credentials, scope="002:IF_ZEI_0001:get"))
    assert answer.status_code == 503
    assert answer.json()["errors"][0]["code"] == "E0004"


def test_a_notification_over_rest_is_accepted_once_and_delivered(
    hub: HubClient, subscribers: dict[str, TestUnit], database_url: str
) -> None:
    juki = hub.unit_headers(hub.register("001"), scope="001:IF_JUK_0001:post")
    body = {**_ido_items(), "purpose": "JUK-001", "department": "SHIMIN-1", "user": "u0001"}
    missing = hub.http.post(IDO, json=body, headers=juki)
    assert missing.status_code == 400 and missing.json()["errors"][0]["hubCode"] == "E1002"
    first = hub.http.post(IDO, json=body, headers={**juki, "X-Message-Id": "ido-rest-1"})
    assert first.status_code == 200, first.text
    again = hub.http.post(IDO, json=body, headers={**juki, "X-Message-Id": "ido-rest-1"})
    assert again.json()["metadata"]["receptionNumber"] == first.json()["metadata"]["receptionNumber"]
    changed = hub.http.post(
        IDO, json={**body, "IdoDate": "2026-11-02"}, headers={**juki, "X-Message-Id": "ido-rest-1"}
    )
    assert changed.json()["errors"][0]["hubCode"] == "E4002"
    wait_until(lambda: len(rows(database_url, "SELECT id FROM deliveries WHERE status = 'delivered'")) == 3)
    assert all(len(unit.received) == 1 for unit in subscribers.values())
    bindings = {r.binding for r in rows(database_url, "SELECT binding FROM transfer_records")}
    assert bindings == {"rest"}


def test_a_json_value_of_the_wrong_kind_is_named(hub: HubClient, subscribers: dict[str, TestUnit]) -> None:
    juki = hub.unit_headers(hub.register("001"), scope="001:IF_JUK_0001:post")
    body = {
        **_ido_items(),
        "purpose": "JUK-001",
        "department": "SHIMIN-1",
        "user": "u0001",
        "SeibetsuCode": True,
        "Shimei": ["山田"],
    }
    answer = hub.http.post(IDO, json=body, headers={**juki, "X-Message-Id": "ido-bad"})
    details = answer.json()["errors"][0]["details"]
    assert any(d.startswith(item_label("IF_JUK_0001", "SeibetsuCode")) for d in details)
    assert any(d.startswith(item_label("IF_JUK_0001", "Shimei")) for d in details)


def test_the_openapi_document_lists_every_generated_route(hub: HubClient) -> None:
    paths = hub.http.get("/openapi.json").json()["paths"]
    query = paths[ZEI]["get"]
    assert {p["name"] for p in query["parameters"]} >= {"AtenaNo", "KazeiNendo", "purpose", "X-Message-Id"}
    result = query["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["result"]
    assert "SoshotokuKingaku" in result["properties"]
    assert "requestBody" in paths[IDO]["post"]
    for compiled in CATALOG.interfaces.values():
        if compiled.spec.pattern != "batch":
            assert path_of(compiled.spec) in paths


def _ido_items() -> dict[str, str]:
    """The 住民異動通知 of tests.helpers as the JSON object a REST unit sends."""
    from lxml import etree

    from tests.helpers import NS

    payload = etree.fromstring(ido_notification()).find(".//lk:Payload", namespaces=NS)
    assert payload is not None
    return {etree.QName(e).localname: e.text or "" for e in payload}


def test_a_refusal_before_the_route_is_the_da_error_body_too(hub: HubClient, jidou: dict[str, str]) -> None:
    answer = hub.http.get(ZEI + "?AtenaNo=%00", headers=jidou)  # refused by the request guard
    assert answer.status_code == 400
    (error,) = answer.json()["errors"]
    assert (error["code"], error["hubCode"]) == ("E0001", "E1002")
