"""A business unit (業務ユニット) on the hub: what every adapter needs and nobody should write twice.

    unit = Unit("002", "個人住民税", "市長", purposes=["ZEI-001"], hub_url=…, base_url=…, database=…,
                integrator=Credentials(…))

    @unit.on_query("IF_ZEI_0001")
    async def income(message: Received) -> Payload: …

    app = unit.app()   # serves POST /linkage/messages; registers and sends heartbeats while it runs

At start the unit registers itself (``POST /adapters``) with the integrator's credentials unless its
database holds its own credentials from an earlier start; then it sends heartbeats. What the hub
delivers is checked against the hub's XSD, handled once per MSGID (a repeated delivery gets the
first answer, the handler is not called again) and answered with ``_S01`` or a SOAP Fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from platform_hub.protocol.catalog import CompiledInterface
from platform_hub.protocol.envelope import SOAP_CONTENT_TYPE, Envelope, fault, read_envelope
from platform_hub.protocol.errors import HubError, SchemaViolation
from platform_hub.protocol.specs import Pattern
from platform_hub.protocol.xml import parse_xml
from platform_hub_sdk.auth import Credentials, TokenMethod, TokenSource
from platform_hub_sdk.catalog import InterfaceCatalog
from platform_hub_sdk.errors import LinkageError
from platform_hub_sdk.hub import HUB_XML_LIMITS, MAX_ANSWER_BYTES, HubConnection
from platform_hub_sdk.messages import (
    Received,
    answer_message,
    new_msgid,
    read_message,
    request_message,
)
from platform_hub_sdk.network import Network
from platform_hub_sdk.payload import Payload
from platform_hub_sdk.registry import Registry
from platform_hub_sdk.rest import ROUTE as REST_ROUTE
from platform_hub_sdk.rest import RestApi
from platform_hub_sdk.store import UnitStore

log = logging.getLogger("platform_hub_sdk")
QueryHandler = Callable[[Received], Awaitable[Payload]]
NotificationHandler = Callable[[Received], Awaitable[Payload | None]]
H = TypeVar("H", bound=Callable[[Received], Awaitable[Any]])
_HUB_START_SECONDS = 30.0


@dataclass(frozen=True)
class Reply:
    """The hub's answer to what the unit sent: the ``_S01`` payload and the hub's reception number."""

    msgid: str
    reception_number: str | None
    payload: Payload = field(repr=False)


class Unit:
    """One business unit: its code, organ and 事務, its handlers, and its connection to the hub."""

    def __init__(
        self,
        code: str,
        name: str,
        organ: str,
        *,
        hub_url: str,
        base_url: str,
        database: Path | str,
        purposes: Sequence[str],
        emits: Sequence[str] = (),
        integrator: Credentials | None = None,
        credentials: Credentials | None = None,
        mode: Literal["production", "test"] = "production",
        department: str = "SYSTEM",
        user: str = "adapter",
        heartbeat_seconds: float = 30.0,
        catalog: InterfaceCatalog | None = None,
        token_method: TokenMethod = "auto",  # noqa: S107 - a method's name, not a secret
        rest: Sequence[str] = (),
    ) -> None:
        self.code, self.name, self.organ = code, name, organ
        self.hub_url, self.base_url = hub_url.rstrip("/"), base_url.rstrip("/")
        self.purposes, self.emits = list(purposes), list(emits)
        self.integrator, self.mode = integrator, mode
        self.department, self.user = department, user
        self.heartbeat_seconds = heartbeat_seconds
        self.token_method = token_method  # how the unit's own client authenticates (auth.TokenSource)
        self.rest = list(rest)  # what the hub sends it by REST (rest.py), the rest by SOAP
        self.store = UnitStore(database)
        if credentials is not None and self.store.credentials(code) is None:
            self.store.save_credentials(code, credentials)  # registered by an integrator beforehand
        self.catalog = catalog or InterfaceCatalog()
        self.registry = Registry(lambda: self.hub, self._unit_tokens, code, self.purposes[0])
        self.network = Network(lambda: self.hub, self._unit_tokens, self.purposes[0])
        self._queries: dict[str, QueryHandler] = {}
        self._notifications: dict[str, NotificationHandler] = {}
        self._hub: HubConnection | None = None
        self._tokens: TokenSource | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._rest = RestApi(self)

    # --- handlers ------------------------------------------------------------------------------

    def on_query(self, interface_id: str) -> Callable[[H], H]:
        """Answer the query ``interface_id``: the handler returns the ``_S01`` payload."""

        def register(handler: H) -> H:
            self._queries[interface_id] = handler
            return handler

        return register

    def on_notification(self, interface_id: str) -> Callable[[H], H]:
        """Take the notification (or batch) ``interface_id``; the unit subscribes to it at registration."""

        def register(handler: H) -> H:
            self._notifications[interface_id] = handler
            return handler

        return register

    # --- life cycle ----------------------------------------------------------------------------

    @property
    def hub(self) -> HubConnection:
        if self._hub is None:
            raise RuntimeError(f"unit {self.code} is not started (await unit.start() or serve unit.app())")
        return self._hub

    @property
    def started(self) -> bool:
        return self._tokens is not None

    async def start(self) -> None:
        """Connect, register unless registered, load the interfaces used, start the heartbeats."""
        self._hub = HubConnection(httpx.AsyncClient(base_url=self.hub_url, timeout=60.0))
        self.catalog.bind(self._fetch_interface)
        await self._wait_for_hub()
        await self._ensure_registered()
        for interface_id in {*self._queries, *self._notifications, *self.emits}:
            await self.catalog.get(interface_id)
        self._heartbeat = asyncio.create_task(self._beat(), name=f"heartbeat {self.code}")

    async def stop(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        if self._hub is not None:
            await self._hub.http.aclose()
        self._hub, self._tokens, self._heartbeat = None, None, None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Unit]:
        await self.start()
        try:
            yield self
        finally:
            await self.stop()

    def app(self, routes: Sequence[BaseRoute] = ()) -> Starlette:
        """The unit's HTTP service: ``POST /linkage/messages``, its REST API (``/da/…``, rest.py),
        ``GET /healthz`` and ``routes``."""

        @contextlib.asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            async with self.running():
                yield

        return Starlette(
            routes=[
                Route("/linkage/messages", self._endpoint, methods=["POST"]),
                Route(REST_ROUTE, self._rest.endpoint, methods=["GET", "POST"]),
                Route("/healthz", self._health, methods=["GET"]),
                *routes,
            ],
            lifespan=lifespan,
        )

    async def _wait_for_hub(self) -> None:
        """A unit may start beside the hub (the demo): wait for it a little rather than fail."""
        deadline = time.monotonic() + _HUB_START_SECONDS
        while True:
            try:
                await self.hub.http.get("/healthz")
                return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    async def _ensure_registered(self) -> None:
        stored = self.store.credentials(self.code)
        if stored is not None:
            tokens = TokenSource(self.hub.http, stored, method=self.token_method)
            try:
                await tokens.token()
                self._tokens = tokens
                await self._check_base_url()
                return
            except LinkageError as error:
                if error.code != "E2001":
                    raise
                # A hub started afresh knows nothing of us: register again below.
                log.warning("unit %s: stored credentials refused by the hub, registering anew", self.code)
                self.store.forget_credentials(self.code)
        credentials = await self._register()
        self.store.save_credentials(self.code, credentials)
        self._tokens = TokenSource(self.hub.http, credentials, method=self.token_method)

    async def _check_base_url(self) -> None:
        """The hub keeps the address a unit registered with and has no call to change it: a unit
        restarted elsewhere would not get its messages, so say so at once."""
        if self.integrator is None:
            return
        registered = await self.hub.call(
            "GET", f"/adapters/{self.code}", TokenSource(self.hub.http, self.integrator)
        )
        if str(registered["base_url"]).rstrip("/") != self.base_url:
            log.warning(
                "unit %s listens at %s but the hub delivers to %s",
                self.code,
                self.base_url,
                registered["base_url"],
            )

    async def _register(self) -> Credentials:
        if self.integrator is None:
            raise LinkageError(
                "E2001", f"unit {self.code} has no credentials, and no integrator's to register"
            )
        body = {
            "unit_code": self.code,
            "name": self.name,
            "organ": self.organ,
            "base_url": self.base_url,
            "provides": sorted({*self._queries, *self.emits}),
            "subscribes": sorted(self._notifications),
            "purposes": self.purposes,
            "mode": self.mode,
            "rest": sorted(self.rest),
        }
        try:
            answer = await self.hub.call(
                "POST", "/adapters", TokenSource(self.hub.http, self.integrator), body
            )
        except LinkageError as error:
            if error.code == "E1004":  # the hub shows a unit's secret only once, at registration
                raise LinkageError(
                    "E1004",
                    f"unit {self.code} is registered at the hub already but its credentials are not in "
                    "this unit's database: pass them as credentials=…, or have an integrator give it new "
                    f"ones (POST /adapters/{self.code}/secret; platform-hub units rotate-secret {self.code})",
                ) from None
            raise
        log.info("unit %s registered at %s", self.code, self.hub_url)
        return Credentials(str(answer["client_id"]), str(answer["client_secret"]))

    def handles(self, interface_id: str) -> bool:
        return interface_id in self._queries or interface_id in self._notifications

    async def own_credentials(self) -> Credentials:
        return (await self._unit_tokens()).credentials

    async def _unit_tokens(self) -> TokenSource:
        if self._tokens is None:
            raise RuntimeError(f"unit {self.code} is not started")
        return self._tokens

    async def _fetch_interface(self, interface_id: str, version: int) -> tuple[Any, bytes]:
        tokens = await self._unit_tokens()
        spec = await self.hub.call("GET", f"/interfaces/{interface_id}?version={version}", tokens)
        return spec, await self.hub.get_bytes(f"/interfaces/{interface_id}/xsd?version={version}", tokens)

    async def _beat(self) -> None:
        while True:
            try:
                await self.hub.call("POST", f"/adapters/{self.code}/heartbeat", await self._unit_tokens())
            except (LinkageError, httpx.HTTPError) as exc:  # the hub may be restarting: keep beating
                log.warning("unit %s: heartbeat failed: %s", self.code, exc)
            await asyncio.sleep(self.heartbeat_seconds)

    async def _health(self, _: Request) -> Response:
        return JSONResponse(
            {"unit": self.code, "registered": self.started}, status_code=200 if self.started else 503
        )

    # --- sending -------------------------------------------------------------------------------

    async def query(
        self,
        interface_id: str,
        payload: Payload,
        *,
        destination: str | None = None,
        purpose: str | None = None,
        msgid: str | None = None,
        department: str | None = None,
        user: str | None = None,
    ) -> Reply:
        """照会: the provider's answer (in this unit's 宛名番号), or the hub's refusal as ``LinkageError``."""
        return await self._send("query", interface_id, payload, destination, purpose, msgid, department, user)

    async def notify(
        self,
        interface_id: str,
        payload: Payload,
        *,
        destination: str | None = None,
        purpose: str | None = None,
        msgid: str | None = None,
        department: str | None = None,
        user: str | None = None,
    ) -> Reply:
        """通知 or 一括: the hub's acknowledgement once it has taken the message durably."""
        return await self._send(
            "notify", interface_id, payload, destination, purpose, msgid, department, user
        )

    async def _send(
        self,
        kind: Literal["query", "notify"],
        interface_id: str,
        payload: Payload,
        destination: str | None,
        purpose: str | None,
        msgid: str | None,
        department: str | None,
        user: str | None,
    ) -> Reply:
        compiled = await self.catalog.get(interface_id)
        if (compiled.spec.pattern == Pattern.QUERY) != (kind == "query"):
            other = "notify" if kind == "query" else "query"
            raise ValueError(f"{interface_id} is a {compiled.spec.pattern}: use {other}()")
        msgid = msgid or new_msgid()
        envelope = request_message(
            compiled,
            payload,
            source=self.code,
            destination=destination,
            purpose=purpose or self.purposes[0],
            msgid=msgid,
            mode="1" if self.mode == "test" else "0",
            department=department or self.department,
            user=user or self.user,
        )
        try:  # what the hub would refuse is refused here, before sending
            compiled.validate(envelope.message)
        except SchemaViolation as invalid:
            raise LinkageError("E1002", invalid.message, details=invalid.details) from None
        answer = await self.hub.send(envelope.to_bytes(), await self._unit_tokens())
        _validate_answer(compiled, answer)
        received = read_message(compiled, answer)
        return Reply(msgid=msgid, reception_number=received.reception_number, payload=received.payload)

    # --- receiving -----------------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> Response:
        chunks, size = [], 0
        async for chunk in request.stream():  # stop reading as soon as the body passes the cap
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                error = LinkageError("E1001", f"message body exceeds {MAX_ANSWER_BYTES} bytes")
                return Response(fault(error), status_code=error.status_code, media_type=SOAP_CONTENT_TYPE)
            chunks.append(chunk)
        status, answer = await self.receive(b"".join(chunks))
        return Response(answer, status_code=status, media_type=SOAP_CONTENT_TYPE)

    async def receive(self, body: bytes, version: int = 1) -> tuple[int, bytes]:
        """Handle one message the hub delivers: ``(HTTP status, _S01 answer or SOAP Fault)``; a later
        ``version`` of its interface comes by REST only (rest.py)."""
        try:
            envelope = read_envelope(parse_xml(body, max_bytes=MAX_ANSWER_BYTES, limits=HUB_XML_LIMITS))
            interface_id, _, suffix = envelope.message_type.rpartition("_")
            handler = self._queries.get(interface_id) or self._notifications.get(interface_id)
            if suffix != "R01" or handler is None:
                raise LinkageError("E1003", f"unit {self.code} takes no {envelope.message_type}")
            compiled = await self.catalog.get(interface_id, version)
            compiled.validate(envelope.message)
            received = read_message(compiled, envelope)
            if received.destination not in (None, self.code):
                raise LinkageError("E1003", f"this is unit {self.code}, not {received.destination}")
            return 200, await self._handle_once(compiled, received, handler)
        except HubError as error:
            return error.status_code, fault(error)
        except Exception:
            log.exception("unit %s failed to handle a message", self.code)
            return 500, fault(LinkageError("E5000", f"unit {self.code} failed to handle the message"))

    async def _handle_once(
        self,
        compiled: CompiledInterface,
        received: Received,
        handler: Callable[[Received], Awaitable[Payload | None]],
    ) -> bytes:
        claim = self.store.claim(received.source, received.msgid, compiled.spec.id)
        if claim.replay is not None:
            return claim.replay
        if claim.busy:
            raise LinkageError("E5001", f"MSGID {received.msgid} is still being handled; send it again later")
        try:
            answer = self._answer(compiled, received, await handler(received))
        except BaseException:
            self.store.release(received.source, received.msgid)
            raise
        self.store.finish(received.source, received.msgid, answer)
        return answer

    def _answer(self, compiled: CompiledInterface, received: Received, result: Payload | None) -> bytes:
        spec = compiled.spec
        if spec.pattern == Pattern.QUERY and result is None:
            raise TypeError(f"the {spec.id} handler returned no answer")
        if result is None and spec.pattern == Pattern.BATCH:
            result = batch_counts(compiled, received)
        answer = answer_message(compiled, received, self.code, result or {})
        try:
            compiled.validate(answer.message)
        except SchemaViolation as invalid:  # our own bug: the hub must not get an invalid answer
            log.error("unit %s: answer fails the %s XSD: %s", self.code, spec.id, invalid.details)
            raise LinkageError(
                "E5000", f"unit {self.code} built an answer that fails the {spec.id} XSD"
            ) from None
        return answer.to_bytes()


def batch_counts(compiled: CompiledInterface, received: Received) -> Payload:
    """A batch taken whole: every record received, none refused (a handler may answer its own counts)."""
    group = next((item for item in compiled.spec.request if item.type == "GROUP"), None)
    records = len(received.payload.get(group.romaji, [])) if group else 1
    return {"UketsukeKensu": records, "SeijoKensu": records, "ErrorKensu": 0}


def _validate_answer(compiled: CompiledInterface, answer: Envelope) -> None:
    if answer.message_type != compiled.spec.response_type:
        raise LinkageError(
            "E5000", f"the hub answered {answer.message_type}, not {compiled.spec.response_type}"
        )
    try:
        compiled.validate(answer.message)
    except SchemaViolation as invalid:
        raise LinkageError(
            "E1002", f"the answer fails the {compiled.spec.id} XSD", details=invalid.details
        ) from None
