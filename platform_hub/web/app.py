"""The app factory: one engine, one catalog, one HTTP client, one dispatcher and one sealer per process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import unquote_plus

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from platform_hub.addressees.service import check_key_file
from platform_hub.audit import sealer
from platform_hub.audit.chain import SigningKey, load_signing_key
from platform_hub.audit.operations import holds_my_number, masked
from platform_hub.batches import dropbox
from platform_hub.console import routes as console
from platform_hub.exchange import dispatcher
from platform_hub.kit.clock import ZONE_VARIABLE, city_zone
from platform_hub.kit.database import create_engine, create_sessionmaker, unit_of_work
from platform_hub.kit.logging import configure_logging
from platform_hub.kit.metrics import HubMetrics
from platform_hub.kit.ratelimit import RateLimit
from platform_hub.kit.settings import Settings
from platform_hub.kit.vault import KeyFileError, MyNumberVault, generate_key_file, load_vault
from platform_hub.linkage import configuration, message_store, retention, unit_client
from platform_hub.network import provision
from platform_hub.network.service import NationalSystems
from platform_hub.protocol import rest
from platform_hub.protocol.catalog import load_catalog
from platform_hub.protocol.errors import HubError, SchemaViolation, UnknownTarget, database_unavailable
from platform_hub.web.addressees import router as addressees_router
from platform_hub.web.audit import router as audit_router
from platform_hub.web.auth import router as auth_router
from platform_hub.web.batches import router as batches_router
from platform_hub.web.docs import install_docs
from platform_hub.web.health import router as web_router
from platform_hub.web.linkage import MESSAGES_PATH, receive_message_asgi
from platform_hub.web.linkage import router as linkage_router
from platform_hub.web.network import router as network_router
from platform_hub.web.network_provision import router as network_provision_router
from platform_hub.web.ordinance import router as ordinance_router
from platform_hub.web.request_guard import RequestGuard, paced
from platform_hub.web.rest import add_rest_routes
from platform_hub.web.state import HubState
from platform_hub.web.units import router as units_router

log = structlog.get_logger()


class Hub(FastAPI):
    """FastAPI, with the linkage endpoint taken before the middleware and the routing: a message pays
    only for what it needs of them, the body's pacing (``request_guard.paced``); the endpoint checks
    the token and caps the body itself."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hub = getattr(self.state, "hub", None)  # none before the lifespan has built it
        if scope["type"] == "http" and hub is not None:
            send = hub.metrics.counting(send)  # every response's status class, the messages' too
        if scope["type"] == "http" and scope["path"] == MESSAGES_PATH and scope["method"] == "POST":
            scope["app"] = self
            body, send = paced(scope, receive, send, self.state.hub.settings)
            await receive_message_asgi(scope, body, send)
            return
        await super().__call__(scope, receive, send)


class _MaskedAccessLog(logging.Filter):
    """uvicorn's access line names each request's path with its query, where a 個人番号 may come (a
    REST query's item, a console filter a clerk mistyped): masked before the line is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_masked_path(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


def _masked_path(text: str) -> str:
    """A path and query as the line shows it, percent-decoded first where it holds a 個人番号 (a GET
    form sends "1234 5678 9012" as ``1234+5678+9012``, full-width digits as ``%EF%BC%91…``)."""
    decoded = unquote_plus(text)
    return masked(decoded) or "" if holds_my_number(decoded) else text


_MASKED_ACCESS_LOG = _MaskedAccessLog()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = _with_token_secret(settings or Settings())
    _check_time_zone(settings)
    configure_logging(settings.log_level)
    logging.getLogger("uvicorn.access").addFilter(_MASKED_ACCESS_LOG)  # once: addFilter keeps one
    catalog = load_catalog(settings.interface_specs_dir)  # fail at start-up, not on the first message

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.async_database_url)
        sessions = create_sessionmaker(engine)
        async with unit_client.unit_session() as http:
            state = HubState(
                settings=settings,
                catalog=catalog,
                engine=engine,
                sessions=sessions,
                http=http,
                metrics=HubMetrics(),
                rate_limit=RateLimit(settings.unit_rate_limit, settings.rate_limit_storage),
                token_rate_limit=RateLimit(settings.token_rate_limit, settings.rate_limit_storage),
                configuration=configuration.snapshots(sessions, settings.configuration_poll_seconds),
                message_store=await message_store.open_store(settings.async_database_url, sessions),
                vault=await _open_vault(settings, engine),
                signing_key=_open_signing_key(settings),
                national=NationalSystems.connect(settings),
            )
            app.state.hub = state
            if settings.dispatcher_enabled:
                state.dispatcher = asyncio.create_task(dispatcher.run(state), name="dispatcher")
            if settings.sealer_enabled:
                state.sealer = asyncio.create_task(sealer.run(state, state.signing_key), name="sealer")
            state.janitor = asyncio.create_task(retention.run(state), name="answer retention")
            if state.national is not None:
                state.provision_sync = asyncio.create_task(
                    provision.run(state, state.national), name="network provisions"
                )
            drop_box = await dropbox.serve(state) if settings.sftp_port is not None else None
            try:
                yield
            finally:
                if drop_box is not None:
                    acceptor, box = drop_box
                    acceptor.close()
                    await box.close()
                for task in (
                    state.dispatcher,
                    state.sealer,
                    state.janitor,
                    state.provision_sync,
                    *state.background,
                ):
                    if task is not None:
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
                await state.message_store.close()
                for limit in (state.rate_limit, state.token_rate_limit, app.state.console_signins):
                    if limit is not None:
                        limit.close()
                if state.national is not None:
                    await state.national.aclose()
                await engine.dispose()

    app = Hub(
        title="platform-hub",
        version="0.1.0",
        summary="The municipal data-linkage hub",
        lifespan=lifespan,
        docs_url=None,  # install_docs serves them from assets of the hub's own
        redoc_url=None,
    )
    docs = install_docs(app)
    for router in (
        auth_router,
        units_router,
        addressees_router,
        linkage_router,
        network_router,
        network_provision_router,
        batches_router,
        ordinance_router,
        audit_router,
        web_router,
    ):
        app.include_router(router)
    rest_paths = add_rest_routes(app, catalog)
    # The console authenticates people by its session cookie, not a bearer token (console/signing.py).
    console_prefix = console.install(app, settings)
    _install_error_handlers(app)
    app.add_middleware(
        RequestGuard,
        settings=settings,
        public=_public_paths(app) | docs | {"/"},
        public_prefixes=(f"{console_prefix}/", console_prefix),
        streamed=frozenset({app.url_path_for("receive_message"), app.url_path_for("upload_batch")})
        | rest_paths,
        refuse=lambda error, path: _rest_error(error, path) if path in rest_paths else _json_error(error),
    )
    return app


def _check_time_zone(settings: Settings) -> None:
    """The city's zone is one per process, read from the environment once (kit.clock): settings made in
    code that name another would be ignored, so they are refused."""
    if settings.time_zone != city_zone().key:
        raise ValueError(
            f"{ZONE_VARIABLE}: these settings name {settings.time_zone}, but this process's city is in "
            f"{city_zone().key} (set the zone in the environment, once per process)"
        )


def _public_paths(app: FastAPI) -> frozenset[str]:
    """What anyone may call without a token: health, the OAuth endpoints, and the API's schema (its
    documentation pages are install_docs's)."""
    schema = {app.openapi_url} if app.openapi_url else set()
    # The OAuth endpoints authenticate their callers as clients (their own credentials), not by a token.
    oauth = {app.url_path_for("issue_token"), app.url_path_for("introspect_token")}
    return frozenset({app.url_path_for("healthz")} | oauth | schema)


def _with_token_secret(settings: Settings) -> Settings:
    """The settings with the token secret filled in: a development or test hub given none makes a
    random one the first time and keeps it (0600) for its next starts and its other workers; production
    settings refuse to exist without one."""
    if settings.token_secret is not None:
        return settings
    path = settings.token_secret_path
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        with contextlib.suppress(FileExistsError):  # another worker made it first: theirs is kept
            os.link(draft, path)  # appears whole or not at all
        draft.unlink()
        log.warning("created a development token secret", path=str(path))
    secret = path.read_text(encoding="utf-8").strip()
    if len(secret) < 32:
        raise ValueError(f"the token secret in {path} is shorter than 32 characters")
    return settings.model_copy(update={"token_secret": secret})


async def _open_vault(settings: Settings, engine: AsyncEngine) -> MyNumberVault | None:
    """The My Number key file, if it is there and is the one this database was written with."""
    if not settings.key_file.exists() and settings.environment != "production":
        generate_key_file(settings.key_file)
        log.warning("created a development My Number key file", path=str(settings.key_file))
    try:
        vault = load_vault(settings.key_file)
        async with unit_of_work(create_sessionmaker(engine)) as session:
            if await check_key_file(session, vault):
                return vault
        log.error(
            "the My Number key file is not the one this database was written with",
            path=str(settings.key_file),
        )
    except KeyFileError as exc:
        log.error("My Number key file unusable", error=str(exc))
    except (OperationalError, InterfaceError):
        log.error("cannot check the My Number key file: the database is unavailable")
    return None


def _open_signing_key(settings: Settings) -> SigningKey | None:
    try:
        return load_signing_key(settings.signing_key_file, create=settings.environment != "production")
    except (OSError, ValueError) as exc:
        log.error("checkpoint signing key unusable", path=str(settings.signing_key_file), error=str(exc))
        return None


def _json_error(error: HubError) -> JSONResponse:
    body: dict[str, object] = {"code": error.code, "message": error.message}
    if error.details:
        body["details"] = error.details
    if error.oauth_error:
        body["oauth_error"] = error.oauth_error
    return JSONResponse({"error": body}, status_code=error.status_code, headers=error.headers)


def _rest_error(error: HubError, path: str) -> JSONResponse:
    """A refusal at a REST route in the DA's error body, as the route itself answers."""
    status, body = rest.error_document(error, path)
    return JSONResponse(body, status_code=status, headers=error.headers)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HubError)
    async def hub_error(_: Request, exc: HubError) -> JSONResponse:
        return _json_error(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()]
        return _json_error(SchemaViolation("the request does not match its schema", details=details))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return _json_error(UnknownTarget(str(exc.detail), status_code=exc.status_code))

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def database_error(_: Request, exc: Exception) -> JSONResponse:
        return _json_error(database_unavailable(exc))
