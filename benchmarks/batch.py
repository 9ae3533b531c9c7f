"""一括 at city scale: a 1,000,000-record 所得情報一括提供 (IF_ZEI_0101) from 002 to 011, through
the hub, on SQLite and on PostgreSQL, with issue 6's goals beside each figure.

Every party is a process of its own: the hub, the subscribing unit (``benchmarks.unit``) and the
sender (``benchmarks.upload``, streaming the file). Each record is checked (XSD, registry), kept,
delivered in 011's numbering and recorded with one transfer entry of its own.

- records received per second: from the first byte sent to the hub's answer (every record kept);
- records per second end to end: until the subscriber has every record (goal ≥ 20,000/s);
- the hub's peak memory (VmHWM, goal ≤ 300 MB RSS).

python -m benchmarks.batch [--count 1000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import RESULTS, fresh_database
from benchmarks.linkage import load_ordinance, processes
from platform_hub.kit.migrations import upgrade
from tests.helpers import HubClient, count_rows, seed_taxpayers, wait_until

REPO_ROOT = Path(__file__).resolve().parents[1]


def records_received(unit: str) -> int:
    count: int = httpx.get(f"{unit}/count").json()["records"]
    return count


def delivered(progress: str, token: str) -> bool:
    """Whether the hub has delivered the batch (every chunk to 011); raises if it was not."""
    deliveries = httpx.get(progress, headers={"Authorization": f"Bearer {token}"}).json()["deliveries"]
    if any(d["status"] not in {"pending", "delivered"} for d in deliveries):
        raise AssertionError(f"the batch was not delivered: {deliveries}")
    return bool(deliveries) and all(d["status"] == "delivered" for d in deliveries)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def measure(database_url: str, count: int) -> dict[str, Any]:
    started = time.perf_counter()
    seed_taxpayers(database_url, count)
    seeded = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as keys, processes(database_url, Path(keys)) as parties:
        hub_url, subscriber, hub_pid = parties.hub, parties.subscriber, parties.hub_pid
        with httpx.Client(base_url=hub_url, timeout=60) as http:
            hub = HubClient(http)
            load_ordinance(hub)
            hub.register("011", subscriber)
            zeimu = hub.register("002")
            token = hub.token(zeimu["client_id"], zeimu["client_secret"])
        command = [sys.executable, "-m", "benchmarks.upload", "--url", hub_url, "--token", token,
                   "--count", str(count)]  # fmt: skip
        started = time.perf_counter()
        output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=REPO_ROOT).stdout
        upload = json.loads(output)
        assert upload["status"] == 200 and upload["SeijoKensu"] == str(count), upload
        progress = f"{hub_url}/batches/{upload['ReceptionNumber']}"
        wait_until(lambda: delivered(progress, token), timeout=3600, interval=0.2)
        end_to_end = time.perf_counter() - started
        assert records_received(subscriber) == count
        peak = peak_rss_mb(hub_pid)
    assert count_rows(database_url, "transfer_records") == count
    return {
        "records": count,
        "records_received_per_s": round(count / upload["seconds"]),
        "records_end_to_end_per_s": round(count / end_to_end),
        "hub_peak_rss_mb": peak,
        "seeding_registry_s": round(seeded, 1),
    }


GOALS = {
    "records": "",
    "records_received_per_s": "",
    "records_end_to_end_per_s": "≥ 20,000",
    "hub_peak_rss_mb": "≤ 300",
    "seeding_registry_s": "(setup)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1_000_000, help="records in the batch")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), action="append", help="default: both")
    args = parser.parse_args()
    databases = args.database or ["sqlite", "postgresql"]
    results: dict[str, dict[str, Any]] = {}
    if "sqlite" in databases:
        with tempfile.TemporaryDirectory() as scratch:
            upgrade(f"sqlite:///{scratch}/hub.db")
            results["sqlite"] = measure(f"sqlite:///{scratch}/hub.db", args.count)
    if "postgresql" in databases:
        with fresh_database("ph_bench_batch") as url:
            results["postgresql"] = measure(url, args.count)
    names = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
    print(f"\n{'measure (one batch)':<34}" + "".join(f"{names[d]:>12}" for d in results) + f"{'goal':>16}")
    for key, goal in GOALS.items():
        print(f"{key:<34}" + "".join(f"{results[d][key]:>12}" for d in results) + f"{goal:>16}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "batch.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
