"""The units and the ordinance are kept per process: a change through the API or the CLI still decides
the very next message, here and — within the poll interval — on every other hub replica."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from platform_hub.cli import app
from platform_hub.kit.database import create_engine, create_sessionmaker
from platform_hub.kit.settings import Settings
from platform_hub.linkage import configuration
from platform_hub.models.generation import Snapshots
from tests.helpers import YAMADA, HubClient, execute, fault_code, hub_process, serve_in_thread, zei_query
from tests.test_ordinance import amendment
from tests.units import TestUnit, zei_answer


@pytest.fixture
def jidou(hub: HubClient) -> Iterator[dict[str, str]]:
    """011 asking 002 (a real unit) for tax data about YAMADA; the headers of 011's token."""
    with serve_in_thread(TestUnit(answer=zei_answer).app()) as url:
        hub.register("002", url)
        headers = hub.unit_headers(hub.register("011"))
        hub.enroll({"011": YAMADA["011"], "002": YAMADA["002"]})
        yield headers


def ask(http: httpx.Client, headers: dict[str, str]) -> httpx.Response:
    return http.post(
        "/linkage/messages",
        content=zei_query(msgid=uuid.uuid4().hex),
        headers={"Content-Type": "text/xml; charset=utf-8", **headers},
    )


def until(refused: str | None, http: httpx.Client, headers: dict[str, str], within: float) -> float:
    """Ask until the answer is the fault ``refused`` (``None``: an answer); how long that took."""
    started = time.monotonic()
    while True:
        response = ask(http, headers)
        if fault_code(response) == refused and (refused or response.status_code == 200):
            return time.monotonic() - started
        assert time.monotonic() - started < within, response.text
        time.sleep(0.05)


def test_a_unit_disabled_through_the_api_is_refused_by_the_next_message(
    hub: HubClient, jidou: dict[str, str]
) -> None:
    assert ask(hub.http, jidou).status_code == 200
    assert hub.http.post("/adapters/011/disable", headers=hub.admin()).status_code == 200
    refused = ask(hub.http, jidou)
    assert refused.status_code == 403 and "unit 011 is disabled" in refused.text
    assert hub.http.post("/adapters/011/enable", headers=hub.admin()).status_code == 200
    assert ask(hub.http, jidou).status_code == 200


def test_an_ordinance_loaded_by_the_cli_decides_the_next_message(
    hub: HubClient,
    jidou: dict[str, str],
    database_url: str,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    assert ask(hub.http, jidou).status_code == 200
    path = tmp_path / "2026-12.yaml"
    path.write_text(amendment("2026-12", drop={"U-03"}), encoding="utf-8")
    monkeypatch.setenv("PLATFORM_HUB_DATABASE_URL", database_url)
    monkeypatch.setenv("PLATFORM_HUB_KEY_FILE", str(settings.key_file))
    loaded = CliRunner().invoke(app, ["ordinance", "load", str(path)])
    assert loaded.exit_code == 0, loaded.output
    refused = ask(hub.http, jidou)
    assert refused.status_code == 403 and fault_code(refused) == "E3001" and "2026-12" in refused.text


def test_another_replica_sees_a_change_within_the_poll_interval(
    hub: HubClient, jidou: dict[str, str], settings: Settings
) -> None:
    with hub_process(settings) as replica, httpx.Client(base_url=replica.url, timeout=30) as http:
        assert ask(http, jidou).status_code == 200
        assert hub.http.post("/adapters/011/disable", headers=hub.admin()).status_code == 200
        assert until("E2002", http, jidou, within=5) < 2 * settings.configuration_poll_seconds + 1
        assert hub.http.post("/adapters/011/enable", headers=hub.admin()).status_code == 200
        assert until(None, http, jidou, within=5) < 2 * settings.configuration_poll_seconds + 1


def test_a_snapshot_reloads_only_when_the_generation_moves(database_url: str) -> None:
    """What another replica's change looks like from here: rows changed, then the counter bumped."""

    async def scenario() -> None:
        engine = create_engine(Settings(database_url=database_url).async_database_url)
        snapshots: Snapshots[configuration.Configuration] = configuration.snapshots(
            create_sessionmaker(engine), poll_seconds=0.1
        )
        try:
            assert (await snapshots.get()).unit("099") is None
            execute(
                database_url,
                "INSERT INTO units (code, name, organ, base_url, mode, purposes, enabled, registered_at) "
                f"VALUES ('099', 'unit 099', '市長', 'http://127.0.0.1:9', 'production', '[]', true, "
                f"'{dt.datetime.now(dt.UTC).isoformat()}')",
            )
            await asyncio.sleep(0.2)
            assert (await snapshots.get()).unit("099") is None  # the counter did not move
            bump = "UPDATE registry_counters SET value = value + 1 WHERE name = 'configuration'"
            execute(database_url, bump)
            await asyncio.sleep(0.2)
            reloaded = (await snapshots.get()).unit("099")
            assert reloaded is not None and reloaded.interface_ids("provides") == []
        finally:
            await engine.dispose()

    asyncio.run(scenario())
