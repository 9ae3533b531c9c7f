"""The registry's rules: persons and their versions, links, 名寄せ, restrictions. Translation in routing
is ``translation``, the feed of 住民異動通知 ``resident_changes``; who may see and do what is ``access``;
what a caller is shown, ``views``."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.addressees import access, repository
from platform_hub.addressees.access import Caller, Evidence
from platform_hub.kit.clock import city_today, utcnow
from platform_hub.kit.vault import MyNumberVault
from platform_hub.models import AtenaLink, Person, PersonMerge, PersonVersion
from platform_hub.protocol import normalize
from platform_hub.protocol.catalog import Catalog
from platform_hub.protocol.errors import (
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
        valid_from=body.valid_from or city_today(),
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


async def check_key_file(session: AsyncSession, vault: MyNumberVault) -> bool:
    """``True`` when the database was written with this key file (or is new, and is now bound to it)."""
    stored = await repository.key_fingerprint(session, "my_number_hmac")
    if stored is None:
        repository.add_key_fingerprint(session, "my_number_hmac", vault.fingerprint())
        return True
    return stored == vault.fingerprint()


async def linked_person(session: AsyncSession, unit_code: str, atena: str) -> str | None:
    """The integrated number of whom a unit's 宛名番号 is linked to now (None: it is linked to nobody)."""
    link = await repository.active_link(session, unit_code, atena)
    return link.person.integrated_number if link else None
