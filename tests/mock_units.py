"""The demo city's mock units as real processes (``platform-hub mock-unit``) on loopback ports."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from tests.helpers import ADMIN_ID, ADMIN_SECRET, free_port

SEED = 2026


@contextmanager
def mock_units(
    hub_url: str, names: Sequence[str], directory: Path, *, residents: int = 40
) -> Iterator[dict[str, str]]:
    """Start ``names`` (juki, zeimu, jidou-teate, shugaku-enjo) against the hub; yields their URLs.

    Each registers itself with the integrator credentials from the environment, as in production.
    """
    env = {
        **os.environ,
        "PLATFORM_HUB_ADMIN_CLIENT_ID": ADMIN_ID,
        "PLATFORM_HUB_ADMIN_CLIENT_SECRET": ADMIN_SECRET,
    }
    urls: dict[str, str] = {}
    with ExitStack() as stack:
        processes = {}
        for name in names:
            port = free_port()
            log = stack.enter_context((directory / f"{name}.log").open("wb"))
            command = [
                sys.executable, "-c", "from platform_hub.cli import app; app()", "mock-unit", name,
                "--hub", hub_url, "--port", str(port), "--data-dir", str(directory),
                "--seed", str(SEED), "--residents", str(residents), "--log-level", "warning",
            ]  # fmt: skip
            processes[name] = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
            stack.callback(_stop, processes[name])
            urls[name] = f"http://127.0.0.1:{port}"
        for name, url in urls.items():
            _wait_registered(name, url, processes[name], directory)
        yield urls


def _wait_registered(name: str, url: str, process: subprocess.Popen[bytes], directory: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    log = (directory / f"{name}.log").read_text(errors="replace")[-3000:]
    raise AssertionError(f"mock unit {name} did not start:\n{log}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
