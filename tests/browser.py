"""Debian's chromium driven by Playwright (never a browser of its own), reaching the hub by a name."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary on PATH (Debian: apt-get install chromium)"
)
# The hub by a name that is not loopback's, as staff reach it: Swagger UI would ask its authors' online
# validator about the schema of any other host.
HUB_HOST = "hub.city.test"


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless chromium that resolves HUB_HOST to loopback."""
    assert CHROMIUM is not None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=[f"--host-resolver-rules=MAP {HUB_HOST} 127.0.0.1"]
        )
        yield browser
        browser.close()
