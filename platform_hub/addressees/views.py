"""What a caller is shown of the registry: search candidates and a person's whole view, with 他業務参照不可
applied, and the items each one shows (what the transfer record lists)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, or_
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.addressees import repository
from platform_hub.addressees.access import ITEM_NAMES, Caller
from platform_hub.kit.vault import MyNumberVault
from platform_hub.models import Person, PersonMerge, PersonVersion
from platform_hub.protocol import normalize
from platform_hub.protocol.numbers import check_my_number
from platform_hub.protocol.registry import (
    Attributes,
    Candidate,
    CandidateAttributes,
    CandidateLink,
    LinkOut,
    MergeOut,
    PersonOut,
    ResidentStatus,
    SearchRequest,
)

Shown = tuple[str, list[str]]  # a person's integrated number and the items an answer showed of them
_CANDIDATE_ITEMS = ("name", "name_kana", "birth_date", "sex", "address", "status")
_PERSON_ITEMS = (*_CANDIDATE_ITEMS, "municipality_code", "history", "links")

# --- search -------------------------------------------------------------------------------------

_WEIGHTS = {"my_number": 10, "name": 3, "name_kana": 2, "birth_date": 3, "sex": 1, "address": 2}


def _conditions(request: SearchRequest) -> list[ColumnElement[bool]]:
    exact = request.match == "exact"
    assert request.birth_date is not None  # the request's own rule: a name goes with a birth date
    # A record whose day of birth is unknown (DD 00) matches any day of that month.
    conditions: list[ColumnElement[bool]] = [
        PersonVersion.birth_date.in_([request.birth_date, request.birth_date[:8] + "00"])
    ]
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
    session: AsyncSession, vault: MyNumberVault, request: SearchRequest, caller: Caller
) -> tuple[list[Candidate], list[Shown]]:
    """Ranked candidates with what matched, a clerk to choose among them, at most ``limit``; and
    what each showed."""
    if request.my_number is not None:
        digest = vault.lookup_hash(check_my_number(request.my_number))
        hits = await repository.current_rows(session, Person.my_number_hash == digest)
        scored = {hit.person_id: (_WEIGHTS["my_number"], ["my_number"], False) for hit in hits}
        return await _candidates(session, caller, hits, scored)
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
    return await _candidates(session, caller, hits, best)


async def _candidates(
    session: AsyncSession,
    caller: Caller,
    hits: Sequence[Any],
    scored: dict[int, tuple[int, list[str], bool]],
) -> tuple[list[Candidate], list[Shown]]:
    links: dict[int, list[CandidateLink]] = {}
    for link in await repository.active_link_rows(session, [h.person_id for h in hits], caller.unit_code):
        links.setdefault(link.person_id, []).append(
            CandidateLink(unit_code=link.unit_code, atena_number=link.atena_number)
        )
    candidates, shown = [], []
    for hit in hits:
        hidden = _hidden(caller, hit.restricted_attributes, hit.restricted_by_unit)
        score, matched, former = scored[hit.person_id]
        if hidden & set(matched):
            continue  # a hidden attribute must not be confirmed by finding the person through it
        attributes = _attributes(hit, hidden)
        candidates.append(
            Candidate(
                integrated_number=hit.integrated_number,
                score=score,
                matched=matched,
                matched_former=former,
                current=CandidateAttributes(
                    **attributes.model_dump(include=set(_CANDIDATE_ITEMS) | {"status_ja"})
                ),
                links=links.get(hit.person_id, []),
                has_my_number=hit.my_number_hash is not None,
            )
        )
        shown.append((hit.integrated_number, _items(_CANDIDATE_ITEMS, hidden)))
    order = sorted(
        range(len(candidates)), key=lambda i: (-candidates[i].score, candidates[i].integrated_number)
    )
    return [candidates[i] for i in order], [shown[i] for i in order]


# --- a person's view ----------------------------------------------------------------------------


def _hidden(caller: Caller, restricted: list[str], restricted_by: str | None) -> set[str]:
    """他業務参照不可 hides attributes from every unit but the one that set it (the office sees all)."""
    return set() if caller.unit_code in (None, restricted_by) else set(restricted)


def _items(names: Sequence[str], hidden: set[str]) -> list[str]:
    """The Japanese item names of what was shown: the hidden ones were not (市区町村コード goes with 住所)."""
    concealed = hidden | ({"municipality_code"} if "address" in hidden else set())
    return [ITEM_NAMES[name] for name in names if name not in concealed]


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
        status_ja=ResidentStatus(version.status).ja,
        valid_from=version.valid_from,
        valid_to=version.valid_to,
        reason=version.reason,
    )


def current_version(person: Person) -> PersonVersion:
    return next(v for v in reversed(person.versions) if v.valid_to is None)


async def person_out(
    session: AsyncSession, vault: MyNumberVault, person: Person, caller: Caller, *, my_number: bool = False
) -> tuple[PersonOut, Shown]:
    """The person as ``caller`` may see them, with the My Number only when ``my_number`` (the caller
    checked it may be shown); and what the view showed."""
    hidden = _hidden(caller, person.restricted_attributes, person.restricted_by_unit)
    links = [link for link in person.links if caller.unit_code in (None, link.unit_code)]
    merges = await repository.merges_of(session, person.id)
    number = None
    if my_number and person.my_number_key_id and person.my_number_ciphertext:
        number = vault.decrypt(person.my_number_key_id, person.my_number_ciphertext, person.integrated_number)
    view = PersonOut(
        integrated_number=person.integrated_number,
        current=_attributes(current_version(person), hidden),
        history=[_attributes(v, hidden) for v in person.versions],
        restricted=sorted(person.restricted_attributes),
        links=[LinkOut.model_validate(link, from_attributes=True) for link in links],
        merges=[await merge_out(session, m) for m in merges],
        has_my_number=person.my_number_hash is not None,
        my_number=number,
    )
    items = _items(_PERSON_ITEMS, hidden) + ([ITEM_NAMES["my_number"]] if number else [])
    return view, (person.integrated_number, items)


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
