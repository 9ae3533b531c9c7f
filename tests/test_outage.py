"""The database away mid-stream: 503 on health and E5001 on messages, nothing accepted lost, and the
hub recovers by itself when the database returns (PostgreSQL, through a proxy the test cuts)."""

from __future__ import annotations

import os

import httpx
import pytest
import sqlalchemy as sa

from platform_hub.kit.settings import Settings
from platform_hub.web.app import create_app
from tests.helpers import YAMADA, HubClient, fault_code, ido_notification, serve_in_thread, wait_until
from tests.tcp_proxy import proxy
from tests.units import TestUnit

pytestmark = pytest.mark.skipif(
    "PLATFORM_HUB_TEST_DATABASE_URL" not in os.environ, reason="an outage of a database server: PostgreSQL"
)


def test_the_database_goes_away_and_comes_back(settings: Settings) -> None:
    direct = sa.make_url(settings.database_url)
    subscriber = TestUnit()
    with proxy((direct.host or "127.0.0.1", direct.port or 5432)) as database:
        through = settings.model_copy(
            update={"database_url": direct.set(port=database.port).render_as_string(hide_password=False)}
        )
        with (
            serve_in_thread(subscriber.app()) as unit_url,
            serve_in_thread(create_app(through)) as url,
            httpx.Client(base_url=url, timeout=30) as http,
        ):
            hub = HubClient(http)
            hub.register("002", unit_url)
            juki = {**hub.unit_headers(hub.register("001")), "Content-Type": "text/xml"}
            hub.enroll({"001": YAMADA["001"], "002": YAMADA["002"]})
            for n in range(5):
                assert hub.send(ido_notification(msgid=f"before-{n}"), juki).status_code == 200

            database.cut()
            wait_until(lambda: http.get("/healthz").status_code == 503, timeout=20)
            refused = hub.send(ido_notification(msgid="during"), juki)
            assert refused.status_code == 503 and fault_code(refused) == "E5001"
            assert refused.headers["Retry-After"]

            database.restore()
            wait_until(lambda: http.get("/healthz").status_code == 200, timeout=30)
            for n in range(5):
                assert hub.send(ido_notification(msgid=f"after-{n}"), juki).status_code == 200
            expected = [f"before-{n}" for n in range(5)] + [f"after-{n}" for n in range(5)]
            wait_until(lambda: received(subscriber) >= set(expected), timeout=30)
    assert "during" not in received(subscriber)


def received(unit: TestUnit) -> set[str]:
    return {str(unit.header(i, "MSGID")) for i in range(len(unit.received))}
