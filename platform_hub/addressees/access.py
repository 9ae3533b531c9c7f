"""Who may see whom in the registry, under which rule, and what each answer leaves in the record.

The model (docs/registry.md has it whole):

- A unit sees in full only the persons it **handles**: those it has an active link to (its own
  宛名番号), whether the hub's own flows made it (住民異動, a 全件 set), the unit registered the person as
  its 住登外者, or the unit linked its number after a search that matched the person's 個人番号 or
  基本4情報. A person it does not handle is, to that unit, unknown (E1003).
- Every registry answer that carries a person's attributes is a provision of **宛名情報** from the
  registry (held by the organ that keeps it, ``PLATFORM_HUB_REGISTRY_ORGAN``) to the unit's organ for
  the 事務 the unit names: the ordinance decides it like any transfer (``use`` within one organ,
  ``provide`` between two — 番号法 第19条第11号), and it leaves one transfer record entry per person,
  with the items shown (個人番号 among them when it was shown).
- The My Number office (role admin) administers the registry: it sees every person, never a My
  Number, and what it does goes to the operations record.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.addressees import repository
from platform_hub.audit.service import TransferFacts, new_reception_number, record_entries, transfer_facts
from platform_hub.kit.clock import utcnow
from platform_hub.kit.database import unit_of_work
from platform_hub.kit.runtime import Runtime
from platform_hub.kit.vault import MyNumberVault
from platform_hub.models import TransferOutcome, TransferPattern, Unit
from platform_hub.ordinance import service as ordinance
from platform_hub.ordinance.service import Decision
from platform_hub.protocol import normalize
from platform_hub.protocol.catalog import Catalog
from platform_hub.protocol.errors import (
    Forbidden,
    OrdinanceRefusal,
    SchemaViolation,
    UnknownTarget,
)
from platform_hub.protocol.numbers import check_my_number

ATENA_CATEGORY = "宛名情報"
REGISTRY_UNIT = "000"  # the registry's own code as a holder, as the hub's on its acknowledgements
# The Japanese item names a registry answer shows, as the transfer record lists them.
ITEM_NAMES = {
    "name": "氏名",
    "name_kana": "氏名カナ",
    "birth_date": "生年月日",
    "sex": "性別",
    "address": "住所",
    "municipality_code": "市区町村コード",
    "status": "住民状態",
    "history": "異動履歴",
    "links": "宛名番号",
    "my_number": "個人番号",
}


@dataclass(frozen=True)
class Caller:
    """Who asks the registry, for which 事務, on behalf of which clerk."""

    client_id: str
    unit: Unit | None  # None: the My Number office (admin)
    purpose: str | None = None
    uses_numbers: bool = False  # the token carries UNIT:mynumber
    department: str | None = None
    clerk: str | None = None
    # The ordinance as this request found it (read before its session was used).
    rulebook: ordinance.Rulebook | None = None

    @property
    def unit_code(self) -> str | None:
        return self.unit.code if self.unit is not None else None

    def may_use_numbers(self, catalog: Catalog) -> bool:
        """A unit uses My Numbers for a 個人番号利用事務 it names, with the token's scope; the office does."""
        if self.unit is None:
            return True
        purpose = catalog.purposes.get(self.purpose or "")
        return self.uses_numbers and purpose is not None and purpose.number_use

    def require_numbers(self, catalog: Catalog) -> None:
        if not self.may_use_numbers(catalog):
            raise Forbidden(
                f"unit {self.unit_code} may not use My Numbers for {self.purpose or 'no named 事務'}: "
                "only for a 個人番号利用事務, with the scope UNIT:mynumber"
            )


@functools.cache
def registry_holder(organ: str) -> Unit:
    """The registry as the holder of 宛名情報 in an ordinance decision (a detached, shared object)."""
    return Unit(code=REGISTRY_UNIT, name="統一宛名", organ=organ, purposes=[], enabled=True)


@dataclass(frozen=True)
class Provision:
    """A registry answer going to a unit, decided by the ordinance: what it records."""

    caller: Caller
    holder: Unit
    operation: str  # ATENA_SEARCH, ATENA_READ …: the transfer record's interface column
    decision: Decision
    at: dt.datetime


def decide(caller: Caller, holder: Unit, operation: str) -> Provision | None:
    """The rule that lets the unit receive 宛名情報 for its named 事務 (``None`` for the office);
    OrdinanceRefusal (E3001) when there is none — the caller records it (``refuse``)."""
    if caller.unit is None:
        return None
    assert caller.rulebook is not None
    if caller.purpose is None:
        raise SchemaViolation("name the 事務 the registry is used for (purpose_code)")
    at = utcnow()
    decision = ordinance.authorize(
        caller.rulebook,
        at,
        receiver=caller.unit,
        holder=holder,
        category=ATENA_CATEGORY,
        purposes=[caller.purpose],
    )
    return Provision(caller, holder, operation, decision, at)


def _facts(
    caller: Caller,
    holder: Unit,
    operation: str,
    at: dt.datetime,
    *,
    outcome: TransferOutcome,
    digest: str,
    items: Sequence[str] = (),
    decision: Decision | None = None,
    refusal: str | None = None,
) -> TransferFacts:
    """A registry answer as a transfer: a reception number of its own (its MSGID too), the operation as
    the interface, 宛名情報 from the registry to the unit for the 事務 it named."""
    assert caller.unit is not None and caller.purpose is not None
    reception = new_reception_number(at)
    return transfer_facts(
        reception_number=reception,
        msgid=reception,
        interface_id=operation,
        pattern=TransferPattern.REGISTRY,
        category=ATENA_CATEGORY,
        purpose_code=caller.purpose,
        requested_at=at,
        body_digest=digest,
        requester=caller.unit,
        provider=holder,
        outcome=outcome,
        items=items,
        department=caller.department,
        user=caller.clerk,
        decision=decision,
        refusal=refusal,
        provided_at=at if outcome == TransferOutcome.PROVIDED else None,
    )


async def record_provision(
    session: AsyncSession,
    record_key: bytes,
    provision: Provision | None,
    shown: Sequence[tuple[str, list[str]]],
    answer: bytes,
) -> None:
    """One transfer record entry per person whose attributes the answer carries (``shown``: each
    person's integrated number and the items shown), in the request's transaction."""
    if provision is None:  # the office administers the registry: its operations record says what it did
        return
    # Keyed: an answer may hold a My Number, and a plain digest of text otherwise known would let
    # whoever reads the record test guesses of it.
    digest = hmac.digest(record_key, answer, "sha256").hex()
    by_items: dict[tuple[str, ...], list[str | None]] = {}
    for integrated, items in shown:
        by_items.setdefault(tuple(items), []).append(integrated)
    for names, subjects in by_items.items():
        facts = _facts(
            provision.caller,
            provision.holder,
            provision.operation,
            provision.at,
            outcome=TransferOutcome.PROVIDED,
            digest=digest,
            items=names,
            decision=provision.decision,
        )
        await record_entries(session, facts, subjects, record_key)


async def refuse(
    state: Runtime,
    caller: Caller,
    holder: Unit,
    operation: str,
    refusal: OrdinanceRefusal,
    subject: str | None = None,
) -> OrdinanceRefusal:
    """Record a refused provision in a transaction of its own (the request's rolls back), and return
    the refusal to raise. Nothing was written before an ordinance decision, so nothing waits on it."""
    if caller.unit is not None and caller.purpose is not None:
        facts = _facts(
            caller,
            holder,
            operation,
            utcnow(),
            outcome=TransferOutcome.REFUSED,
            digest=hashlib.sha256(refusal.message.encode()).hexdigest(),
            refusal=refusal.message,
        )
        async with unit_of_work(state.sessions) as session:
            await record_entries(session, facts, [subject], state.require_vault().record_key)
    return refusal


def unknown_to(caller: Caller, integrated: str) -> UnknownTarget:
    """What a unit is told of a person it may not see — one nobody holds, one it does not handle, one
    its evidence does not match — alike (E1003), so the registry cannot be walked by its counter, nor
    a number's holder confirmed by guessing evidence."""
    return UnknownTarget(f"unit {caller.unit_code} knows no person {integrated}")


async def require_handled(session: AsyncSession, caller: Caller, person_id: int, integrated: str) -> None:
    """A unit reads only persons it handles: an active link of its own to them (or to a record 名寄せ
    joined to them)."""
    if caller.unit_code is None:
        return
    group = await repository.merge_group(session, person_id)
    if not await repository.linked_at(session, group, caller.unit_code):
        raise unknown_to(caller, integrated)


@dataclass(frozen=True)
class Evidence:
    """What a clerk has in hand to say "this is the person": the 個人番号, or 氏名 (or its 読み) and
    生年月日 as the applicant gave them."""

    my_number: str | None = None
    name: str | None = None
    name_kana: str | None = None
    birth_date: str | None = None

    def given(self) -> bool:
        names = bool(normalize.name_key(self.name or "") or normalize.kana_key(self.name_kana or ""))
        return self.my_number is not None or (names and bool(self.birth_date))


async def check_evidence(
    session: AsyncSession,
    vault: MyNumberVault,
    caller: Caller,
    person_id: int,
    evidence: Evidence,
    integrated: str,
) -> None:
    """A unit links its number to a person only with evidence that matches them (any version: an old
    name or address is still the person); otherwise the person is unknown to it (``unknown_to``)."""
    if not evidence.given():
        raise SchemaViolation(
            "a link needs the evidence it rests on: my_number, or name (or name_kana) and birth_date"
        )
    mismatch = unknown_to(caller, integrated)
    if evidence.my_number is not None:
        digest = vault.lookup_hash(check_my_number(evidence.my_number))
        if await repository.my_number_hash_of(session, person_id) != digest:
            raise mismatch
        return
    assert evidence.birth_date is not None
    days = [evidence.birth_date, evidence.birth_date[:8] + "00", evidence.birth_date[:5] + "00-00"]
    name = normalize.name_key(evidence.name) if evidence.name else None
    kana = normalize.kana_key(evidence.name_kana) if evidence.name_kana else None
    if not await repository.version_matches(session, person_id, days, name, kana):
        raise mismatch
