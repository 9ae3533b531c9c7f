"""The transfer record: writing entries, sealing them into the chain, verifying, and what auditors read.

Entries are written in the caller's transaction — the one that accepts or answers the message — so a
transfer and its record commit (or roll back) together.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.audit import chain, repository
from platform_hub.kit.database import utcnow
from platform_hub.models import ChainLink, Checkpoint, TransferRecord


@dataclass(frozen=True)
class TransferFacts:
    """What one transfer was: the same for every person it concerned."""

    reception_number: str
    msgid: str
    interface_id: str
    pattern: str
    requesting_unit: str
    requesting_organ: str
    requesting_department: str | None
    requesting_user: str | None
    providing_unit: str
    providing_organ: str
    purpose_code: str
    information_category: str
    item_names: list[str]
    requested_at: dt.datetime
    provided_at: dt.datetime | None
    outcome: str
    body_digest: str
    ordinance_rule_id: str | None = None
    refusal_reason: str | None = None


def record_transfer(session: AsyncSession, facts: TransferFacts, subjects: Iterable[str | None]) -> None:
    """One record entry per person the transfer concerned, each with the digest of its content."""
    now = utcnow()
    for subject in subjects:
        entry = TransferRecord(**asdict(facts), subject_integrated_number=subject, recorded_at=now)
        entry.entry_digest = chain.entry_digest(entry)
        session.add(entry)


# --- the chain -----------------------------------------------------------------------------------


async def seal(
    session: AsyncSession,
    key: chain.SigningKey | None,
    *,
    batch: int = 5000,
    checkpoint_every: int = 1000,
    checkpoint_after: dt.timedelta = dt.timedelta(minutes=1),
) -> int:
    """Chain the entries not yet sealed; sign a checkpoint when enough entries or time went by.
    Returns how many entries it sealed (0 when another sealer holds the lock)."""
    if not await repository.take_sealer_lock(session):
        return 0
    head = await repository.chain_head(session)
    seq, previous, last_id = (head.seq, head.chain_hash, head.entry_id) if head else (0, chain.GENESIS, 0)
    entries = await repository.unsealed(session, last_id, batch)
    now = utcnow()
    for entry_id, digest in entries:
        seq += 1
        previous = chain.chain_hash(previous, entry_id, digest)
        session.add(
            ChainLink(seq=seq, entry_id=entry_id, entry_digest=digest, chain_hash=previous, sealed_at=now)
        )
    await session.flush()
    if key is not None and seq:
        last = await repository.last_checkpoint(session)
        due = (
            last is None
            or seq - last.seq >= checkpoint_every
            or (seq > last.seq and now - last.created_at >= checkpoint_after)
        )
        if due:
            session.add(
                Checkpoint(
                    seq=seq,
                    head_hash=previous,
                    created_at=now,
                    key_id=key.key_id,
                    signature=key.sign(chain.statement(seq, previous, now)),
                )
            )
            await session.flush()
    return len(entries)


@dataclass
class Verification:
    entries: int = 0
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


async def verify(
    session: AsyncSession,
    public_pem: str | None,
    *,
    outside: Sequence[dict[str, object]] = (),
    unsealed_grace: dt.timedelta = dt.timedelta(minutes=5),
) -> Verification:
    """Recompute every entry's digest and the whole chain, check every checkpoint's signature and head
    (and those an auditor kept outside the hub); name the first entry that does not match."""
    result = Verification()
    heads: dict[int, str] = {}
    previous, expected_seq = chain.GENESIS, 1
    async for link, entry in repository.chain_with_entries(session):
        if link.seq != expected_seq:
            result.problems.append(f"chain link {expected_seq} is missing (next present: {link.seq})")
            break
        if entry is None:
            result.problems.append(f"entry {link.entry_id} (chain link {link.seq}) is missing")
            break
        if chain.entry_digest(entry) != entry.entry_digest or entry.entry_digest != link.entry_digest:
            result.problems.append(
                f"entry {entry.id} (reception {entry.reception_number}, chain link "
                f"{link.seq}) no longer matches its digest: it was altered"
            )
            break
        previous = chain.chain_hash(previous, link.entry_id, link.entry_digest)
        if previous != link.chain_hash:
            result.problems.append(
                f"chain link {link.seq} (entry {link.entry_id}) does not follow from the one before"
            )
            break
        heads[link.seq] = previous
        result.entries += 1
        expected_seq += 1
    stored = [
        {
            "seq": c.seq,
            "head_hash": c.head_hash,
            "created_at": c.created_at,
            "signature": c.signature,
            "id": c.id,
        }
        for c in await repository.checkpoints(session)
    ]
    for checkpoint in [*stored, *outside]:
        _check_checkpoint(checkpoint, heads, public_pem, result)
    late = await repository.unsealed_before(session, utcnow() - unsealed_grace)
    if late:
        result.problems.append(f"entries never sealed into the chain: {', '.join(map(str, late))}")
    return result


def _check_checkpoint(
    checkpoint: dict[str, object], heads: dict[int, str], public_pem: str | None, result: Verification
) -> None:
    seq, head = int(str(checkpoint["seq"])), str(checkpoint["head_hash"])
    created = checkpoint["created_at"]
    created_at = created if isinstance(created, dt.datetime) else dt.datetime.fromisoformat(str(created))
    name = f"checkpoint {checkpoint.get('id', '(kept outside)')} at link {seq}"
    if public_pem and not chain.signature_valid(
        public_pem, chain.statement(seq, head, created_at), str(checkpoint["signature"])
    ):
        result.problems.append(f"{name}: the signature does not verify")
    elif heads.get(seq) != head:
        result.problems.append(f"{name} no longer matches the chain")
    else:
        result.checkpoints += 1
