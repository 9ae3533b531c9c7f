"""The demo city's mock units as real processes (``platform-hub mock-unit``) on loopback ports."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from platform_hub_demo.demo import stop, wait_healthy

from tests.helpers import ADMIN_ID, ADMIN_SECRET, free_port

SEED = 2026


@contextmanager
def mock_units(
    hub_url: str, names: Sequence[str], directory: Path, *, residents: int = 40
) -> Iterator[dict[str, str]]:
    """Start ``names`` (juki, zeimu, jidou-teate, shugaku-enjo) against the hub; yields their URLs.

    Each registers itself with the integrator credentials from the environment (the admin's: an
    admin is an integrator too), as in production.
    """
    env = {
        **os.environ,
        "PLATFORM_HUB_INTEGRATOR_CLIENT_ID": ADMIN_ID,
        "PLATFORM_HUB_INTEGRATOR_CLIENT_SECRET": ADMIN_SECRET,
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
            stack.callback(stop, processes[name])
            urls[name] = f"http://127.0.0.1:{port}"
        for name, url in urls.items():
            wait_healthy(url, processes[name], directory / f"{name}.log")
        yield urls
