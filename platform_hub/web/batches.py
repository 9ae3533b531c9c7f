"""HTTP: upload a batch file (XML or CSV), follow its progress, read its per-record result report."""

from __future__ import annotations

import tempfile
from typing import IO

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from starlette.requests import ClientDisconnect

from platform_hub.auth.service import Principal, send_scope
from platform_hub.batches import files, reports, service
from platform_hub.batches.reader import csv_head
from platform_hub.batches.schemas import BatchOut, OutboxEntry
from platform_hub.protocol.catalog import CompiledInterface
from platform_hub.protocol.errors import Forbidden, MalformedMessage, UnknownTarget
from platform_hub.protocol.specs import Pattern
from platform_hub.web.linkage import soap_exchange
from platform_hub.web.security import CurrentPrincipal
from platform_hub.web.state import HubState, Session, State

router = APIRouter(prefix="/batches", tags=["batches"])
XML_TYPES = {"text/xml", "application/xml"}
_SPOOL_IN_MEMORY = 8 * 1024 * 1024  # a larger upload goes to a temporary file


@router.post(
    "",
    response_class=Response,
    responses={
        200: {"content": {"text/xml": {}}, "description": "the _S01 answer with the record counts"},
        400: {"content": {"text/xml": {}}, "description": "a SOAP Fault with an error code"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/xml": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
)
async def upload_batch(request: Request) -> Response:
    """A batch file: the batch message's envelope (``text/xml``), or its records as CSV (``text/csv``:
    a header row of item names, romaji or 項目名) with the head in the query — ``interface``,
    ``msgid``, ``purpose_code``, ``department``, ``user``, optional ``mode`` and ``destination``, and
    the batch's own items by romaji (``KazeiNendo=2026``). Answers as ``POST /linkage/messages``.
    Sending the same MSGID again after a failure resumes the batch where it stopped."""

    async def handle(state: HubState, principal: Principal) -> bytes:
        kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if kind not in XML_TYPES and kind != "text/csv":
            raise MalformedMessage(f"a batch file is text/xml or text/csv, not {kind or 'untyped'}")
        fields = dict(request.query_params)
        compiled = None
        if kind == "text/csv":
            compiled = state.catalog.get(fields.get("interface", ""))
            if compiled is None:
                raise UnknownTarget(f"unknown interface {fields.get('interface')!r} (the query's interface=)")
        _check_may_send(state, principal, compiled)
        with await _spool(request, state.settings.batch_max_bytes) as spool:
            if compiled is None:
                return await service.receive_xml(state, principal, spool)
            head = csv_head(compiled.spec, principal.unit_code or "", fields)
            return await service.receive_csv(state, principal, spool, head)

    return await soap_exchange(request, handle)


def _check_may_send(state: HubState, principal: Principal, compiled: CompiledInterface | None) -> None:
    """E2002 before a byte of the file is read (a file of any size is spooled to disk) unless the token
    may send a batch the file can be: the CSV's interface, or for XML, which names it inside, any batch
    interface. The message's own check of source and scope follows, as for any message."""
    unit = principal.unit_code or ""
    if compiled is not None:
        scopes = [send_scope(unit, compiled.spec.id)]
    else:
        scopes = [
            send_scope(unit, spec.id) for spec in state.catalog.specs() if spec.pattern == Pattern.BATCH
        ]
    if principal.role != "unit" or not principal.scopes.intersection(scopes):
        raise Forbidden(f"the token may send no batch {'of ' + compiled.spec.id if compiled else 'at all'}")


async def _spool(request: Request, limit: int) -> IO[bytes]:
    """The upload, read to its end before any record is checked (a file of any size, in bounded memory)."""
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115 - the caller closes it
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise MalformedMessage(f"batch file exceeds the limit of {limit} bytes")
            spool.write(chunk)
    except ClientDisconnect:
        spool.close()
        raise MalformedMessage("the upload was cut short") from None
    except MalformedMessage:
        spool.close()
        raise
    if not size:
        spool.close()
        raise MalformedMessage("empty batch file")
    spool.seek(0)
    return spool


@router.get("/outbox", response_model=list[OutboxEntry])
async def list_outbox(state: State, principal: CurrentPrincipal) -> list[OutboxEntry]:
    """The batch files the calling unit takes as files (its SFTP ``outbox/``): each one's interface,
    name and size."""
    unit = _unit_of(principal)
    return [
        OutboxEntry(interface_id=interface_id, name=name, size=size)
        for interface_id, name, size in files.outbox_listing(state.settings.files_dir, unit)
    ]


@router.get(
    "/outbox/{interface_id}/{name}",
    response_class=FileResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "in the unit's declared encoding"}},
)
async def get_outbox_file(
    interface_id: str, name: str, state: State, principal: CurrentPrincipal
) -> FileResponse:
    """One batch file of the calling unit's outbox: a header row of romaji item names, then the
    batch's records it may have, in the encoding it declared (as in its SFTP ``outbox/``)."""
    unit = _unit_of(principal)
    path = files.find_outbox_file(state.settings.files_dir, unit, interface_id, name)
    if path is None:
        raise UnknownTarget(f"no file {interface_id}/{name} in the outbox of unit {unit}")
    encoding = await service.declared_encoding(state, unit, interface_id, "subscribes")
    return FileResponse(path, media_type=f"text/csv; charset={files.codec(encoding)}", filename=name)


def _unit_of(principal: Principal) -> str:
    if principal.role != "unit" or not principal.unit_code:
        raise Forbidden("only a unit has an outbox")
    return principal.unit_code


@router.get("/{reception_number}", response_model=BatchOut)
async def get_batch(reception_number: str, session: Session, principal: CurrentPrincipal) -> BatchOut:
    """How far the batch is: received, accepted and refused records, and each subscriber's progress."""
    message, batch = await service.batch_of(session, principal, reception_number)
    return await service.progress(session, message, batch)


@router.get(
    "/{reception_number}/results",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}}, "description": "in the sender's encoding, Japanese headers"}
    },
)
async def batch_results(
    reception_number: str, state: State, session: Session, principal: CurrentPrincipal
) -> StreamingResponse:
    """Every refused record as CSV, in the encoding the sender declared for the interface (UTF-8
    with BOM unless it declared another): refused at intake (送付先 empty) or, when it was
    delivered, for one subscriber — with the error code and why."""
    message, _ = await service.batch_of(session, principal, reception_number)
    encoding = await service.declared_encoding(state, message.source_unit, message.interface_id, "provides")
    return StreamingResponse(
        reports.report(state, message, encoding),
        media_type=f"text/csv; charset={files.codec(encoding)}",
        headers={"Content-Disposition": f'attachment; filename="batch-{reception_number}-results.csv"'},
    )
