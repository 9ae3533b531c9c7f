"""What recording costs: query throughput through the hub with the transfer record on, then off.

The hub and a provider unit run in this process (uvicorn, loopback); the load comes from wrk in a
process of its own (``benchmarks.native``: 16 connections, every request its own MSGID) for
``--seconds`` each. "Off" replaces the record write in this process only — the hub itself has no
such switch. Goal (issue 4): on / off ≥ 0.8.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

import httpx

from benchmarks import messages
from benchmarks.common import RESULTS, fresh_database
from benchmarks.native import require_wrk, run_wrk
from platform_hub.kit.settings import DEMO_ORDINANCE, Settings
from platform_hub.linkage import records
from platform_hub.ordinance.service import load_file
from platform_hub.web.app import create_app
from tests.helpers import ADMIN_ID, ADMIN_SECRET, CATALOG, YAMADA, HubClient, serve_in_thread
from tests.units import TestUnit, zei_answer


def load(url: str, token: str, seconds: float) -> dict[str, float]:
    result = run_wrk(url, messages.QUERY, [YAMADA["011"]], seconds=seconds, token=token, what="queries")
    return {"messages_per_s": result.per_s, "p50_ms": result.p50_ms, "p99_ms": result.p99_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15, help="wrk's duration, each way (15)")
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)  # the Python generator's, gone
    args = parser.parse_args()
    if args.count is not None:
        print("--count is ignored: wrk runs for --seconds (15 by default)", file=sys.stderr)
    require_wrk()
    results: dict[str, object] = {}
    with fresh_database("ph_bench_recording") as url, tempfile.TemporaryDirectory() as keys:
        settings = Settings(
            environment="test",
            database_url=url,
            key_file=Path(keys) / "keys.json",
            signing_key_file=Path(keys) / "signing.pem",
            admin_client_id=ADMIN_ID,
            admin_client_secret=ADMIN_SECRET,
            token_secret="bench-" + "x" * 40,
            log_level="WARNING",
            token_ttl_seconds=3600,
        )
        unit = TestUnit(answer=zei_answer)
        with (
            serve_in_thread(unit.app()) as unit_url,
            serve_in_thread(create_app(settings)) as hub_url,
            httpx.Client(base_url=hub_url, timeout=30) as http,
        ):
            hub = HubClient(http)
            demo = (DEMO_ORDINANCE).read_bytes()
            asyncio.run(load_file(settings.async_database_url, CATALOG, demo, actor="bench"))
            hub.register("002", unit_url)
            jidou = hub.register("011")
            hub.enroll({"011": YAMADA["011"], "002": YAMADA["002"]})
            token = hub.token(jidou["client_id"], jidou["client_secret"])
            load(hub_url, token, 2)  # warm up: connections, statement caches
            results["recording_on"] = load(hub_url, token, args.seconds)
            recording = records.record_entries

            async def not_recorded(*_args: object, **_kwargs: object) -> None:
                return None

            records.record_entries = not_recorded  # type: ignore[assignment]
            try:
                results["recording_off"] = load(hub_url, token, args.seconds)
            finally:
                records.record_entries = recording
    on, off = results["recording_on"], results["recording_off"]
    ratio = on["messages_per_s"] / off["messages_per_s"]  # type: ignore[index]
    results["ratio"] = round(ratio, 3)
    print(f"{'':<16}{'messages/s':>12}{'p50 ms':>10}{'p99 ms':>10}")
    for name in ("recording_on", "recording_off"):
        figures = results[name]
        print(f"{name:<16}{figures['messages_per_s']:>12}{figures['p50_ms']:>10}{figures['p99_ms']:>10}")  # type: ignore[index]
    print(f"ratio on/off {ratio:.3f} (goal ≥ 0.8)")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "recording.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
