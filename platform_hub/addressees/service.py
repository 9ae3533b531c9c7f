"""The registry's rules: persons and their versions, links, 名寄せ, restrictions, and translation.
Who may see and do what is ``access``; what a caller is shown, ``views``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import NamedTuple

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import raiseload

from platform_hub.addressees import access, repository
from platform_hub.addressees.access import Caller, Evidence
from platform_hub.kit.clock import utcnow
from platform_hub.kit.vault import MyNumberVault
from platform_hub.models import AtenaLink, Person, PersonMerge, PersonVersion
from platform_hub.protocol import normalize
from platform_hub.protocol.catalog import Catalog
from platform_hub.protocol.errors import (
    AddresseeUnknown,
    AlreadyExists,
    Forbidden,
    SchemaViolation,
    UnknownTarget,
)
from platform_hub.protocol.numbers import atena_number, check_atena_number, check_my_number
from platform_hub.protocol.registry import BasicInfo, PersonRegistration, ResidentStatus


async def get_person(session: AsyncSession, integrated_number: str) -> Person:
    person = await repository.by_integrated_number(session, integrated_number)
    if person is None:
        raise UnknownTarget(f"no person {integrated_number} in the registry")
    return person


def version_of(
    info: BasicInfo, status: ResidentStatus, valid_from: dt.date, reason: str | None
) -> PersonVersion:
    return PersonVersion(
        valid_from=valid_from,
        valid_to=None,
        name=info.name,
        name_kana=info.name_kana,
        birth_date=info.birth_date,
        sex=info.sex,
        address=info.address,
        municipality_code=info.municipality_code,
        status=status,
        reason=reason,
        name_key=normalize.name_key(info.name),
        kana_key=normalize.kana_key(info.name_kana) if info.name_kana else None,
        address_key=normalize.address_key(info.address),
        recorded_at=utcnow(),
    )


async def new_person(
    session: AsyncSession,
    vault: MyNumberVault,
    info: BasicInfo,
    *,
    status: ResidentStatus,
    valid_from: dt.date,
    reason: str,
    my_number: str | None = None,
) -> Person:
    """Issue an integrated number and create the person with its first version."""
    (serial,) = await repository.reserve_serials(session, 1)
    person = Person(
        integrated_number=atena_number(serial),
        restricted_attributes=[],
        created_at=utcnow(),
        versions=[version_of(info, status, valid_from, reason)],
        links=[],
    )
    if my_number is not None:
        await set_my_number(session, vault, person, my_number)
    session.add(person)
    try:
        await session.flush()
    except IntegrityError:  # the same 個人番号 registered concurrently
        raise AlreadyExists("a person with this 個人番号 was registered at the same time") from None
    return person


async def set_my_number(session: AsyncSession, vault: MyNumberVault, person: Person, my_number: str) -> None:
    digest = vault.lookup_hash(check_my_number(my_number))
    holder = await repository.by_my_number_hash(session, digest)
    if holder is not None and holder is not person:
        # Not naming the holder: that would answer "whose number is this?" outside search and its record.
        raise AlreadyExists("this 個人番号 is registered already: search by it, and link to that person")
    person.my_number_key_id, person.my_number_ciphertext = vault.encrypt(my_number, person.integrated_number)
    person.my_number_hash = digest


async def register_person(
    session: AsyncSession, vault: MyNumberVault, catalog: Catalog, body: PersonRegistration, caller: Caller
) -> Person:
    """Register a person with a unit's own 宛名番号: units register 住登外者 only (residents come from
    住民基本台帳's own flows, 住民異動 and 全件 sets); the My Number office registers anyone."""
    if caller.unit is not None and body.status != ResidentStatus.NON_RESIDENT:
        raise Forbidden(
            f"unit {caller.unit_code} registers 住登外者 only (status non_resident): residents and their "
            "changes come from 住民基本台帳 (住民異動通知, 住民情報一括提供)"
        )
    if body.my_number is not None:
        caller.require_numbers(catalog)
    check_atena_number(body.atena_number)
    if await repository.active_link(session, body.unit_code, body.atena_number) is not None:
        raise AlreadyExists(f"宛名番号 {body.atena_number} of unit {body.unit_code} is linked already")
    person = await new_person(
        session,
        vault,
        body,
        status=body.status,
        valid_from=body.valid_from or dt.date.today(),
        reason=body.reason,
        my_number=body.my_number,
    )
    await link(
        session,
        person,
        body.unit_code,
        body.atena_number,
        reason=body.reason,
        actor=caller.client_id,
        non_resident=body.status == ResidentStatus.NON_RESIDENT,
    )
    return person


async def add_version(
    session: AsyncSession,
    person_id: int,
    info: BasicInfo,
    *,
    status: ResidentStatus,
    valid_from: dt.date,
    reason: str,
    locked: bool = False,
) -> PersonVersion:
    """Close the current version and add the next; the history is never rewritten (nor read: the
    person's versions need not be loaded)."""
    closed = await repository.close_current_version(session, person_id, valid_from, locked=locked)
    version = version_of(info, status, closed or valid_from, reason)
    version.person_id = person_id
    session.add(version)
    await session.flush()
    return version


async def link_with_evidence(
    session: AsyncSession,
    vault: MyNumberVault,
    catalog: Catalog,
    person: Person,
    caller: Caller,
    unit_code: str,
    atena: str,
    *,
    reason: str,
    evidence: Evidence,
) -> AtenaLink:
    """A unit links its own 宛名番号 to a person only on evidence that matches them (the clerk's
    個人番号 or 基本4情報 of the applicant: what a search found them by); the office needs none."""
    if caller.unit is not None:
        if evidence.my_number is not None:
            caller.require_numbers(catalog)
        await access.check_evidence(session, vault, caller, person.id, evidence, person.integrated_number)
    return await link(session, person, unit_code, atena, reason=reason, actor=caller.client_id)


async def link(
    session: AsyncSession,
    person: Person,
    unit_code: str,
    atena: str,
    *,
    reason: str,
    actor: str,
    non_resident: bool = False,
) -> AtenaLink:
    check_atena_number(atena)
    if await repository.active_link(session, unit_code, atena) is not None:
        raise AlreadyExists(f"宛名番号 {atena} of unit {unit_code} is linked already")
    created = AtenaLink(
        person_id=person.id,
        unit_code=unit_code,
        atena_number=atena,
        non_resident=non_resident,
        linked_at=utcnow(),
        linked_by=actor,
        link_reason=reason,
    )
    person.links.append(created)
    try:
        await session.flush()
    except IntegrityError:  # a concurrent link of the same number won
        raise AlreadyExists(f"宛名番号 {atena} of unit {unit_code} is linked already") from None
    return created


async def unlink(session: AsyncSession, unit_code: str, atena: str, *, reason: str, actor: str) -> AtenaLink:
    found = await repository.active_link(session, unit_code, atena)
    if found is None:
        raise UnknownTarget(f"宛名番号 {atena} of unit {unit_code} is not linked")
    found.unlinked_at, found.unlinked_by, found.unlink_reason = utcnow(), actor, reason
    await session.flush()
    return found


async def merge(session: AsyncSession, integrated: str, into: str, *, reason: str, actor: str) -> PersonMerge:
    person, target = await get_person(session, integrated), await get_person(session, into)
    if person.id in await repository.merge_group(session, target.id):
        raise AlreadyExists(f"{integrated} and {into} are merged already")
    members = await repository.persons_by_ids(
        session,
        await repository.merge_group(session, person.id) | await repository.merge_group(session, target.id),
    )
    if len({p.my_number_hash for p in members.values() if p.my_number_hash}) > 1:
        raise SchemaViolation("these records carry different 個人番号: they are not one person")
    record = PersonMerge(
        person_id=person.id, into_person_id=target.id, merged_at=utcnow(), merged_by=actor, reason=reason
    )
    session.add(record)
    await session.flush()
    return record


async def undo_merge(session: AsyncSession, merge_id: int, *, reason: str, actor: str) -> PersonMerge:
    record = await repository.get_merge(session, merge_id)
    if record is None or record.undone_at is not None:
        raise UnknownTarget(f"no active merge {merge_id}")
    record.undone_at, record.undone_by, record.undo_reason = utcnow(), actor, reason
    await session.flush()
    return record


async def restrict(
    session: AsyncSession, person: Person, caller: Caller, unit_code: str, attributes: list[str]
) -> None:
    """他業務参照不可: attributes hidden from every unit but ``unit_code``. A unit sets (and lifts) it
    only for a person it handles, and only if no other unit set it; the office sets or lifts any."""
    if caller.unit is not None:
        await access.require_handled(session, caller, person.id, person.integrated_number)
        if person.restricted_by_unit not in (None, unit_code):
            raise Forbidden(
                f"unit {person.restricted_by_unit} set these restrictions; only it (or the My Number "
                "office) may change them"
            )
    person.restricted_attributes = sorted(set(attributes))
    person.restricted_by_unit = unit_code if attributes else None
    await session.flush()


# --- translation in routing -----------------------------------------------------------------------


async def translate(
    session: AsyncSession, from_unit: str, atena: str, to_unit: str | None
) -> tuple[str, str | None]:
    """``(integrated number, to_unit's 宛名番号)`` of the person behind ``from_unit``'s 宛名番号, in one
    statement: E3002 when that number is not linked; ``None`` for the second when neither the person
    nor a record 名寄せ joined to it is linked at ``to_unit`` (or no ``to_unit`` is asked for)."""
    rows = await repository.translation(session, from_unit, atena, to_unit)
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


# --- the registry fed by 住民異動通知 ---------------------------------------------------------------

# 住民状態 code of the 住民異動通知 → the registry's status.
_RESIDENT_STATES = {
    "1": ResidentStatus.RESIDENT,
    "2": ResidentStatus.MOVED_OUT,
    "3": ResidentStatus.DECEASED,
    "4": ResidentStatus.MOVED_OUT,
}
_CREATING_EVENTS = {"01", "04", "08"}  # 転入, 出生, 職権記載


class PersonRef(NamedTuple):
    """Who a 住民異動 concerned: what its callers need of the person, without loading them."""

    id: int
    integrated_number: str


def introduces_person(fields: dict[str, str]) -> bool:
    """A 住民異動 that brings a person into the city (転入, 出生, 職権記載): units may not know them yet."""
    return fields.get("IdoJiyuCode") in _CREATING_EVENTS


async def apply_resident_change(
    session: AsyncSession,
    vault: MyNumberVault,
    unit_code: str,
    fields: dict[str, str],
    my_number: str | None,
    *,
    actor: str,
    event_name: str,
    bring_in: bool = False,
) -> PersonRef:
    """Apply one 住民異動 of unit ``unit_code`` (住民基本台帳) to the registry, in the caller's transaction.

    転入・出生・職権記載 (or any change, to ``bring_in`` every resident of a 全件 set) create the person
    (or find them by 個人番号) and link the unit's 宛名番号; every other change adds a version to a
    person the unit has linked, or is E3002. A refusal comes before anything is written.
    """
    atena = check_atena_number(fields["AtenaNo"])
    status = _RESIDENT_STATES[fields["JuminJotaiCode"]]
    moved_away = status == ResidentStatus.MOVED_OUT and fields.get("TenshutsusakiJusho")
    try:
        info = BasicInfo(
            name=fields["Shimei"],
            name_kana=fields.get("ShimeiKana"),
            birth_date=fields["SeinengappiDate"],
            sex=fields["SeibetsuCode"],
            address=fields["TenshutsusakiJusho"] if moved_away else fields["Jusho"],
            municipality_code=None if moved_away else fields.get("ShikuchosonCode"),
        )
    except ValidationError as invalid:
        raise SchemaViolation(
            f"the 住民異動 of 宛名番号 {atena} does not fit the registry",
            details=[f"{'.'.join(map(str, e['loc'])) or 'person'}: {e['msg']}" for e in invalid.errors()],
        ) from None
    effective = dt.date.fromisoformat(fields["IdoDate"])
    existing = await repository.linked_person_locked(session, unit_code, atena)
    if existing is not None:
        if my_number is not None:
            # An object only to set the number on, and still without the history.
            history = [raiseload(Person.versions), raiseload(Person.links)]
            person = await session.get(Person, existing.id, options=history)
            assert person is not None
            await set_my_number(session, vault, person, my_number)
        await add_version(
            session, existing.id, info, status=status, valid_from=effective, reason=event_name, locked=True
        )
        return PersonRef(existing.id, existing.integrated_number)
    if fields["IdoJiyuCode"] not in _CREATING_EVENTS and not bring_in:
        raise AddresseeUnknown(
            f"宛名番号 {atena} of unit {unit_code} is not linked: {event_name} needs a known person"
        )
    person = None
    if my_number is not None:
        person = await repository.by_my_number_hash(session, vault.lookup_hash(check_my_number(my_number)))
    if person is None:
        person = await new_person(
            session, vault, info, status=status, valid_from=effective, reason=event_name, my_number=my_number
        )
    else:  # a former resident (or a 住登外者) comes back: same person, a new version
        await add_version(session, person.id, info, status=status, valid_from=effective, reason=event_name)
    await link(session, person, unit_code, atena, reason=event_name, actor=actor)
    return PersonRef(person.id, person.integrated_number)


async def check_key_file(session: AsyncSession, vault: MyNumberVault) -> bool:
    """``True`` when the database was written with this key file (or is new, and is now bound to it)."""
    stored = await repository.key_fingerprint(session, "my_number_hmac")
    if stored is None:
        repository.add_key_fingerprint(session, "my_number_hmac", vault.fingerprint())
        return True
    return stored == vault.fingerprint()
