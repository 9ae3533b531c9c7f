"""Per-client rate limits: a unit over its limit gets 429 with Retry-After; the others go on."""

from __future__ import annotations

import httpx

from platform_hub.kit.settings import Settings
from platform_hub.web.app import create_app
from tests.helpers import (
    YAMADA,
    HubClient,
    count_rows,
    fault_code,
    ido_notification,
    serve_in_thread,
    zei_query,
)
from tests.units import TestUnit, zei_answer


def test_a_unit_over_its_limit_is_told_when_to_come_back(settings: Settings, database_url: str) -> None:
    limited = settings.model_copy(update={"unit_rate_limit": "3/minute"})
    unit = TestUnit(answer=zei_answer)
    with (
        serve_in_thread(unit.app()) as zeimu_url,
        serve_in_thread(create_app(limited)) as url,
        httpx.Client(base_url=url, timeout=30) as http,
    ):
        hub = HubClient(http)
        hub.register("002", zeimu_url)
        jidou = hub.unit_headers(hub.register("011"))
        juki = hub.unit_headers(hub.register("001"))
        hub.enroll({"011": YAMADA["011"], "002": YAMADA["002"], "001": YAMADA["001"]})
        for n in range(3):
            assert hub.send(zei_query(msgid=f"q{n}"), jidou).status_code == 200
        over = hub.send(zei_query(msgid="q3"), jidou)
        assert over.status_code == 429 and fault_code(over) == "E2003"
        assert 1 <= int(over.headers["Retry-After"]) <= 60
        # Another unit is not starved by the first one's burst.
        assert hub.send(ido_notification(msgid="ido-1"), juki).status_code == 200
    assert [unit.header(n, "MSGID") for n in range(3)] == ["q0", "q1", "q2"]  # not the refused one
    assert count_rows(database_url, "messages") == 4  # nothing of the refused one was kept
