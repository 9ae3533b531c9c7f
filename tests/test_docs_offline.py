"""/docs and /redoc render in a real browser that can reach nothing but the hub, as on a municipal
network with no way out to the internet."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from platform_hub.kit.settings import Settings
from tests.browser import HUB_HOST, chromium, needs_chromium
from tests.helpers import HubClient, served_hub


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def _cut_off(page: Page, origin: str) -> list[str]:
    """Let ``page`` reach ``origin`` only; the URLs of every other request it tried (each aborted)."""
    outside: list[str] = []

    def only_the_hub(route: Route) -> None:
        if route.request.url.startswith(f"{origin}/"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_hub)
    return outside


@needs_chromium
@pytest.mark.parametrize(
    ("path", "element", "operation"),
    [
        ("/docs", ".opblock-summary-path", "/linkage/messages"),  # Swagger UI: each operation's path
        ("/redoc", "h2", "Receive Message"),  # ReDoc: each operation's summary, as a heading
    ],
)
def test_the_api_docs_render_with_no_way_out(
    browser: Browser, settings: Settings, path: str, element: str, operation: str
) -> None:
    with served_hub(settings) as (url, _):
        origin = url.replace("127.0.0.1", HUB_HOST)
        page = browser.new_page()
        outside = _cut_off(page, origin)
        page.goto(f"{origin}{path}")
        expect(page.locator(element, has_text=operation).first).to_be_visible(timeout=20_000)
        page.wait_for_load_state("networkidle")
        page.close()
    assert outside == [], "the page reached for what the hub does not serve"


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_api_docs_name_no_other_origin(hub: HubClient, path: str) -> None:
    """Without a browser: each page, and every asset it names, comes from the hub without a token,
    and the page tells the browser to load from nowhere else."""
    page = hub.http.get(path)
    assert page.status_code == 200, page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    named = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert named and not [url for url in named if "//" in url], named
    for url in named:
        assert hub.http.get(url).status_code == 200, url
