"""Health, metrics, structured logs, and the CLI that serves the hub."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from platform_hub.cli import app
from platform_hub.kit.settings import Settings
from platform_hub.kit.vault import generate_key_file
from platform_hub.web.app import create_app
from tests.helpers import YAMADA, HubClient, count_rows, fault_code, free_port, serve_in_thread, zei_query
from tests.units import TestUnit, zei_answer


def test_healthz(hub: HubClient) -> None:
    response = hub.http.get("/healthz")  # no token needed
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_database_down_is_503_with_reasons_and_e5001(settings: Settings) -> None:
    down = settings.model_copy(update={"database_url": "postgresql+psycopg://postgres@127.0.0.1:1/none"})
    with serve_in_thread(create_app(down)) as url, httpx.Client(base_url=url) as client:
        health = client.get("/healthz")
        assert health.status_code == 503
        assert any(reason.startswith("database unavailable") for reason in health.json()["reasons"])
        hub = HubClient(client)
        response = hub.send(zei_query(), {**hub.admin(), "Content-Type": "text/xml"})
        assert response.status_code == 503
        assert fault_code(response) == "E5001"
        assert response.headers["retry-after"]
        listed = client.get("/adapters", headers=hub.admin())
        assert listed.status_code == 503
        assert listed.json()["error"]["code"] == "E5001"


def test_metrics_count_messages_by_interface_and_result(hub: HubClient) -> None:
    unit = TestUnit(answer=zei_answer)
    with serve_in_thread(unit.app()) as url:
        hub.register("002", url)
        jidou = hub.unit_headers(hub.register("011"))
        hub.enroll({"011": YAMADA["011"], "002": YAMADA["002"]})
        hub.send(zei_query(), jidou)
        hub.send(zei_query(year="bad"), jidou)
    assert hub.http.get("/metrics").status_code == 401
    text = hub.http.get("/metrics", headers=hub.admin()).text
    assert 'platform_hub_messages_total{interface="IF_ZEI_0001",result="0"} 1.0' in text
    assert 'platform_hub_messages_total{interface="IF_ZEI_0001",result="E1002"} 1.0' in text
    assert "platform_hub_message_seconds_bucket" in text
    assert "platform_hub_deliveries_pending 0.0" in text


def test_logs_are_json_with_the_message_bound(hub: HubClient, capfd: pytest.CaptureFixture[str]) -> None:
    hub.register("002")
    hub.register("051")
    jidou = hub.unit_headers(hub.register("011"))
    hub.send(zei_query(source="051", msgid="log-me"), jidou)
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]
    refused = [line for line in lines if line.get("event") == "message refused"]
    assert refused and refused[-1]["code"] == "E2002" and refused[-1]["msgid"] == "log-me"
    assert refused[-1]["interface"] == "IF_ZEI_0001"


def test_db_upgrade_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("PLATFORM_HUB_DATABASE_URL", url)
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert count_rows(url, "units") == 0  # the table exists


def test_clients_create_command(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PLATFORM_HUB_DATABASE_URL", database_url)
    monkeypatch.setenv("PLATFORM_HUB_KEY_FILE", str(tmp_path / "keys.json"))
    runner = CliRunner()
    unrecorded = runner.invoke(app, ["clients", "create", "監査責任者", "--role", "auditor"])
    assert unrecorded.exit_code == 2 and "operations record" in unrecorded.output  # no key file
    assert count_rows(database_url, "clients") == 0
    generate_key_file(tmp_path / "keys.json")
    result = runner.invoke(app, ["clients", "create", "監査責任者", "--role", "auditor"])
    assert result.exit_code == 0, result.output
    assert "client_secret=" in result.output
    assert count_rows(database_url, "clients") == 1 and count_rows(database_url, "operations") == 1
    refused = CliRunner().invoke(app, ["clients", "create", "x", "--role", "unit"])
    assert refused.exit_code == 2


def test_serve_migrates_and_serves(tmp_path: Path) -> None:
    """``platform-hub serve`` as a real process on a fresh SQLite file, stopped by SIGTERM."""
    port = free_port()
    env = {
        **os.environ,
        "PLATFORM_HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'served.db'}",
        "PLATFORM_HUB_KEY_FILE": str(tmp_path / "keys.json"),
        "PLATFORM_HUB_SIGNING_KEY_FILE": str(tmp_path / "signing.pem"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "platform_hub.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            assert time.monotonic() < deadline, "the hub did not come up"
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    # uvicorn shuts down gracefully, then re-raises the signal so the exit status tells why it stopped.
    assert process.returncode in (0, -signal.SIGTERM)
    assert b"Application shutdown complete" in output
