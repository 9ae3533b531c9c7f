"""The operations record (操作ログ): one entry per thing a client did in the hub, written with the MAC
of its digest, chained and sealed like the transfer record.

What goes in: token issues and refusals (認証ログ); every registry search, read, registration, link,
unlink, 名寄せ, restriction and My Number reveal; every change of units, clients, keys and the
ordinance (設定変更ログ); every auditor query. Who (the client, and the clerk when the caller names
one), what, which person, when, the outcome. Never a value of a person's attributes, never a My
Number: whatever text comes from a caller has every 12-digit run masked before it is kept.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.audit import chain, repository
from platform_hub.audit.schemas import OperationOut, OperationSearch
from platform_hub.kit.clock import utcnow
from platform_hub.kit.database import unit_of_work
from platform_hub.models import Operation, OperationOutcome
from platform_hub.ordinance.service import day_start
from platform_hub.protocol.errors import HubError

if TYPE_CHECKING:
    from platform_hub.kit.runtime import Runtime

# Twelve digits, whole, as a 個人番号 is written — in groups of four, too (after NFKC: full-width alike).
_MY_NUMBER_LIKE = re.compile(r"(?<![0-9])[0-9]{4}[ -]?[0-9]{4}[ -]?[0-9]{4}(?![0-9])")


@dataclass(frozen=True)
class Actor:
    """Who acts: an OAuth client (a unit's, staff's), or ``cli:…`` for the command line."""

    client_id: str
    role: str
    unit_code: str | None = None
    department: str | None = None  # 部署, as the caller names it
    clerk: str | None = None  # 操作者ID, as the caller names it


MASK = "*" * 12  # what stands for a 個人番号 in anything kept or shown


def holds_my_number(text: str) -> bool:
    """Whether ``masked`` would change anything of ``text`` but its NFKC form."""
    return _MY_NUMBER_LIKE.search(unicodedata.normalize("NFKC", text)) is not None


def masked(text: str | None) -> str | None:
    """``text`` with anything shaped like a 個人番号 replaced: callers' text is never kept as it came."""
    return None if text is None else _MY_NUMBER_LIKE.sub(MASK, unicodedata.normalize("NFKC", text))


def canonical_parameters(parameters: Mapping[str, object] | None) -> str:
    shown = {key: masked(str(value)) for key, value in (parameters or {}).items() if value is not None}
    return json.dumps(shown, ensure_ascii=False, sort_keys=True)


async def record_operation(
    session: AsyncSession,
    record_key: bytes,
    actor: Actor,
    action: str,
    *,
    subject: str | None = None,
    outcome: OperationOutcome = OperationOutcome.OK,
    detail: str | None = None,
    parameters: Mapping[str, object] | None = None,
) -> None:
    """Write one entry in the caller's transaction (it commits, or not, with what it records)."""
    content = {
        "at": utcnow(),
        "client_id": actor.client_id[:64],
        "role": actor.role[:16],
        "unit_code": actor.unit_code,
        "department": masked(actor.department),
        "clerk": masked(actor.clerk),
        "action": action,
        "subject_integrated_number": subject,
        "outcome": outcome,
        "detail": masked(detail),
        "parameters": canonical_parameters(parameters),
    }
    (digest,) = chain.OPERATIONS.entry_digests(content, [subject])
    await session.execute(
        insert(Operation), {**content, "entry_digest": digest, "entry_mac": chain.mac(record_key, digest)}
    )


async def record_refusal(
    state: Runtime,
    actor: Actor,
    action: str,
    error: HubError,
    *,
    subject: str | None = None,
    detail: str | None = None,
    parameters: Mapping[str, object] | None = None,
) -> None:
    """A refused (or failed) call, in a transaction of its own: the request's rolls back. Written
    before the request's session has written anything, so it waits on no SQLite write turn."""
    if state.vault is None:
        return
    async with unit_of_work(state.sessions) as session:
        await record_operation(
            session,
            state.vault.record_key,
            actor,
            action,
            subject=subject,
            outcome=OperationOutcome.FAILED if error.status_code >= 500 else OperationOutcome.REFUSED,
            detail=f"{error.code}: {detail or error.message}",
            parameters=parameters,
        )


async def newest(session: AsyncSession, search: OperationSearch, limit: int) -> list[OperationOut]:
    """The newest ``limit`` entries ``search`` narrows the record to, newest first; days in the city."""
    entries = await repository.operations(session, operation_query(search), None, limit)
    return [OperationOut.model_validate(entry) for entry in entries]


def operation_query(search: OperationSearch) -> repository.OperationQuery:
    """The query ``search`` asks for: its days run from midnight to midnight in the city."""
    return repository.OperationQuery(
        person=search.integrated_number,
        client_id=search.client_id,
        unit=search.unit,
        action=search.action,
        outcome=search.outcome.value if search.outcome else None,
        start=day_start(search.start) if search.start else None,
        end=day_start(search.end + dt.timedelta(days=1)) if search.end else None,
    )
