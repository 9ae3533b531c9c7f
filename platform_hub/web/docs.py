"""The API's documentation pages, /docs (Swagger UI) and /redoc, with every script, style and icon
they load served by the hub itself.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, and ReDoc its fonts from Google: on a
municipal network with no way out they stay blank. The assets come from the fastapi-offline
package (swagger-ui-dist and ReDoc's standalone bundle, kept up to date on PyPI), installed with the hub.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(str(files("fastapi_offline") / "static"))
ASSETS_URL = "/docs-assets"
DOCS_URL = "/docs"
REDOC_URL = "/redoc"
# Swagger UI shows a badge fetched from its authors' online validator, given the schema's URL, for
# any hub not reached as localhost: nothing of the hub's is sent out of the city's network.
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}
# What the pages may load, and from where: the hub only. ReDoc's menu shows its authors' logo from their
# CDN, whatever its options say; the browser is told not to ask. (Inline: the pages' own start-up
# script and the styles both tools write; blob: ReDoc's search worker.)
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; frame-ancestors 'none'"
)


def install_docs(app: FastAPI) -> frozenset[str]:
    """Serve the documentation pages and their assets on ``app`` (made with ``docs_url=None`` and
    ``redoc_url=None``); the paths they take, which anyone may read without a token."""
    openapi_url, redirect_url = app.openapi_url, app.swagger_ui_oauth2_redirect_url
    assert openapi_url is not None and redirect_url is not None
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = _root_path(request)
        page = get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=root + redirect_url,
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )
        return _confined(page)

    @app.get(redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = _root_path(request)
        page = get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
        return _confined(page)

    assets = {f"{ASSETS_URL}/{asset.name}" for asset in ASSETS.iterdir() if asset.is_file()}
    return frozenset({DOCS_URL, redirect_url, REDOC_URL, *assets})


def _confined(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return page


def _root_path(request: Request) -> str:
    """The prefix a reverse proxy serves the hub under (``--root-path``), as FastAPI's pages use it."""
    return str(request.scope.get("root_path", "")).rstrip("/")
