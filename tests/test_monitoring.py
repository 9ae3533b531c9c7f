"""Monitoring: the hub's /metrics give what the alerting rules need (dead letters, the oldest pending
delivery, heartbeats, refusals, responses by status class, verification, refused operations), and
the rules, Prometheus's configuration, the Grafana dashboard and the compose profile agree with them
and with each other. promtool checks and unit-tests the rules (skipped only without promtool)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from platform_hub.kit.settings import Settings
from tests.console import cli
from tests.helpers import HubClient, execute, fault_code, zei_query
from tests.test_console_deliveries import seed_queue

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
ALERTS = DOCKER / "prometheus" / "alerts.yml"
PROMETHEUS = DOCKER / "prometheus" / "prometheus.yml"
DASHBOARD = DOCKER / "grafana" / "dashboards" / "platform-hub.json"
RULE_TESTS = ROOT / "tests" / "prometheus" / "alerts_test.yml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="no promtool (Debian: apt-get install prometheus)"
)
METRIC = re.compile(r"\bplatform_hub_[a-z_]+")


def scrape(hub: HubClient) -> dict[str, list[tuple[dict[str, str], float]]]:
    """/metrics as Prometheus reads it: each sample's name, its labels and value."""
    answer = hub.http.get("/metrics", headers=hub.admin())
    assert answer.status_code == 200, answer.text
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def value(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    found = [v for got, v in samples.get(name, []) if all(got.get(k) == want for k, want in labels.items())]
    assert len(found) == 1, (name, labels, samples.get(name))
    return found[0]


def test_the_metrics_the_alerts_need(hub: HubClient, database_url: str, settings: Settings) -> None:
    ids = seed_queue(database_url)  # 002 disabled: one dead letter, two pending for two hours
    credentials = hub.register("011")
    hub.http.post("/adapters/011/heartbeat", headers=hub.unit_headers(credentials))
    hub.register("021")  # enabled, never beats
    execute(database_url, "UPDATE units SET last_heartbeat_at = NULL WHERE code = '001'")
    refused = hub.http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("nobody", "x"))
    assert refused.status_code == 401
    assert hub.http.post("/linkage/messages", content=b"<x/>").status_code == 401
    samples = scrape(hub)
    assert value(samples, "platform_hub_dead_letters") == 1
    assert value(samples, "platform_hub_deliveries_pending") == 2
    assert 7100 < value(samples, "platform_hub_deliveries_oldest_pending_seconds", subscriber="002") < 7300
    assert 0 <= value(samples, "platform_hub_unit_heartbeat_age_seconds", unit="011") < 60
    assert value(samples, "platform_hub_unit_heartbeat_never", unit="021") == 1
    units_beating = {labels["unit"] for labels, _ in samples["platform_hub_unit_heartbeat_age_seconds"]}
    assert "002" not in units_beating  # disabled: not expected to beat
    assert value(samples, "platform_hub_refusals_total", code="E2001") == 1
    assert value(samples, "platform_hub_http_responses_total", status_class="4xx") >= 2
    assert value(samples, "platform_hub_http_responses_total", status_class="2xx") >= 3
    assert value(samples, "platform_hub_operations_refused_recent", action="token.refuse") == 1
    assert value(samples, "platform_hub_verification_last_run_timestamp_seconds") == 0
    assert str(value(samples, "platform_hub_verification_ok")) == "nan"  # none yet

    verified = hub.http.get("/audit/verify", headers=hub.admin_auditor())
    assert verified.status_code == 200 and verified.json()["ok"] is True, verified.text
    execute(database_url, f"UPDATE deliveries SET status = 'delivered' WHERE id = {ids['dead']}")
    after = scrape(hub)
    assert value(after, "platform_hub_verification_ok") == 1
    assert value(after, "platform_hub_verification_last_run_timestamp_seconds") > 1.7e9
    assert value(after, "platform_hub_dead_letters") == 0


def test_a_verification_the_command_line_ran_counts(
    hub: HubClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last verification is the newest run the database holds: the CLI's, another replica's."""
    before = time.time()
    cli(settings, monkeypatch, "audit", "verify")
    samples = scrape(hub)
    assert before - 1 <= value(samples, "platform_hub_verification_last_run_timestamp_seconds") <= time.time()
    assert value(samples, "platform_hub_verification_ok") == 1


def _metrics_exposed() -> set[str]:
    """Every metric name the hub's registry declares (with the suffixes a scrape adds)."""
    from platform_hub.kit.metrics import HubMetrics

    names = set()
    for family in HubMetrics().registry.collect():
        names |= {sample.name for sample in family.samples} | {family.name}
    names |= {f"{name}_total" for name in list(names)}
    names |= {f"{name}_bucket" for name in list(names)}
    return names


def test_the_rules_and_the_dashboard_name_only_metrics_the_hub_exposes() -> None:
    exposed = _metrics_exposed()
    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    expressions = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    for expression in [*expressions, *queries]:
        for name in METRIC.findall(expression):
            assert name in exposed, f"{name} (in {expression}) is not a metric of the hub"
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    tested = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))
    covered = {case["alertname"] for test in tested["tests"] for case in test["alert_rule_test"]}
    assert covered == alerts, "every alert has a promtool test that fires it"
    assert {panel["datasource"]["uid"] for panel in dashboard["panels"]} == {"platform-hub-prometheus"}


def test_the_monitoring_profile_mounts_what_is_in_docker() -> None:
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    monitoring = {name for name, spec in services.items() if "monitoring" in spec.get("profiles", [])}
    assert monitoring == {"prometheus", "grafana"}
    for name in monitoring:
        for volume in compose["services"][name]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (DOCKER / source).exists(), f"{name}: {volume}"
    prometheus = yaml.safe_load(PROMETHEUS.read_text(encoding="utf-8"))
    mounted = {v.split(":")[1] for v in compose["services"]["prometheus"]["volumes"]}
    assert set(prometheus["rule_files"]) <= mounted
    (job,) = prometheus["scrape_configs"]
    assert job["metrics_path"] == "/metrics" and job["static_configs"][0]["targets"] == ["hub:8000"]
    assert job["oauth2"]["token_url"] == "http://hub:8000/oauth/token"
    assert job["oauth2"]["client_secret_file"] == "/run/secrets/prometheus_client_secret"
    assert "client_id: prometheus" in compose["services"]["prometheus"]["entrypoint"][-1]
    datasource = yaml.safe_load(
        (DOCKER / "grafana/provisioning/datasources/prometheus.yml").read_text(encoding="utf-8")
    )
    assert datasource["datasources"][0]["uid"] == "platform-hub-prometheus"


@needs_promtool
def test_promtool_checks_the_rules_and_the_configuration() -> None:
    assert PROMTOOL is not None
    for command in (
        [PROMTOOL, "check", "rules", str(ALERTS)],
        [PROMTOOL, "check", "config", "--syntax-only", str(PROMETHEUS)],
    ):
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_promtool_unit_tests_the_rules() -> None:
    assert PROMTOOL is not None
    done = subprocess.run(
        [PROMTOOL, "test", "rules", str(RULE_TESTS)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0 and "SUCCESS" in done.stdout, done.stdout + done.stderr


def test_a_monitor_reads_the_metrics_and_nothing_else(hub: HubClient) -> None:
    """Prometheus's client is of the role monitor (docker/prometheus/prometheus.yml): it scrapes
    /metrics, and every other endpoint refuses it — its secret in Prometheus's configuration opens
    neither the record nor the registry."""
    monitor = hub.staff("monitor")
    assert hub.http.get("/metrics", headers=monitor).status_code == 200
    for method, path, body in (
        ("GET", "/audit/transfers", None),
        ("GET", "/audit/operations", None),
        ("GET", "/interfaces", None),
        ("GET", "/ordinance/versions", None),
        ("GET", "/adapters", None),
        ("POST", "/addressees/search", {"name": "山田 太郎", "birth_date": "1980-04-01"}),
    ):
        answer = hub.http.request(method, path, json=body, headers=monitor)
        assert answer.status_code == 403 and answer.json()["error"]["code"] == "E2002", (path, answer.text)
    sent = hub.http.post(
        "/linkage/messages", content=zei_query(), headers={**monitor, "Content-Type": "text/xml"}
    )
    assert sent.status_code == 403 and fault_code(sent) == "E2002"
    refused = hub.http.get(
        "/audit/operations", params={"action": "access.refuse"}, headers=hub.admin_auditor()
    )
    assert any(entry["role"] == "monitor" for entry in refused.json()["items"]), refused.text
