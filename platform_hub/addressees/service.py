"""The registry's rules: persons and their versions, links, 名寄せ, search, and translation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import raiseload

from platform_hub.addressees import normalize, repository
from platform_hub.addressees.numbers import atena_number, check_atena_number, check_my_number
from platform_hub.addressees.schemas import (
    STATUS_JA,
    Attributes,
    BasicInfo,
    Candidate,
    CandidateLink,
    LinkOut,
    MergeOut,
    PersonOut,
    PersonRegistration,
    SearchRequest,
)
from platform_hub.addressees.vault import MyNumberVault
from platform_hub.kit.database import utcnow
from platform_hub.kit.errors import AddresseeUnknown, AlreadyExists, Forbidden, SchemaViolation, UnknownTarget
from platform_hub.models import AtenaLink, Person, PersonMerge, PersonVersion


@dataclass(frozen=True)
class Viewer:
    """Who looks at a person: a unit sees its own links only, and not others' hidden attributes."""

    unit_code: str | None  # None: staff of the My Number office (admin)
    may_see_my_number: bool = False


async def get_person(session: AsyncSession, integrated_number: str) -> Person:
    person = await repository.by_integrated_number(session, integrated_number)
    if person is None:
        raise UnknownTarget(f"no person {integrated_number} in the registry")
    return person


def version_of(info: BasicInfo, status: str, valid_from: dt.date, reason: str | None) -> PersonVersion:
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
    status: str,
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
        raise AlreadyExists(f"this 個人番号 belongs to person {holder.integrated_number} already")
    person.my_number_key_id, person.my_number_ciphertext = vault.encrypt(my_number, person.integrated_number)
    person.my_number_hash = digest


async def register_person(
    session: AsyncSession, vault: MyNumberVault, body: PersonRegistration, actor: str
) -> Person:
    """Register a person (typically a 住登外者) with the unit's own 宛名番号."""
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
        actor=actor,
        non_resident=body.status == "non_resident",
    )
    return person


async def add_version(
    session: AsyncSession,
    person_id: int,
    info: BasicInfo,
    *,
    status: str,
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


def current_version(person: Person) -> PersonVersion:
    return next(v for v in reversed(person.versions) if v.valid_to is None)


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


async def group_ids(session: AsyncSession, person_id: int) -> set[int]:
    """The person and every record 名寄せ joined to it (merges are few, so a short walk)."""
    group, frontier = {person_id}, {person_id}
    while frontier:
        merges = await repository.active_merges_touching(session, frontier)
        found = {m.person_id for m in merges} | {m.into_person_id for m in merges}
        frontier = found - group
        group |= found
    return group


async def merge(session: AsyncSession, integrated: str, into: str, *, reason: str, actor: str) -> PersonMerge:
    person, target = await get_person(session, integrated), await get_person(session, into)
    if person.id in await group_ids(session, target.id):
        raise AlreadyExists(f"{integrated} and {into} are merged already")
    members = await repository.persons_by_ids(
        session, await group_ids(session, person.id) | await group_ids(session, target.id)
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


async def restrict(session: AsyncSession, person: Person, unit_code: str, attributes: list[str]) -> None:
    if person.restricted_by_unit not in (None, unit_code):
        raise Forbidden(f"unit {person.restricted_by_unit} set these restrictions; only it may change them")
    person.restricted_attributes = sorted(set(attributes))
    person.restricted_by_unit = unit_code if attributes else None
    await session.flush()


# --- search -------------------------------------------------------------------------------------

_WEIGHTS = {"my_number": 10, "name": 3, "name_kana": 2, "birth_date": 3, "sex": 1, "address": 2}


def _conditions(request: SearchRequest) -> list[ColumnElement[bool]]:
    exact = request.match == "exact"
    conditions: list[ColumnElement[bool]] = []
    if request.birth_date:
        # A record whose day of birth is unknown (DD 00) matches any day of that month.
        conditions.append(PersonVersion.birth_date.in_([request.birth_date, request.birth_date[:8] + "00"]))
    names: list[ColumnElement[bool]] = []
    if request.name:
        key = normalize.name_key(request.name)
        names.append(
            PersonVersion.name_key == key if exact else PersonVersion.name_key.contains(key, autoescape=True)
        )
    if request.name_kana:
        key = normalize.kana_key(request.name_kana)
        names.append(
            PersonVersion.kana_key == key if exact else PersonVersion.kana_key.contains(key, autoescape=True)
        )
    if names:
        conditions.append(or_(*names) if not exact else names[0] if len(names) == 1 else names[0] & names[1])
    if request.address:
        key = normalize.address_key(request.address)
        conditions.append(
            PersonVersion.address_key == key
            if exact
            else PersonVersion.address_key.startswith(key, autoescape=True)
        )
    if request.sex and exact:
        conditions.append(PersonVersion.sex == request.sex)
    return conditions


def _matched(version: Any, request: SearchRequest) -> list[str]:
    partial = request.match == "partial"
    checks = {
        "name": request.name
        and (
            normalize.name_key(request.name) in version.name_key
            if partial
            else normalize.name_key(request.name) == version.name_key
        ),
        "name_kana": request.name_kana
        and version.kana_key is not None
        and (
            normalize.kana_key(request.name_kana) in version.kana_key
            if partial
            else normalize.kana_key(request.name_kana) == version.kana_key
        ),
        "birth_date": request.birth_date
        and version.birth_date in (request.birth_date, request.birth_date[:8] + "00"),
        "sex": request.sex and version.sex == request.sex,
        "address": request.address and version.address_key.startswith(normalize.address_key(request.address)),
    }
    return [name for name, ok in checks.items() if ok]


async def search(
    session: AsyncSession, vault: MyNumberVault, request: SearchRequest, viewer: Viewer
) -> list[Candidate]:
    """Ranked candidates with what matched; a clerk chooses among them."""
    if request.my_number is not None:
        require_number_use(viewer)
        digest = vault.lookup_hash(check_my_number(request.my_number))
        hits = await repository.current_rows(session, Person.my_number_hash == digest)
        scored = {hit.person_id: (_WEIGHTS["my_number"], ["my_number"], False) for hit in hits}
        return await _candidates(session, vault, viewer, hits, scored)
    versions = await repository.matching_versions(
        session, _conditions(request), request.include_history, request.limit * 5
    )
    best: dict[int, tuple[int, list[str], bool]] = {}
    for version in versions:
        matched = _matched(version, request)
        former = version.valid_to is not None
        score = sum(_WEIGHTS[m] for m in matched) * 2 - (1 if former else 0)
        if version.person_id not in best or score > best[version.person_id][0]:
            best[version.person_id] = (score, matched, former)
    ranked = sorted(best, key=lambda pid: -best[pid][0])[: request.limit]
    hits = await repository.current_rows(session, Person.id.in_(ranked)) if ranked else []
    return await _candidates(session, vault, viewer, hits, best)


async def _candidates(
    session: AsyncSession,
    vault: MyNumberVault,
    viewer: Viewer,
    hits: Sequence[Any],
    scored: dict[int, tuple[int, list[str], bool]],
) -> list[Candidate]:
    links: dict[int, list[CandidateLink]] = {}
    for link in await repository.active_link_rows(session, [h.person_id for h in hits], viewer.unit_code):
        links.setdefault(link.person_id, []).append(
            CandidateLink(unit_code=link.unit_code, atena_number=link.atena_number)
        )
    candidates = []
    for hit in hits:
        hidden = _hidden(viewer, hit.restricted_attributes, hit.restricted_by_unit)
        score, matched, former = scored[hit.person_id]
        if hidden & set(matched):
            continue  # a hidden attribute must not be confirmed by finding the person through it
        own_links = links.get(hit.person_id, [])
        candidates.append(
            Candidate(
                integrated_number=hit.integrated_number,
                score=score,
                matched=matched,
                matched_former=former,
                current=_attributes(hit, hidden),
                links=own_links,
                has_my_number=hit.my_number_hash is not None,
                my_number=_my_number(vault, viewer, hit, linked=bool(own_links)),
            )
        )
    return sorted(candidates, key=lambda c: (-c.score, c.integrated_number))


def require_number_use(viewer: Viewer) -> None:
    """Using a My Number at all (search, registration) is for 番号利用事務 units and the My Number office."""
    if viewer.unit_code is not None and not viewer.may_see_my_number:
        raise Forbidden(f"unit {viewer.unit_code} serves no 個人番号利用事務: it may not use My Numbers")


# --- views --------------------------------------------------------------------------------------


def _hidden(viewer: Viewer, restricted: list[str], restricted_by: str | None) -> set[str]:
    """他業務参照不可 hides attributes from every unit but the one that set it (staff see all)."""
    return set() if viewer.unit_code in (None, restricted_by) else set(restricted)


def _my_number(vault: MyNumberVault, viewer: Viewer, person: Any, *, linked: bool) -> str | None:
    """The plaintext, only for a 番号利用事務 unit that handles the person (has a link to them)."""
    if viewer.unit_code is None or not viewer.may_see_my_number or not linked:
        return None
    if person.my_number_key_id and person.my_number_ciphertext:
        return vault.decrypt(person.my_number_key_id, person.my_number_ciphertext, person.integrated_number)
    return None


def _attributes(version: Any, hidden: set[str]) -> Attributes:
    def shown(name: str, value: str | None) -> str | None:
        return None if name in hidden else value

    return Attributes(
        name=shown("name", version.name),
        name_kana=shown("name_kana", version.name_kana),
        birth_date=shown("birth_date", version.birth_date),
        sex=shown("sex", version.sex),
        address=shown("address", version.address),
        municipality_code=shown("address", version.municipality_code),
        status=version.status,
        status_ja=STATUS_JA[version.status],
        valid_from=version.valid_from,
        valid_to=version.valid_to,
        reason=version.reason,
    )


async def person_out(
    session: AsyncSession, vault: MyNumberVault, person: Person, viewer: Viewer
) -> PersonOut:
    hidden = _hidden(viewer, person.restricted_attributes, person.restricted_by_unit)
    links = [link for link in person.links if viewer.unit_code in (None, link.unit_code)]
    merges = await repository.merges_of(session, person.id)
    my_number = _my_number(vault, viewer, person, linked=any(link.unlinked_at is None for link in links))
    return PersonOut(
        integrated_number=person.integrated_number,
        current=_attributes(current_version(person), hidden),
        history=[_attributes(v, hidden) for v in person.versions],
        restricted=sorted(person.restricted_attributes),
        links=[LinkOut.model_validate(link, from_attributes=True) for link in links],
        merges=[await merge_out(session, m) for m in merges],
        has_my_number=person.my_number_hash is not None,
        my_number=my_number,
    )


async def merge_out(session: AsyncSession, record: PersonMerge) -> MergeOut:
    numbers = await repository.persons_by_ids(session, {record.person_id, record.into_person_id})
    return MergeOut(
        id=record.id,
        integrated_number=numbers[record.person_id].integrated_number,
        into_integrated_number=numbers[record.into_person_id].integrated_number,
        merged_at=record.merged_at,
        merged_by=record.merged_by,
        reason=record.reason,
        undone_at=record.undone_at,
        undone_by=record.undone_by,
        undo_reason=record.undo_reason,
    )


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
        links = await repository.active_links_of(session, await group_ids(session, person_id), unit_code)
        if links:
            found[person_id] = links[-1].atena_number
    return found


# --- the registry fed by 住民異動通知 ---------------------------------------------------------------

# 住民状態 code of the 住民異動通知 → the registry's status.
_RESIDENT_STATES = {"1": "resident", "2": "moved_out", "3": "deceased", "4": "moved_out"}
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
    moved_away = status == "moved_out" and fields.get("TenshutsusakiJusho")
    info = BasicInfo(
        name=fields["Shimei"],
        name_kana=fields.get("ShimeiKana"),
        birth_date=fields["SeinengappiDate"],
        sex=fields["SeibetsuCode"],
        address=fields["TenshutsusakiJusho"] if moved_away else fields["Jusho"],
        municipality_code=None if moved_away else fields.get("ShikuchosonCode"),
    )
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
