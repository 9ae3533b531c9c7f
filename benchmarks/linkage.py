"""The hub against the direct path, on SQLite and on PostgreSQL, with the goals beside each figure.

Every party is a process of its own on loopback: the hub (``platform-hub serve``, started as
``python -m platform_hub.cli serve``), the providing and the subscribing unit (``benchmarks.unit``),
the load generator (``wrk``, ``-t2 -c16 -d15s --latency``, with ``benchmarks/wrk/linkage.lua``: every
request its own MSGID) and, for one row, Debian's nginx. In one run, on each database:

- the no-op ceiling: wrk against an endpoint that answers at once (``benchmarks.unit --noop``), the
  most any path can show on this machine;
- queries straight to the providing unit (the direct path), through nginx forwarding to it (what a
  plain reverse proxy costs), and through the hub: hub ÷ direct, nginx ÷ direct, and the latency the
  hub adds (its p50 / p99 minus the direct path's);
- the hub's CPU per query and per 住民異動 (utime + stime from ``/proc``, the hub's processes, over
  the run ÷ the messages; a notification's until both subscribers have it);
- 住民異動 accepted durably per second (wrk), and delivered to both subscribers (002 and 011 subscribe)
  per second: the notifications accepted ÷ the time from the start until both have every one.

With ``--replicas N``, PostgreSQL is measured once more with N hub processes on one database, wrk's
threads spread over them. A run with any request refused or failed stops the benchmark.

python -m benchmarks.linkage [--seconds 15] [--connections 16] [--replicas R]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import httpx

from benchmarks import goals, messages
from benchmarks.common import RESULTS, fresh_database
from benchmarks.native import WrkFailed, WrkResult, cpu_seconds, nginx_forwarding, require_wrk, run_wrk
from platform_hub.kit.settings import DEMO_ORDINANCE
from platform_hub.protocol.numbers import atena_number
from tests.helpers import ADMIN_ID, ADMIN_SECRET, HubClient, answers, free_port, wait_until

REPO_ROOT = Path(__file__).resolve().parents[1]

PERSONS = 50  # the notifications are spread over them: a subscriber takes one person's in order
ORDINANCE = DEMO_ORDINANCE
WARM_UP_SECONDS = 2
LOGS = RESULTS / "logs" / "linkage"  # each party's output, a folder per database


class Parties(NamedTuple):
    hubs: tuple[str, ...]  # the hub's replicas, on one database
    provider: str
    subscriber: str
    noop: str  # answers everything at once: the load generator's ceiling
    hub_pids: tuple[int, ...]

    @property
    def hub(self) -> str:
        return self.hubs[0]

    @property
    def hub_pid(self) -> int:  # the first replica's
        return self.hub_pids[0]


@contextmanager
def processes(
    database_url: str, keys: Path, replicas: int = 1, *, logs: Path | None = None
) -> Iterator[Parties]:
    """The hub (``replicas`` processes on one database), two units and the no-op endpoint, each a
    process of its own; with ``logs``, each writes its output to a file there instead of the
    terminal (wrk leaves requests in flight when it stops: the units log each as a disconnect)."""
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

        def start(*command: str, ready: str, name: str) -> int:
            output = None
            if logs is not None:
                logs.mkdir(parents=True, exist_ok=True)
                output = stack.enter_context((logs / f"{name}.log").open("w"))
            process = subprocess.Popen(
                [sys.executable, "-m", *command], env=env, cwd=REPO_ROOT, stdout=output, stderr=output
            )
            stack.callback(process.wait, 15)
            stack.callback(process.terminate)
            wait_until(lambda: answers(ready), timeout=60)
            return process.pid

        units = []
        for name, flags in (("provider", []), ("subscriber", []), ("noop", ["--noop"])):
            port = free_port()
            ready = f"http://127.0.0.1:{port}/count"
            start("benchmarks.unit", "--port", str(port), *flags, ready=ready, name=name)
            units.append(f"http://127.0.0.1:{port}")
        hubs, pids = [], []
        for n in range(replicas):  # one after the other: the first migrates and writes the key files
            port = free_port()
            hubs.append(f"http://127.0.0.1:{port}")
            serve = ("platform_hub.cli", "serve", "--port", str(port))
            pids.append(start(*serve, ready=f"{hubs[-1]}/healthz", name=f"hub{n or ''}"))
        provider, subscriber, noop = units
        yield Parties(tuple(hubs), provider, subscriber, noop, tuple(pids))


def load_ordinance(hub: HubClient) -> None:
    """The demo city's ordinance: without one in force, the hub lets nothing through."""
    loaded = hub.http.post(
        "/ordinance/versions",
        content=ORDINANCE.read_bytes(),
        headers={**hub.admin(), "Content-Type": "application/yaml"},
    )
    assert loaded.status_code == 201, loaded.text


def received(unit: str) -> int:
    count: int = httpx.get(f"{unit}/count").json()["received"]
    return count


def settled(count: Callable[[], int]) -> int:
    """The count once it has stopped moving (the requests wrk left in flight have landed)."""
    last = count()
    while True:
        time.sleep(0.5)
        now = count()
        if now == last:
            return now
        last = now


def show(what: str, result: WrkResult) -> WrkResult:
    figures = f"p50 {result.p50_ms:>8.2f} ms   p99 {result.p99_ms:>8.2f} ms   ({result.requests:,} requests)"
    print(f"  {what:<34}{result.per_s:>10,.1f}/s   {figures}", flush=True)
    return result


def measure(
    database_url: str,
    seconds: float,
    connections: int = 16,
    replicas: int = 1,
    *,
    nginx: bool = True,
    logs: Path | None = None,
) -> dict[str, Any]:
    wrk = require_wrk()
    with (
        tempfile.TemporaryDirectory() as keys,
        processes(database_url, Path(keys), replicas, logs=logs) as parties,
    ):
        provider, subscriber, noop = parties.provider, parties.subscriber, parties.noop
        hub_url = ",".join(parties.hubs)  # wrk's threads are spread over the replicas
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
        asking, own = [p["011"] for p in people], [p["002"] for p in people]

        def drive(url: str, atenas: list[str], what: str, *, token: str | None = None,
                  body: str | bytes = messages.QUERY, duration: float = seconds) -> WrkResult:  # fmt: skip
            result = run_wrk(url, body, atenas, seconds=duration, connections=connections, token=token,
                             what=what, wrk=wrk)  # fmt: skip
            return show(what, result)

        drive(hub_url, asking, "(warm-up: the hub)", token=tokens["011"], duration=WARM_UP_SECONDS)
        ceiling = drive(noop, asking, "no-op ceiling")
        direct = drive(provider, own, "direct to the provider")
        forwarded = None
        if nginx:
            with nginx_forwarding(provider) as proxy:
                if proxy is not None:
                    forwarded = drive(proxy, own, "nginx forwarding to the provider")
                else:
                    print("  the nginx row is skipped: no nginx", flush=True)
        cpu = cpu_seconds(*parties.hub_pids)
        through = drive(hub_url, asking, "through the hub", token=tokens["011"])
        cpu_query = (cpu_seconds(*parties.hub_pids) - cpu) / through.requests
        before = settled(lambda: received(provider) + received(subscriber))
        cpu, started = cpu_seconds(*parties.hub_pids), time.perf_counter()
        notified = drive(hub_url, [p["001"] for p in people], "住民異動 accepted", token=tokens["001"],
                         body=messages.notification())  # fmt: skip
        accepted = notified.requests
        wait_until(lambda: received(provider) + received(subscriber) - before >= 2 * accepted,
                   timeout=3600, interval=0.2)  # fmt: skip
        delivered = accepted / (time.perf_counter() - started)
        cpu_notification = (cpu_seconds(*parties.hub_pids) - cpu) / accepted
        print(f"  {'住民異動 delivered to two':<34}{delivered:>10,.1f}/s", flush=True)
    return {
        "seconds": seconds,
        "connections": connections,
        "replicas": replicas,
        "noop_per_s": ceiling.per_s,
        "direct_per_s": direct.per_s,
        "nginx_per_s": forwarded.per_s if forwarded else None,
        "hub_queries_per_s": through.per_s,
        "hub_over_direct": round(through.per_s / direct.per_s, 3),
        "nginx_over_direct": round(forwarded.per_s / direct.per_s, 3) if forwarded else None,
        "direct_p50_ms": direct.p50_ms,
        "direct_p99_ms": direct.p99_ms,
        "nginx_p50_ms": forwarded.p50_ms if forwarded else None,
        "nginx_p99_ms": forwarded.p99_ms if forwarded else None,
        "hub_p50_ms": through.p50_ms,
        "hub_p99_ms": through.p99_ms,
        "added_p50_ms": round(through.p50_ms - direct.p50_ms, 2),
        "added_p99_ms": round(through.p99_ms - direct.p99_ms, 2),
        "hub_cpu_ms_per_query": round(cpu_query * 1000, 3),
        "notifications_accepted": accepted,
        "notifications_accepted_per_s": notified.per_s,
        "notifications_delivered_per_s": round(delivered, 1),
        "hub_cpu_ms_per_notification": round(cpu_notification * 1000, 3),
    }


ROWS: dict[str, tuple[str, goals.Goal | None]] = {
    "noop_per_s": ("no-op ceiling (wrk alone), /s", None),
    "direct_per_s": ("queries direct to the provider, /s", None),
    "nginx_per_s": ("queries through nginx, /s", None),
    "hub_queries_per_s": ("queries through the hub, /s", None),
    "hub_over_direct": ("hub ÷ direct", goals.HUB_OVER_DIRECT),
    "nginx_over_direct": ("nginx ÷ direct", None),
    "added_p50_ms": ("latency the hub adds, p50 ms", goals.ADDED_P50_MS),
    "added_p99_ms": ("latency the hub adds, p99 ms", goals.ADDED_P99_MS),
    "hub_cpu_ms_per_query": ("hub CPU per query, ms", goals.CPU_PER_QUERY_MS),
    "notifications_accepted_per_s": ("住民異動 accepted durably, /s", goals.ACCEPTED_PER_S),
    "notifications_delivered_per_s": ("住民異動 delivered to two, /s", goals.DELIVERED_PER_S),
    "hub_cpu_ms_per_notification": ("hub CPU per 住民異動, ms", goals.CPU_PER_NOTIFICATION_MS),
}


def table(results: dict[str, dict[str, Any]]) -> str:
    first = next(iter(results.values()))
    head = f"measure ({first['connections']} connections, {first['seconds']:g} s each)"
    lines = [f"{head:<40}" + "".join(f"{name:>14}" for name in results) + "   goal"]
    for key, (label, goal) in ROWS.items():
        cells = "".join(
            f"{'—' if figures.get(key) is None else figures[key]:>14}" for figures in results.values()
        )
        lines.append(f"{label:<40}{cells}   {goal.text if goal else ''}")
    return "\n".join(lines)


def run(databases: list[str], replicas: int, options: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The figures of each database, one after the other."""
    name = f"ph_bench_linkage_{os.getpid()}"  # its own: others may run the benchmarks beside it
    results: dict[str, dict[str, Any]] = {}
    if "sqlite" in databases:
        print("SQLite", flush=True)
        with tempfile.TemporaryDirectory() as scratch:
            results["sqlite"] = measure(f"sqlite:///{scratch}/hub.db", logs=LOGS / "sqlite", **options)
    if "postgresql" in databases:
        print("PostgreSQL", flush=True)
        with fresh_database(name) as url:
            results["postgresql"] = measure(url, logs=LOGS / "postgresql", **options)
    if replicas > 1:  # SQLite's writers in several processes would meet its busy handler
        print(f"PostgreSQL, {replicas} hub processes", flush=True)
        key = f"postgresql_x{replicas}"
        with fresh_database(name) as url:
            results[key] = measure(url, replicas=replicas, logs=LOGS / key, **options)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=15, help="wrk's duration per row (15)")
    parser.add_argument("--connections", type=int, default=16, help="wrk's connections (16)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), action="append", help="default: both")
    parser.add_argument(
        "--replicas", type=int, default=1, help="also measure this many hub processes on one PostgreSQL"
    )
    parser.add_argument("--no-nginx", action="store_true", help="leave out the nginx row")
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)  # the Python generator's, gone
    args = parser.parse_args()
    if args.count is not None:
        print("--count is ignored: wrk runs for --seconds (15 by default)", file=sys.stderr)
    require_wrk()
    options = {"seconds": args.seconds, "connections": args.connections, "nginx": not args.no_nginx}
    shutil.rmtree(LOGS, ignore_errors=True)
    try:
        results = run(args.database or ["sqlite", "postgresql"], args.replicas, options)
    except WrkFailed as failed:
        raise SystemExit(f"FAILED: {failed}\n(each party's output: {LOGS.relative_to(REPO_ROOT)}/)") from None
    print("\n" + table(results))
    for log in sorted(LOGS.glob("*/*.log")):
        if tracebacks := log.read_text(errors="replace").count("Traceback"):
            print(f"{log.relative_to(REPO_ROOT)}: {tracebacks} traceback(s)")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "linkage.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
