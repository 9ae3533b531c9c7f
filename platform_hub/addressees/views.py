"""What a caller is shown of the registry: search candidates and a person's whole view, with 他業務参照不可
applied, and the items each one shows (what the transfer record lists)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.addressees import repository
from platform_hub.addressees.access import ITEM_NAMES, Caller
from platform_hub.kit.vault import MyNumberVault
from platform_hub.models import Person, PersonMerge, PersonMergeProposal, PersonVersion
from platform_hub.protocol import normalize
from platform_hub.protocol.numbers import check_my_number
from platform_hub.protocol.registry import (
    DETAIL_FIELDS,
    NAME_PARTS,
    Attributes,
    Candidate,
    CandidateAttributes,
    CandidateLink,
    LinkOut,
    MergeOut,
    MergeProposalOut,
    PersonOut,
    ResidentStatus,
    SearchRequest,
)

Shown = tuple[str, list[str]]  # a person's integrated number and the items an answer showed of them
_ATTRIBUTES = ("name", "name_kana", "birth_date", "sex", "address")
# Which attribute each 宛名 item goes with, for 他業務参照不可 (hidden with it).
_ATTRIBUTE_OF = {
    **{name: "name" for name in NAME_PARTS},
    "birth_date_unknown": "birth_date",
    "birth_date_notation": "birth_date",
    "town_code": "address",
}
_DETAIL_ITEM_NAMES = {
    "family_name": "氏",
    "given_name": "名",
    "foreign_name_alphabet": "外国人氏名（アルファベット）",
    "foreign_name_kanji": "外国人漢字氏名",
    "alias": "通称",
    "former_surname": "旧氏",
    "birth_date_notation": "生年月日不詳表記",
    "town_code": "町字コード",
}
SUPPORT_ITEM = "支援措置"
_CANDIDATE_ITEMS = ("name", "name_kana", "birth_date", "sex", "address", "status")
_PERSON_ITEMS = (*_CANDIDATE_ITEMS, "municipality_code", "history", "links")

# --- search -------------------------------------------------------------------------------------

_WEIGHTS = {
    "my_number": 10,
    "name": 3,
    "name_kana": 2,
    "family_name": 2,
    "given_name": 2,
    "birth_date": 3,
    "sex": 1,
    "address": 2,
}
Scored = dict[int, tuple[int, list[str], bool]]  # person id → score, what matched, only a former version


@dataclass(frozen=True)
class _Keys:
    """A search by 基本4情報, normalised once: what the statement binds and the versions are scored by."""

    partial: bool
    name: str | None
    kana: str | None
    family: str | None
    given: str | None
    address: str | None
    birth_dates: tuple[str, str, str]  # the day asked, its month with the day unknown, its year unknown-month
    sex: str | None

    @classmethod
    def of(cls, request: SearchRequest) -> _Keys:
        assert request.birth_date is not None  # the request's own rule: a name goes with a birth date
        return cls(
            partial=request.match == "partial",
            name=normalize.name_key(request.name) if request.name else None,
            kana=normalize.kana_key(request.name_kana) if request.name_kana else None,
            family=normalize.name_key(request.family_name) if request.family_name else None,
            given=normalize.name_key(request.given_name) if request.given_name else None,
            address=normalize.address_key(request.address) if request.address else None,
            birth_dates=(request.birth_date, request.birth_date[:8] + "00", request.birth_date[:5] + "00-00"),
            sex=request.sex or None,
        )

    def params(self, request: SearchRequest, unit_code: str | None) -> dict[str, Any]:
        def pattern(key: str, *, inside: bool) -> str:
            if not self.partial:
                return key
            return ("%" if inside else "") + repository.like_escaped(key) + "%"

        params: dict[str, Any] = {
            "birth_date": self.birth_dates[0],
            "birth_month": self.birth_dates[1],
            "birth_year": self.birth_dates[2],
            "rows": request.limit * 5,
        }
        if self.name is not None:
            params["name_key"] = pattern(self.name, inside=True)
        if self.kana is not None:
            params["kana_key"] = pattern(self.kana, inside=True)
        if self.family is not None:
            params["family_key"] = pattern(self.family, inside=True)
        if self.given is not None:
            params["given_key"] = pattern(self.given, inside=True)
        if self.address is not None:
            params["address_key"] = pattern(self.address, inside=False)
        if self.sex is not None and not self.partial:
            params["sex"] = self.sex
        if unit_code is not None:
            params["unit_code"] = unit_code
        return params

    def shape(self, request: SearchRequest, unit_code: str | None) -> repository.BasicInfoShape:
        return repository.BasicInfoShape(
            exact=not self.partial,
            name=self.name is not None,
            kana=self.kana is not None,
            address=self.address is not None,
            family=self.family is not None,
            given=self.given is not None,
            sex=self.sex is not None and not self.partial,
            include_history=request.include_history,
            for_unit=unit_code is not None,
        )

    def matched(self, row: Any) -> list[str]:
        """What of the request the matched version (``row.m_*``) has: 住所 from its start, the names
        whole (exact) or inside (partial)."""

        def same(key: str | None, value: str | None) -> bool:
            if key is None or value is None:
                return False
            return key in value if self.partial else key == value

        checks = {
            "name": same(self.name, row.m_name_key),
            "name_kana": same(self.kana, row.m_kana_key),
            "family_name": same(self.family, row.m_family_key),
            "given_name": same(self.given, row.m_given_key),
            "birth_date": row.m_birth_date in self.birth_dates,
            "sex": self.sex is not None and row.m_sex == self.sex,
            "address": self.address is not None and row.m_address_key.startswith(self.address),
        }
        return [name for name, ok in checks.items() if ok]


async def search(
    session: AsyncSession, vault: MyNumberVault, request: SearchRequest, caller: Caller
) -> tuple[list[Candidate], list[Shown]]:
    """Ranked candidates with what matched, a clerk to choose among them, at most ``limit``; and
    what each showed. One statement finds them and all the answer needs (``repository``)."""
    if request.my_number is not None:
        digest = vault.lookup_hash(check_my_number(request.my_number))
        rows = await repository.lookup_by_my_number(session, digest, caller.unit_code)
        persons, links = _persons(rows)
        scored = {person: (_WEIGHTS["my_number"], ["my_number"], False) for person in persons}
        return _candidates(caller, persons, links, scored)
    keys = _Keys.of(request)
    rows = await repository.lookup_by_basic_info(
        session, keys.shape(request, caller.unit_code), keys.params(request, caller.unit_code)
    )
    persons, links = _persons(rows)
    best: Scored = {}
    versions: set[int] = set()
    for row in rows:  # by person, then version: the best-scoring version of each person counts
        if row.version_id in versions:
            continue  # the same version again, with another of the person's links
        versions.add(row.version_id)
        if _withheld(caller, row.m_jukinet_purpose):
            continue  # from 住基ネット for another 事務: the person is not found through it
        matched = keys.matched(row)
        former = row.m_valid_to is not None
        score = sum(_WEIGHTS[m] for m in matched) * 2 - (1 if former else 0)
        if row.person_id not in best or score > best[row.person_id][0]:
            best[row.person_id] = (score, matched, former)
    ranked = sorted(best, key=lambda pid: -best[pid][0])[: request.limit]
    return _candidates(caller, {pid: persons[pid] for pid in ranked}, links, best)


def _persons(rows: Sequence[Any]) -> tuple[dict[int, Any], dict[int, list[CandidateLink]]]:
    """Each person's first row (their current version's columns) and the links the caller sees, in
    the statement's order (by unit, then oldest first), each once."""
    persons: dict[int, Any] = {}
    links: dict[int, dict[int, CandidateLink]] = {}
    for row in rows:
        if row.person_id not in persons:
            persons[row.person_id], links[row.person_id] = row, {}
        found = links[row.person_id]
        if row.link_id is not None and row.link_id not in found:
            found[row.link_id] = CandidateLink(unit_code=row.unit_code, atena_number=row.atena_number)
    return persons, {person: list(each.values()) for person, each in links.items()}


def _candidates(
    caller: Caller, persons: dict[int, Any], links: dict[int, list[CandidateLink]], scored: Scored
) -> tuple[list[Candidate], list[Shown]]:
    candidates, shown = [], []
    for person_id, hit in persons.items():
        if hit.valid_from is None:
            continue  # no current version: nothing to show
        hidden = _hidden(caller, hit.restricted_attributes, hit.restricted_by_unit)
        if _withheld(caller, hit.jukinet_purpose):
            hidden |= set(_ATTRIBUTES)  # the current version came from 住基ネット for another 事務
        score, matched, former = scored[person_id]
        if hidden & {_ATTRIBUTE_OF.get(m, m) for m in matched}:
            continue  # a hidden attribute must not be confirmed by finding the person through it
        candidates.append(
            Candidate(
                person_id=hit.reference,
                integrated_number=hit.integrated_number,
                score=score,
                matched=matched,
                matched_former=former,
                current=_candidate_attributes(hit, hidden),
                links=links[person_id],
                has_my_number=bool(hit.has_my_number),
                support_measure=bool(hit.support_measure),
            )
        )
        extra = [
            _DETAIL_ITEM_NAMES[n]
            for n in ("family_name", "given_name")
            if n not in hidden and getattr(hit, n)
        ]
        support = [SUPPORT_ITEM] if hit.support_measure else []
        shown.append((hit.reference, _items(_CANDIDATE_ITEMS, hidden) + extra + support))
    order = sorted(range(len(candidates)), key=lambda i: (-candidates[i].score, candidates[i].person_id))
    return [candidates[i] for i in order], [shown[i] for i in order]


def _candidate_attributes(version: Any, hidden: set[str]) -> CandidateAttributes:
    """The current version as a candidate shows it (``_attributes``' first items, 他業務参照不可 applied)."""
    return CandidateAttributes(
        name=None if "name" in hidden else version.name,
        family_name=None if "name" in hidden else version.family_name,
        given_name=None if "name" in hidden else version.given_name,
        name_kana=None if "name_kana" in hidden else version.name_kana,
        birth_date=None if "birth_date" in hidden else version.birth_date,
        sex=None if "sex" in hidden else version.sex,
        address=None if "address" in hidden else version.address,
        status=version.status,
        status_ja=ResidentStatus(version.status).ja,
    )


# --- a person's view ----------------------------------------------------------------------------


def _hidden(caller: Caller, restricted: list[str], restricted_by: str | None) -> set[str]:
    """他業務参照不可 hides attributes from every unit but the one that set it (the office sees all)."""
    return set() if caller.unit_code in (None, restricted_by) else set(restricted)


def _items(names: Sequence[str], hidden: set[str]) -> list[str]:
    """The Japanese item names of what was shown: the hidden ones were not (市区町村コード goes with 住所)."""
    concealed = hidden | ({"municipality_code"} if "address" in hidden else set())
    return [ITEM_NAMES[name] for name in names if name not in concealed]


def _withheld(caller: Caller, jukinet_purpose: str | None) -> bool:
    """他業務参照不可 in the DA's sense: a version obtained from 住基ネット serves the 事務 it was
    obtained for; to a unit asking for another, it is as if the registry did not have it (the office
    administers, and sees it marked)."""
    return jukinet_purpose is not None and caller.unit is not None and caller.purpose != jukinet_purpose


def _details(version: Any, hidden: set[str]) -> dict[str, Any]:
    """The DA's 宛名 items of a version, hidden with the attribute each belongs to."""
    return {
        name: None if _ATTRIBUTE_OF.get(name, name) in hidden else getattr(version, name)
        for name in DETAIL_FIELDS
    }


def _detail_items(version: Any, hidden: set[str]) -> list[str]:
    """The item names of the 宛名 items a view showed (those the version has and the caller sees)."""
    shown = _details(version, hidden)
    return [label for name, label in _DETAIL_ITEM_NAMES.items() if shown.get(name)]


def _attributes(version: Any, hidden: set[str]) -> Attributes:
    def shown(name: str, value: str | None) -> str | None:
        return None if name in hidden else value

    return Attributes(
        **_details(version, hidden),
        obtained_from_jukinet=version.jukinet_purpose is not None,
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
    visible = [v for v in person.versions if not _withheld(caller, v.jukinet_purpose)]
    current = current_version(person)
    if _withheld(caller, current.jukinet_purpose):
        # The newest version this 事務 may use; none at all: the attributes are not shown.
        current, hidden = (visible[-1], hidden) if visible else (current, hidden | set(_ATTRIBUTES))
    links = [link for link in person.links if caller.unit_code in (None, link.unit_code)]
    merges = await repository.merges_of(session, person.id)
    number = None
    if my_number and person.my_number_key_id and person.my_number_ciphertext and person.integrated_number:
        number = vault.decrypt(person.my_number_key_id, person.my_number_ciphertext, person.integrated_number)
    view = PersonOut(
        person_id=person.reference,
        integrated_number=person.integrated_number,
        integrated_number_basis=person.integrated_number_basis,
        current=_attributes(current, hidden),
        history=[_attributes(v, hidden) for v in visible],
        restricted=sorted(person.restricted_attributes),
        links=[LinkOut.model_validate(link, from_attributes=True) for link in links],
        merges=[await merge_out(session, m) for m in merges],
        has_my_number=person.my_number_hash is not None,
        support_measure=person.support_measure,
        my_number=number,
    )
    items = _items(_PERSON_ITEMS, hidden) + _detail_items(current, hidden)
    items += ([SUPPORT_ITEM] if person.support_measure else []) + (
        [ITEM_NAMES["my_number"]] if number else []
    )
    return view, (person.reference, items)


async def merge_out(session: AsyncSession, record: PersonMerge) -> MergeOut:
    numbers = await repository.references_of(session, {record.person_id, record.into_person_id})
    return MergeOut(
        id=record.id,
        integrated_number=numbers[record.person_id],
        into_integrated_number=numbers[record.into_person_id],
        merged_at=record.merged_at,
        merged_by=record.merged_by,
        reason=record.reason,
        undone_at=record.undone_at,
        undone_by=record.undone_by,
        undo_reason=record.undo_reason,
    )


async def proposal_out(session: AsyncSession, proposal: PersonMergeProposal) -> MergeProposalOut:
    numbers = await repository.references_of(session, {proposal.person_id, proposal.into_person_id})
    return MergeProposalOut(
        id=proposal.id,
        person_id=numbers[proposal.person_id],
        into_person_id=numbers[proposal.into_person_id],
        basis=list(proposal.basis),
        status=proposal.status,
        proposed_at=proposal.proposed_at,
        proposed_by=proposal.proposed_by,
        decided_at=proposal.decided_at,
        decided_by=proposal.decided_by,
        decision_reason=proposal.decision_reason,
        merge_id=proposal.merge_id,
    )
