"""The registry's rules: persons and their versions, links, 名寄せ, restrictions. Translation in routing
is ``translation``, the feed of 住民異動通知 ``resident_changes``; who may see and do what is ``access``;
what a caller is shown, ``views``."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.addressees import access, repository
from platform_hub.addressees.access import Caller, Evidence
from platform_hub.audit.operations import Actor, record_operation
from platform_hub.kit.clock import city_today, utcnow
from platform_hub.kit.vault import MyNumberVault
from platform_hub.models import AtenaLink, Person, PersonMerge, PersonMergeProposal, PersonVersion
from platform_hub.protocol import normalize
from platform_hub.protocol.catalog import Catalog
from platform_hub.protocol.errors import (
    AlreadyExists,
    Forbidden,
    SchemaViolation,
    UnknownTarget,
)
from platform_hub.protocol.numbers import (
    RemainderOne,
    atena_check_digit,
    atena_number,
    check_atena_number,
    check_migrated_atena_number,
    check_my_number,
)
from platform_hub.protocol.registry import (
    DETAIL_FIELDS,
    BasicInfo,
    IntegratedNumberBasis,
    MergeProposalStatus,
    PersonRegistration,
    ResidentStatus,
)

# Who proposes a 名寄せ in the operations record: the registry, on the flow of the client named.
REGISTRY_ROLE = "registry"


async def get_person(session: AsyncSession, reference: str) -> Person:
    """The person a reference names: a 団体内統合宛名番号, or the person id ``P<id>``."""
    person = await repository.by_reference(session, reference)
    if person is None:
        raise UnknownTarget(f"no person {reference} in the registry")
    return person


def version_of(
    info: BasicInfo,
    status: ResidentStatus,
    valid_from: dt.date,
    reason: str | None,
    jukinet_purpose: str | None = None,
) -> PersonVersion:
    """A version of these attributes; ``jukinet_purpose``: obtained from 住基ネット for that 事務 alone."""
    return PersonVersion(
        valid_from=valid_from,
        valid_to=None,
        **version_details(info),
        jukinet_purpose=jukinet_purpose,
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


def version_details(info: BasicInfo) -> dict[str, object]:
    """The DA's 宛名 items of ``info`` as a version's columns, with the 氏 and 名 search keys."""
    return {
        **{name: getattr(info, name) for name in DETAIL_FIELDS},
        "family_key": normalize.name_key(info.family_name) if info.family_name else None,
        "given_key": normalize.name_key(info.given_name) if info.given_name else None,
    }


async def new_person(
    session: AsyncSession,
    vault: MyNumberVault,
    info: BasicInfo,
    *,
    status: ResidentStatus,
    valid_from: dt.date,
    reason: str,
    actor: str,
    my_number: str | None = None,
    remainder_one: RemainderOne = RemainderOne.ZERO,
    jukinet_purpose: str | None = None,
    support_measure: bool = False,
) -> Person:
    """Create the person with its first version; a 団体内統合宛名番号 only with the 個人番号 (the
    付番依頼 that issues one carries it): without one the person is known by their person id."""
    person = Person(
        restricted_attributes=[],
        support_measure=support_measure,
        created_at=utcnow(),
        versions=[version_of(info, status, valid_from, reason, jukinet_purpose)],
        links=[],
    )
    session.add(person)
    await session.flush()
    if my_number is not None:
        await set_my_number(session, vault, person, my_number, actor=actor, remainder_one=remainder_one)
    return person


async def issue_integrated_number(session: AsyncSession, remainder_one: RemainderOne) -> str:
    (number,) = await issue_integrated_numbers(session, 1, remainder_one=remainder_one)
    return number


async def issue_integrated_numbers(
    session: AsyncSession,
    count: int,
    also_taken: frozenset[str] = frozenset(),
    *,
    remainder_one: RemainderOne = RemainderOne.ZERO,
) -> list[str]:
    """The next ``count`` numbers from the counter that no person holds (an imported number may lie on
    the counter's path: it is stepped over, never issued twice), nor ``also_taken`` (being imported);
    a serial the check-digit rule gives no digit is passed over."""
    issued: list[str] = []
    while len(issued) < count:
        wanted = count - len(issued)
        serials = await repository.reserve_serials(session, wanted)
        numbers = [
            atena_number(serial, remainder_one)
            for serial in serials
            if atena_check_digit(f"{serial:014d}", remainder_one) is not None
        ]
        taken = await repository.integrated_numbers_taken(session, numbers) | also_taken
        issued += [number for number in numbers if number not in taken]
    return issued


async def set_my_number(
    session: AsyncSession,
    vault: MyNumberVault,
    person: Person,
    my_number: str,
    *,
    actor: str,
    remainder_one: RemainderOne = RemainderOne.ZERO,
) -> None:
    """The 付番依頼: the person's 個人番号 stored (encrypted, bound to their number), a 団体内統合宛名番号
    issued if they have none, and a 名寄せ proposed with every record known only by 基本4情報 that
    agrees with them — never joined silently."""
    digest = vault.lookup_hash(check_my_number(my_number))
    holder = await repository.by_my_number_hash(session, digest)
    if holder is not None and holder is not person:
        # Not naming the holder: that would answer "whose number is this?" outside search and its record.
        raise AlreadyExists("this 個人番号 is registered already: search by it, and link to that person")
    if person.my_number_hash == digest:
        return
    if person.integrated_number is None:
        person.integrated_number = await issue_integrated_number(session, remainder_one)
        person.integrated_number_basis = IntegratedNumberBasis.ISSUED
    person.my_number_key_id, person.my_number_ciphertext = vault.encrypt(my_number, person.integrated_number)
    person.my_number_hash = digest
    try:
        await session.flush()
    except IntegrityError:  # the same 個人番号 registered concurrently
        raise AlreadyExists("a person with this 個人番号 was registered at the same time") from None
    for other, basis in (await repository.unnumbered_lookalikes(session, person.id)).items():
        await propose_merge(session, vault, other, person.id, basis, actor=actor)


async def propose_merge(
    session: AsyncSession,
    vault: MyNumberVault,
    person_id: int,
    into_person_id: int,
    basis: list[str],
    *,
    actor: str,
) -> PersonMergeProposal:
    """Keep a 名寄せ proposal for an operator (once: a pending one is answered as it is); the
    operations record has it, naming the record proposed to be joined."""
    pending = await repository.pending_proposal(session, person_id, into_person_id)
    if pending is not None:
        return pending
    proposal = PersonMergeProposal(
        person_id=person_id,
        into_person_id=into_person_id,
        basis=basis,
        status=MergeProposalStatus.PROPOSED,
        proposed_at=utcnow(),
        proposed_by=actor,
    )
    session.add(proposal)
    await session.flush()
    references = await repository.references_of(session, {person_id, into_person_id})
    await record_operation(
        session,
        vault.record_key,
        Actor(client_id=actor, role=REGISTRY_ROLE),
        "registry.propose_merge",
        subject=references[person_id],
        detail=f"名寄せ proposal {proposal.id}: into {references[into_person_id]} ({', '.join(basis)})",
    )
    return proposal


async def request_numbering(
    session: AsyncSession,
    vault: MyNumberVault,
    catalog: Catalog,
    person: Person,
    caller: Caller,
    my_number: str,
    remainder_one: RemainderOne = RemainderOne.ZERO,
) -> bool:
    """付番依頼 for a person the caller handles (the office: anyone): ``True`` when the 個人番号 is
    another record's, and a 名寄せ of the two is proposed instead (the clerk's 個人番号 is strong
    evidence, but joining records is an operator's decision)."""
    caller.require_numbers(catalog)
    await access.require_handled(session, caller, person.id, person.reference)
    digest = vault.lookup_hash(check_my_number(my_number))
    if person.my_number_hash not in (None, digest):
        raise SchemaViolation(
            "this person holds another 個人番号: a 個人番号 is changed by 住民基本台帳 only"
        )
    holder = await repository.by_my_number_hash(session, digest)
    if holder is not None and holder is not person:
        await propose_merge(session, vault, person.id, holder.id, ["my_number"], actor=caller.client_id)
        return True
    await set_my_number(
        session, vault, person, my_number, actor=caller.client_id, remainder_one=remainder_one
    )
    return False


async def decide_proposal(
    session: AsyncSession, proposal_id: int, *, accept: bool, reason: str, actor: str
) -> PersonMergeProposal:
    """An operator's answer to a 名寄せ proposal: accepted, the records are merged (renumbering
    neither); rejected, it is kept as such and not proposed again."""
    proposal = await repository.get_proposal(session, proposal_id)
    if proposal is None or proposal.status != MergeProposalStatus.PROPOSED:
        raise UnknownTarget(f"no pending 名寄せ proposal {proposal_id}")
    if accept:
        references = await repository.references_of(session, {proposal.person_id, proposal.into_person_id})
        record = await merge(
            session,
            references[proposal.person_id],
            references[proposal.into_person_id],
            reason=reason,
            actor=actor,
        )
        proposal.merge_id = record.id
    proposal.status = MergeProposalStatus.ACCEPTED if accept else MergeProposalStatus.REJECTED
    proposal.decided_at, proposal.decided_by, proposal.decision_reason = utcnow(), actor, reason
    await session.flush()
    return proposal


async def register_person(
    session: AsyncSession,
    vault: MyNumberVault,
    catalog: Catalog,
    body: PersonRegistration,
    caller: Caller,
    remainder_one: RemainderOne = RemainderOne.ZERO,
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
    check_atena_number(body.atena_number, remainder_one=remainder_one)  # a new number: its check digit
    if await repository.active_link(session, body.unit_code, body.atena_number) is not None:
        raise AlreadyExists(f"宛名番号 {body.atena_number} of unit {body.unit_code} is linked already")
    person = await new_person(
        session,
        vault,
        body,
        status=body.status,
        valid_from=body.valid_from or city_today(),
        reason=body.reason,
        actor=caller.client_id,
        my_number=body.my_number,
        remainder_one=remainder_one,
        # Information from 住基ネット serves the 事務 it was obtained for (the office's: none given).
        jukinet_purpose=(body.purpose_code or "-") if body.obtained_from_jukinet else None,
    )
    await link(
        session,
        person,
        body.unit_code,
        body.atena_number,
        reason=body.reason,
        actor=caller.client_id,
        non_resident=body.status == ResidentStatus.NON_RESIDENT,
        remainder_one=remainder_one,
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
    jukinet_purpose: str | None = None,
) -> PersonVersion:
    """Close the current version and add the next; the history is never rewritten (nor read: the
    person's versions need not be loaded). ``jukinet_purpose``: from 住基ネット, for that 事務 alone."""
    closed = await repository.close_current_version(session, person_id, valid_from, locked=locked)
    version = version_of(info, status, closed or valid_from, reason, jukinet_purpose)
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
    remainder_one: RemainderOne = RemainderOne.ZERO,
) -> AtenaLink:
    """A unit links its own 宛名番号 to a person only on evidence that matches them (the clerk's
    個人番号 or 基本4情報 of the applicant: what a search found them by); the office needs none."""
    if caller.unit is not None:
        if evidence.my_number is not None:
            caller.require_numbers(catalog)
        await access.check_evidence(session, vault, caller, person.id, evidence, person.reference)
    return await link(
        session, person, unit_code, atena, reason=reason, actor=caller.client_id, remainder_one=remainder_one
    )


async def link(
    session: AsyncSession,
    person: Person,
    unit_code: str,
    atena: str,
    *,
    reason: str,
    actor: str,
    non_resident: bool = False,
    remainder_one: RemainderOne = RemainderOne.ZERO,
    migrated: bool = False,
) -> AtenaLink:
    """Link a unit's 宛名番号: a new one with its check digit (``remainder_one`` the city's rule), one the
    unit held before the hub (``migrated``: a 全件 set) as it is."""
    if migrated:
        check_migrated_atena_number(atena)
    else:
        check_atena_number(atena, remainder_one=remainder_one)
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
    """名寄せ of two records, each by its reference (団体内統合宛名番号 or person id)."""
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
        await access.require_handled(session, caller, person.id, person.reference)
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
    return link.person.reference if link else None
