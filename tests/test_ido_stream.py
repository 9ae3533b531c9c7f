"""A 住民異動 stream of 1,000 events from 001, arriving at 002 and 011 in order per person, the registry
updated."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from platform_hub_demo.city import seed_city
from platform_hub_demo.juki import JIYU

from platform_hub.kit.settings import Settings
from tests.helpers import YAMADA, HubClient, hub_process, ido_notification, rows, wait_until
from tests.mock_units import mock_units

EVENTS = 1_000
REGISTRY_STATUS = {"1": "resident", "2": "moved_out", "3": "deceased"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The hub of the other tests, sealing its record once a second rather than twenty times."""
    return settings.model_copy(update={"seal_interval_seconds": 1.0})


def delivered_in_order(database_url: str, unit: str) -> list[str]:
    return [
        row.msgid
        for row in rows(
            database_url,
            "SELECT m.msgid FROM deliveries d JOIN messages m ON m.id = d.message_id"
            f" WHERE d.subscriber_unit = '{unit}' AND d.status = 'delivered' ORDER BY d.id",
        )
    ]


def per_person(msgids: list[str], person: dict[str, str]) -> dict[str, list[str]]:
    """Each person's changes in the order of ``msgids``."""
    changes: dict[str, list[str]] = {}
    for msgid in msgids:
        changes.setdefault(person[msgid], []).append(msgid)
    return changes


def unfinished(database_url: str) -> int:
    return len(rows(database_url, "SELECT id FROM deliveries WHERE status NOT IN ('delivered', 'refused')"))


def test_a_stream_of_1000_resident_changes(hub: HubClient, database_url: str, tmp_path: Path) -> None:
    started = time.monotonic()
    with mock_units(str(hub.http.base_url), ["juki", "zeimu", "jidou-teate"], tmp_path, residents=40) as urls:
        phases = {"start": time.monotonic() - started}
        seeded = asyncio.run(seed_city(urls))
        phases["seed"] = time.monotonic() - started
        residents = seeded["juki"]["registered"]
        assert residents >= 40 and seeded["zeimu"]["linked"] == seeded["jidou-teate"]["linked"] == residents

        simulated = httpx.post(
            f"{urls['juki']}/simulate", json={"events": EVENTS, "seed": 11}, timeout=300
        ).json()
        assert simulated["sent"] == EVENTS and simulated["outcomes"] == {"accepted": EVENTS}
        assert set(simulated["by_event"]) == set(JIYU.values())  # 転入 転出 転居 出生 死亡 氏名変更
        sent = [event["msgid"] for event in simulated["events"]]
        phases["sent"] = time.monotonic() - started
        wait_until(lambda: unfinished(database_url) == 0, timeout=120, interval=0.5)
        phases["delivered"] = time.monotonic() - started

        person = {event["msgid"]: event["atena"] for event in simulated["events"]}  # 001's number
        for name, code in (("zeimu", "002"), ("jidou-teate", "011")):
            arrived = [entry["msgid"] for entry in httpx.get(f"{urls[name]}/ido-log").json()]
            # Every change once (newcomers too: the unit numbers them), each person's in 001's order;
            # different people's may pass each other.
            assert sorted(arrived) == sorted(sent)
            assert per_person(arrived, person) == per_person(sent, person)
            assert sorted(arrived) == sorted(delivered_in_order(database_url, code))
        check_registry(hub, httpx.get(f"{urls['juki']}/residents").json())
    phases["checked"] = time.monotonic() - started
    print(
        f"\n{EVENTS} 住民異動 (seconds since start): " + ", ".join(f"{k} {v:.1f}" for k, v in phases.items())
    )


def check_registry(hub: HubClient, residents: list[dict[str, Any]]) -> None:
    """Every person of 001 is in the registry as 001 has them now: name, address, state."""
    for resident in residents:
        found = search(hub, resident["name"], resident["birth_date"])
        (person,) = [
            c for c in found if {"unit_code": "001", "atena_number": resident["atena"]} in c["links"]
        ]
        current = person["current"]
        assert current["status"] == REGISTRY_STATUS[resident["status"]], resident["atena"]
        assert current["address"] == (
            resident["moved_to"] if resident["status"] == "2" else resident["address"]
        )


def search(hub: HubClient, name: str, birth_date: str) -> list[dict[str, Any]]:
    """The registry's candidates, asked as a client within its rate limit asks: one search after
    another can pass the limit on a fast machine, and is then told when to come back."""
    while True:
        answer = hub.http.post(
            "/addressees/search",
            json={"name": name, "birth_date": birth_date, "include_history": False},
            headers=hub.admin(),
        )
        if answer.status_code != 429:
            assert answer.status_code == 200, answer.text[:300]
            return list(answer.json())
        time.sleep(float(answer.headers["Retry-After"]))


def test_changes_of_one_person_at_once_leave_one_current_version(
    settings: Settings, database_url: str
) -> None:
    """Eight senders, five 転居 each, all about one person at the same moment (found by the benchmark:
    two changes at once both closed the same version and left two current ones)."""
    with hub_process(settings) as hub_server, httpx.Client(base_url=hub_server.url, timeout=30) as http:
        hub = HubClient(http)
        headers = {**hub.unit_headers(hub.register("001")), "Content-Type": "text/xml"}
        hub.enroll({"001": YAMADA["001"]})

        def send(sender: int) -> list[int]:
            with httpx.Client(base_url=hub_server.url, timeout=30) as own:
                return [
                    own.post(
                        "/linkage/messages",
                        content=ido_notification(
                            changes={
                                "Jusho": f"東京都千代田区{'一二三四五六七八'[sender]}丁目{'１２３４５'[n]}番"
                            }
                        ),
                        headers=headers,
                    ).status_code
                    for n in range(5)
                ]

        with ThreadPoolExecutor(8) as senders:
            statuses = [status for sent in senders.map(send, range(8)) for status in sent]
    assert statuses == [200] * 40
    versions = rows(database_url, "SELECT valid_from, valid_to FROM person_versions")
    assert len(versions) == 41 and sum(v.valid_to is None for v in versions) == 1
