"""住民異動 notifications alone, with wrk: accepted durably per second, the hub's CPU per notification,
and the rate they reach two subscribers.

The hub (``platform-hub serve``) and the two subscribing units (``benchmarks.unit``) are processes of
their own; wrk (``/usr/bin/wrk``) sends, each request under a MSGID of its own, round robin over
``--persons`` people. The hub's CPU is its utime + stime from ``/proc/<pid>/stat`` over the run.

python -m benchmarks.notifications [--database postgresql|sqlite] [--connections 64] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import RESULTS, fresh_database
from benchmarks.linkage import load_ordinance, received
from platform_hub.protocol.numbers import atena_number
from tests.helpers import ADMIN_ID, ADMIN_SECRET, HubClient, answers, free_port, ido_notification, wait_until

REPO_ROOT = Path(__file__).resolve().parents[1]
MSGID = "MSGIDPLACEHOLDER0000000000000000"
ATENA = "ATENAPLACEHOLDER"

# Each request its own MSGID (thread id, counter) and the next person; the bodies are built in Lua.
WRK_SCRIPT = """
local template = [==[@TEMPLATE@]==]
local atenas = {@ATENAS@}
local counter = 0
local thread_id = 0
function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
end
function init(args)
  wrk.headers["Authorization"] = "Bearer @TOKEN@"
  wrk.headers["Content-Type"] = "text/xml; charset=utf-8"
end
function request()
  counter = counter + 1
  local msgid = string.format("@RUN@-%02d-%d", tid, counter)
  local atena = atenas[(counter % #atenas) + 1]
  local body = template:gsub("@MSGID@", msgid):gsub("@ATENA@", atena)
  return wrk.format("POST", "/linkage/messages", nil, body)
end
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


@contextmanager
def parties(database_url: str, keys: Path, connections: int) -> Iterator[tuple[str, str, str, int]]:
    settings = {
        "DATABASE_URL": database_url,
        "KEY_FILE": str(keys / "keys.json"),
        "SIGNING_KEY_FILE": str(keys / "signing.pem"),
        "ADMIN_CLIENT_ID": ADMIN_ID,
        "ADMIN_CLIENT_SECRET": ADMIN_SECRET,
        "TOKEN_TTL_SECONDS": "3600",
        "UNIT_RATE_LIMIT": "1000000/second",
        "CLIENT_CONCURRENCY": str(connections),  # one client on as many connections as wrk has
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
        for _ in range(2):
            port = free_port()
            start("benchmarks.unit", "--port", str(port), ready=f"http://127.0.0.1:{port}/count")
            units.append(f"http://127.0.0.1:{port}")
        port = free_port()
        hub = f"http://127.0.0.1:{port}"
        pid = start("platform_hub.cli", "serve", "--port", str(port), ready=f"{hub}/healthz")
        yield hub, units[0], units[1], pid


def wrk(hub: str, script_text: str, connections: int, seconds: float) -> dict[str, Any]:
    """One run of wrk, its MSGIDs new (a run name of their own)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script_text.replace("@RUN@", uuid.uuid4().hex[:12]))
    script = Path(handle.name)
    threads = min(2, connections)
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s",
               "--timeout", "30s", "--latency",
               "-s", str(script), hub]  # fmt: skip
    try:
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    finally:
        script.unlink()
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    p50 = re.search(r"50%\s+(\S+)", output)
    p99 = re.search(r"99%\s+(\S+)", output)
    return {
        "requests": requests,
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else "",
        "p50": p50.group(1) if p50 else "",
        "p99": p99.group(1) if p99 else "",
    }


def measure(
    database_url: str, connections: int, seconds: float, persons: int, profile: str | None = None
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as keys, parties(database_url, Path(keys), connections) as found:
        hub_url, first, second, pid = found
        with httpx.Client(base_url=hub_url, timeout=60) as http:
            hub = HubClient(http)
            load_ordinance(hub)
            hub.register("002", first)
            hub.register("011", second)
            juki = hub.register("001")
            people = [
                {u: atena_number(100 * n + int(u)) for u in ("001", "002", "011")} for n in range(persons)
            ]
            for numbers in people:
                hub.enroll(numbers)
            token = hub.token(juki["client_id"], juki["client_secret"])
        template = ido_notification(ATENA, msgid=MSGID).decode()
        template = template.replace(MSGID, "@MSGID@").replace(ATENA, "@ATENA@")
        atenas = ", ".join(f'"{p["001"]}"' for p in people)
        script = WRK_SCRIPT.replace("@TEMPLATE@", template).replace("@ATENAS@", atenas)
        script = script.replace("@TOKEN@", token)
        warm = wrk(hub_url, script, connections, 3)
        print("warm-up:", warm, file=sys.stderr)
        warmed = 2 * (warm["requests"] - warm["non_2xx"])
        wait_until(lambda: received(first) + received(second) >= warmed, timeout=600)
        before = received(first) + received(second)
        spy = None
        if profile:  # py-spy on the hub while wrk runs: where its CPU goes
            spy_command = ["py-spy", "record", "-p", str(pid), "--gil", "-f", "raw", "-o", profile,
                           "-d", f"{seconds:g}"]  # fmt: skip
            spy = subprocess.Popen(spy_command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cpu, started = cpu_seconds(pid), time.perf_counter()
        result = wrk(hub_url, script, connections, seconds)
        if spy is not None:
            spy.wait(60)
        elapsed, cpu = time.perf_counter() - started, cpu_seconds(pid) - cpu
        accepted = result["requests"] - result["non_2xx"]
        print("run:", result, f"{cpu:.1f} s CPU", file=sys.stderr)
        wait_until(lambda: received(first) + received(second) - before >= 2 * accepted, timeout=3600)
        delivered = accepted / (time.perf_counter() - started)
    return {
        "connections": connections,
        "accepted": accepted,
        **{k: v for k, v in result.items() if k != "requests"},
        "accepted_per_s": round(accepted / elapsed, 1),
        "hub_cpu_ms_per_notification": round(1000 * cpu / max(accepted, 1), 3),
        "delivered_to_both_per_s": round(delivered, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--persons", type=int, default=50)
    parser.add_argument("--profile", help="write py-spy's raw profile of the hub here")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed")
    figures = (args.connections, args.seconds, args.persons, args.profile)
    if args.database == "sqlite":
        with tempfile.TemporaryDirectory() as scratch:
            result = measure(f"sqlite:///{scratch}/hub.db", *figures)
    else:
        with fresh_database("ph_bench_notifications") as url:
            result = measure(url, *figures)
    print(json.dumps({args.database: result}, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"notifications-{args.database}.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
