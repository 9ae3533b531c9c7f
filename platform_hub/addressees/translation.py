"""Translation in routing: the sender's 宛名番号 → the person → the receiver's, one statement each."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.addressees import repository
from platform_hub.protocol.errors import AddresseeUnknown


async def translate(
    session: AsyncSession, from_unit: str, atena: str, to_unit: str | None
) -> tuple[str, str | None]:
    """``(integrated number, to_unit's 宛名番号)`` of the person behind ``from_unit``'s 宛名番号, in one
    statement: E3002 when that number is not linked; ``None`` for the second when neither the person
    nor a record 名寄せ joined to it is linked at ``to_unit`` (or no ``to_unit`` is asked for)."""
    return interpret(
        await repository.translation(session, from_unit, atena, to_unit), from_unit, atena, to_unit
    )


def interpret(rows: Sequence[Any], from_unit: str, atena: str, to_unit: str | None) -> tuple[str, str | None]:
    """``translate``'s answer from the rows of ``repository.translation``'s statement (whichever driver
    ran it: the message path runs it on asyncpg, ``linkage.message_store``)."""
    if not rows:
        raise AddresseeUnknown(
            f"宛名番号 {atena} of unit {from_unit} is not linked to any person in the registry"
        )
    person_id, integrated = rows[0][0], rows[0][1]
    links = [(linked, number) for _, _, linked, number in rows if number is not None] if to_unit else []
    own = [number for linked, number in links if linked == person_id]
    newest = (own or [number for _, number in links] or [None])[-1]  # a renumbered resident's current one
    return integrated, newest


async def atenas_in(session: AsyncSession, person_ids: Collection[int], unit_code: str) -> dict[int, str]:
    """``atena_in`` for many persons at once (a batch chunk); those not linked there are left out."""
    found = await repository.atena_numbers_of(session, person_ids, unit_code)
    missing = set(person_ids) - found.keys()
    merged = await repository.active_merges_touching(session, missing) if missing else []
    for person_id in missing & ({m.person_id for m in merged} | {m.into_person_id for m in merged}):
        links = await repository.active_links_of(
            session, await repository.merge_group(session, person_id), unit_code
        )
        if links:
            found[person_id] = links[-1].atena_number
    return found
