"""benchmarks.console end to end at a tiny size, on PostgreSQL: the record built, the hub started, an
admin account signed in, every console page answered 200 and timed, the table printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.console import pages
from tests.conftest import TEST_DATABASE_URL

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.postgres_only
def test_the_console_benchmark_times_every_page(tmp_path: Path) -> None:
    assert TEST_DATABASE_URL is not None
    out = tmp_path / "console.json"
    command = ["benchmarks.console", "--entries", "3000", "--persons", "500", "--times", "2"]
    command += ["--database", "ph_bench_console_test", "--json-out", str(out)]
    env = {**os.environ, "PLATFORM_HUB_BENCH_DATABASE_URL": TEST_DATABASE_URL}
    done = subprocess.run(
        [sys.executable, "-m", *command], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(out.read_text())
    assert results["entries"] == 3000 and results["times"] == 2
    assert list(results["pages"]) == [name for name, _ in pages(["000000000000001"])]
    for figures in results["pages"].values():
        assert figures["n"] == 2 and 0 < figures["p50_ms"] <= figures["p99_ms"] and figures["bytes"] > 0
    assert results["slowest_p99_ms"] == max(f["p99_ms"] for f in results["pages"].values())
    assert "record of 3,000 entries" in done.stdout
    assert "/console/persons/{reference}" in done.stdout and "< 1000 ms" in done.stdout
