"""The hub against the direct path, on SQLite and on PostgreSQL, with issue 6's goals beside each figure.

Every party is a process of its own on loopback: the hub (``platform-hub serve``), the providing and
the subscribing unit (``benchmarks.unit``) and the load generator (``benchmarks.load``, 16 clients).

- queries straight to the providing unit, then the same through the hub: throughput ratio (goal ≥ 0.5)
  and the latency the hub adds, p50 / p99 (goal ≤ 3 ms / ≤ 15 ms);
- 住民異動 notifications accepted durably per second (goal ≥ 2,000/s on PostgreSQL), and delivered end
  to end to both subscribers per second;
- the load generator alone, against an endpoint that answers at once (``benchmarks.unit --noop``):
  the ceiling of this rig, which no path can pass.

With ``--replicas N``, PostgreSQL is measured once more with N hub processes on one database, the
load generator's clients spread over them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import httpx

from benchmarks.common import RESULTS, fresh_database
from platform_hub.kit.settings import DEMO_ORDINANCE
from platform_hub.protocol.numbers import atena_number
from tests.helpers import ADMIN_ID, ADMIN_SECRET, HubClient, answers, free_port, wait_until

REPO_ROOT = Path(__file__).resolve().parents[1]

PERSONS = 50  # the notifications are spread over them: a subscriber takes one person's in order
ORDINANCE = DEMO_ORDINANCE


class Parties(NamedTuple):
    hubs: tuple[str, ...]  # the hub's replicas, on one database
    provider: str
    subscriber: str
    noop: str  # answers everything at once: the load generator's ceiling
    hub_pid: int  # the first replica's

    @property
    def hub(self) -> str:
        return self.hubs[0]


@contextmanager
def processes(database_url: str, keys: Path, replicas: int = 1) -> Iterator[Parties]:
    """The hub (``replicas`` processes on one database), two units and the no-op endpoint, each a
    process of its own."""
    settings = {
        "DATABASE_URL": database_url,
        "KEY_FILE": str(keys / "keys.json"),
        "SIGNING_KEY_FILE": str(keys / "signing.pem"),
        "ADMIN_CLIENT_ID": ADMIN_ID,
        "ADMIN_CLIENT_SECRET": ADMIN_SECRET,
        "TOKEN_TTL_SECONDS": "3600",
        "UNIT_RATE_LIMIT": "1000000/second",  # the benchmark is one client at full speed,
        "CLIENT_CONCURRENCY": "16",  # on as many connections as the load generator has
        "LOG_LEVEL": "WARNING",
    }
    env = {**os.environ, **{f"PLATFORM_HUB_{name}": value for name, value in settings.items()}}
    with ExitStack() as stack:

        def start(*command: str, ready: str) -> int:
            process = subprocess.Popen([sys.executable, "-m", *command], env=env, cwd=REPO_ROOT)
            stack.callback(process.wait, 15)
            stack.callback(process.terminate)
            wait_until(lambda: answers(ready), timeout=60)
            return process.pid

        units = []
        for flags in ([], [], ["--noop"]):
            port = free_port()
            start("benchmarks.unit", "--port", str(port), *flags, ready=f"http://127.0.0.1:{port}/count")
            units.append(f"http://127.0.0.1:{port}")
        hubs, pids = [], []
        for _ in range(replicas):  # one after the other: the first migrates and writes the key files
            port = free_port()
            hubs.append(f"http://127.0.0.1:{port}")
            pids.append(start("platform_hub.cli", "serve", "--port", str(port), ready=f"{hubs[-1]}/healthz"))
        yield Parties(tuple(hubs), *units, pids[0])


def load_ordinance(hub: HubClient) -> None:
    """The demo city's ordinance: without one in force, the hub lets nothing through."""
    loaded = hub.http.post(
        "/ordinance/versions",
        content=ORDINANCE.read_bytes(),
        headers={**hub.admin(), "Content-Type": "application/yaml"},
    )
    assert loaded.status_code == 201, loaded.text


def load(url: str, token: str, atenas: list[str], count: int, kind: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.load", "--url", url, "--token", token,
               "--atena", ",".join(atenas), "--count", str(count), "--kind", kind]  # fmt: skip
    output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=REPO_ROOT).stdout
    result: dict[str, Any] = json.loads(output)
    assert not result["failures"], result
    return result


def received(unit: str) -> int:
    count: int = httpx.get(f"{unit}/count").json()["received"]
    return count


def measure(database_url: str, count: int, replicas: int = 1) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as keys, processes(database_url, Path(keys), replicas) as parties:
        provider, subscriber, noop = parties.provider, parties.subscriber, parties.noop
        hub_url = ",".join(parties.hubs)  # the load generator spreads its clients over the replicas
        with httpx.Client(base_url=parties.hub, timeout=60) as http:
            hub = HubClient(http)
            load_ordinance(hub)
            hub.register("002", provider)
            jidou, juki = hub.register("011", subscriber), hub.register("001")
            people = [
                {u: atena_number(100 * n + int(u)) for u in ("001", "002", "011")} for n in range(PERSONS)
            ]
            for numbers in people:
                hub.enroll(numbers)
            tokens = {
                code: hub.token(c["client_id"], c["client_secret"])
                for code, c in (("011", jidou), ("001", juki))
            }
        asking = [p["011"] for p in people]
        load(hub_url, tokens["011"], asking, 200, "query")  # warm up both paths
        ceiling = load(noop, "-", asking, count, "query")
        direct = load(provider, "-", [p["002"] for p in people], count, "query")
        through = load(hub_url, tokens["011"], asking, count, "query")
        before = received(provider) + received(subscriber)
        started = time.perf_counter()
        notified = load(hub_url, tokens["001"], [p["001"] for p in people], count, "notification")
        wait_until(lambda: received(provider) + received(subscriber) - before >= 2 * count, timeout=3600)
        delivered = count / (time.perf_counter() - started)
    return {
        "load_generator_ceiling_per_s": ceiling["messages_per_s"],
        "direct_queries_per_s": direct["messages_per_s"],
        "hub_queries_per_s": through["messages_per_s"],
        "throughput_ratio": round(through["messages_per_s"] / direct["messages_per_s"], 3),
        "added_p50_ms": round(through["p50_ms"] - direct["p50_ms"], 2),
        "added_p99_ms": round(through["p99_ms"] - direct["p99_ms"], 2),
        "notifications_accepted_per_s": notified["messages_per_s"],
        "notifications_delivered_per_s": round(delivered, 1),
    }


GOALS = {
    "load_generator_ceiling_per_s": "",
    "direct_queries_per_s": "",
    "hub_queries_per_s": "",
    "throughput_ratio": "≥ 0.5",
    "added_p50_ms": "≤ 3",
    "added_p99_ms": "≤ 15",
    "notifications_accepted_per_s": "≥ 2,000 (PG)",
    "notifications_delivered_per_s": "",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000, help="messages per measurement")
    parser.add_argument(
        "--replicas", type=int, default=1, help="also measure this many hub processes on one PostgreSQL"
    )
    args = parser.parse_args()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        results["sqlite"] = measure(f"sqlite:///{scratch}/hub.db", args.count)
    with fresh_database("ph_bench_linkage") as url:
        results["postgresql"] = measure(url, args.count)
    if args.replicas > 1:  # SQLite's writers in several processes would meet its busy handler
        with fresh_database("ph_bench_linkage") as url:
            results[f"postgresql_x{args.replicas}"] = measure(url, args.count, args.replicas)
    print(f"\n{'measure (16 clients)':<34}" + "".join(f"{name:>16}" for name in results) + f"{'goal':>16}")
    for key, goal in GOALS.items():
        print(f"{key:<34}" + "".join(f"{figures[key]:>16}" for figures in results.values()) + f"{goal:>16}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "linkage.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
