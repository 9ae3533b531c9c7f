"""The auditors' API as auditors meet it: a parameter it does not know is an error, never ignored."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.helpers import (
    YAMADA,
    HubClient,
    ido_notification,
    rows,
    serve_in_thread,
    wait_until,
    zei_query,
)
from tests.test_ordinance import amendment, load
from tests.units import TestUnit, zei_answer


@dataclass
class Record:
    auditor: dict[str, str]
    integrated_number: str  # 山田太郎's: fifteen digits, with leading zeros


@pytest.fixture
def record(hub: HubClient, database_url: str) -> Iterator[Record]:
    """An answered query (照会, 提供), a notification delivered (通知, 提供) and a query the ordinance
    refused (拒否), all about 山田太郎."""
    zeimu, jidou_unit = TestUnit(answer=zei_answer), TestUnit()
    with serve_in_thread(zeimu.app()) as zeimu_url, serve_in_thread(jidou_unit.app()) as jidou_url:
        hub.register("002", zeimu_url, subscribes=[])  # the notification goes to 011 alone
        jidou = hub.unit_headers(hub.register("011", jidou_url))
        juki = hub.unit_headers(hub.register("001"))
        integrated = hub.enroll({"011": YAMADA["011"], "002": YAMADA["002"], "001": YAMADA["001"]})
        assert hub.send(zei_query(), jidou).status_code == 200
        assert hub.send(ido_notification(), juki).status_code == 200
        wait_until(lambda: len(rows(database_url, "SELECT id FROM transfer_records")) == 2)
        assert load(hub, amendment("2026-11", drop={"U-03"}))["status"] == 201
        assert hub.send(zei_query(msgid="refused"), jidou).status_code == 403
    assert integrated.startswith("0")
    yield Record(hub.staff("auditor"), integrated)


# --- parameters --------------------------------------------------------------------------------


def _auditor_paths(hub: HubClient, integrated_number: str) -> dict[str, dict[str, str]]:
    """Every GET of /audit/ the OpenAPI names, with what it needs to answer 200."""
    spec = hub.http.get("/openapi.json").json()
    paths = {
        path.replace("{integrated_number}", integrated_number): (
            {"from": "2026-01-01", "to": "2030-12-31"} if path == "/audit/compliance" else {}
        )
        for path, operations in spec["paths"].items()
        if path.startswith("/audit/") and "get" in operations
    }
    assert {"/audit/transfers", "/audit/transfers.csv", "/audit/operations", "/audit/compliance"} <= set(
        paths
    )
    assert len(paths) >= 8
    return paths


def test_an_unknown_query_parameter_is_refused_on_every_auditor_endpoint(
    hub: HubClient, record: Record, database_url: str
) -> None:
    for path, required in _auditor_paths(hub, record.integrated_number).items():
        assert hub.http.get(path, params=required, headers=record.auditor).status_code == 200, path
        typo = hub.http.get(
            path, params={**required, "person": record.integrated_number}, headers=record.auditor
        )
        assert typo.status_code == 400, (path, typo.text)
        assert typo.json() == {
            "error": {
                "code": "E1002",
                "message": "the request does not match its schema",
                "details": ["query.person: not a parameter of this endpoint"],
            }
        }, path
    # Nothing of a refused query is kept, and a My Number typed as a parameter's name is not echoed.
    odd = hub.http.get("/audit/transfers", params={"1234 5678 9012": "x"}, headers=record.auditor)
    assert odd.status_code == 400 and "9012" not in odd.text
    kept = rows(database_url, "SELECT parameters FROM operations WHERE action LIKE 'audit.%'")
    assert not [r for r in kept if "person" in r.parameters or "9012" in r.parameters]


def test_a_parameter_given_twice_is_refused(hub: HubClient, record: Record) -> None:
    twice = hub.http.get(
        "/audit/transfers", params=[("unit", "011"), ("unit", "002")], headers=record.auditor
    )
    assert twice.status_code == 400
    assert twice.json()["error"]["details"] == ["query.unit: given more than once"]


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/audit/transfers", "outcome"),
        ("/audit/transfers.csv", "outcome"),
        ("/audit/operations", "outcome"),
        ("/audit/operations.csv", "outcome"),
    ],
)
def test_an_unknown_value_is_refused_not_an_empty_answer(
    hub: HubClient, record: Record, path: str, parameter: str
) -> None:
    answer = hub.http.get(path, params={parameter: "bogus"}, headers=record.auditor)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "E1002"
    assert answer.json()["error"]["details"][0].startswith(f"query.{parameter}: Input should be")
