"""The hub as the city's 団体内統合宛名 gateway to the 情報提供ネットワークシステム.

The hub is the one component that holds the link 宛名番号 ⇄ 団体内統合宛名番号 ⇄ 個人番号 and talks to
the city's 中間サーバー (``platform_hub.national``). A unit asks in its own 宛名番号 and never sees the
others: 符号取得 (資料8: the 個人番号 to the 中間サーバー, its 処理通番 with the 住民票コード to 住基ネット,
the 符号 linked inside the 中間サーバー), then 情報照会 to another organisation, answered
asynchronously under the 処理通番. Every 照会 passes the 番号法 table first (第19条第8号,
``ordinance.network_allowed``) and leaves an entry in the transfer record, pattern ``network``, when it
is answered or refused — beside the internal transfers in the person's やりとり履歴.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.addressees import service as addressees
from platform_hub.audit.service import TransferFacts, record_entries
from platform_hub.kit.clock import utcnow
from platform_hub.kit.settings import Settings
from platform_hub.kit.vault import MyNumberVault
from platform_hub.models import NetworkInquiry, Person, TransferOutcome, TransferPattern, Unit
from platform_hub.national.chukan import Answer, ChukanServer, CodeRequest, InquiryStatus
from platform_hub.national.juki_net import JukiNet
from platform_hub.national.transport import NationalSystemError
from platform_hub.ordinance.network import NetworkRule
from platform_hub.ordinance.service import Rulebook, network_allowed
from platform_hub.protocol.errors import AddresseeUnknown, Forbidden, UnknownTarget

INTERFACE = "NWS_INQUIRY"  # the record's interface id for a 情報照会 through the network
NETWORK_UNIT = "NWS"  # the record's providing unit: the information came from outside the city


@dataclass
class NationalSystems:
    """The city's 中間サーバー and 住基ネット, as the hub reaches them."""

    chukan: ChukanServer
    juki_net: JukiNet

    @classmethod
    def connect(cls, settings: Settings) -> NationalSystems | None:
        """None when the settings do not say where both are: the hub then makes no network 照会."""
        if not (
            settings.chukan_url and settings.chukan_key and settings.juki_net_url and settings.juki_net_key
        ):
            return None
        chukan, juki_net = ChukanServer.from_settings(settings), JukiNet.from_settings(settings)
        assert chukan is not None and juki_net is not None
        return cls(chukan, juki_net)

    async def aclose(self) -> None:
        await self.chukan.aclose()
        await self.juki_net.aclose()


@dataclass(frozen=True)
class Asker:
    """A unit asking for one of its 事務, and on behalf of which clerk."""

    unit: Unit
    purpose: str
    department: str | None = None
    user: str | None = None


def check_purpose(asker: Asker) -> None:
    if asker.purpose not in asker.unit.purposes:
        raise Forbidden(f"unit {asker.unit.code} serves no 事務 {asker.purpose}")


async def numbered_person(session: AsyncSession, unit_code: str, atena: str) -> Person:
    """The person a unit's 宛名番号 names, with a 団体内統合宛名番号: the national systems are asked by
    it (or by the 個人番号 that came with it), and the 中間サーバー knows no other number."""
    found = await addressees.linked_person(session, unit_code, atena)
    if found is None:
        raise AddresseeUnknown(f"宛名番号 {atena} is linked to nobody in unit {unit_code}")
    person = await addressees.get_person(session, found)
    if person.integrated_number is None:
        raise AddresseeUnknown("the person has no 団体内統合宛名番号 yet: a 付番依頼 with the 個人番号 first")
    return person


async def integrated_number_of(session: AsyncSession, unit_code: str, atena: str) -> str:
    number = (await numbered_person(session, unit_code, atena)).integrated_number
    assert number is not None
    return number


async def obtain_code(
    session: AsyncSession, systems: NationalSystems, vault: MyNumberVault, asker: Asker, atena: str
) -> CodeRequest:
    """符号取得 for the person, as 資料8 draws it. The 個人番号 goes only to the city's 中間サーバー and
    住基ネット (which know it); the 符号 stays in the 中間サーバー."""
    check_purpose(asker)
    person = await numbered_person(session, asker.unit.code, atena)
    if person.my_number_key_id is None or person.my_number_ciphertext is None or not person.integrated_number:
        raise AddresseeUnknown("the registry holds no 個人番号 for the person: 符号取得 needs one")
    my_number = vault.decrypt(person.my_number_key_id, person.my_number_ciphertext, person.integrated_number)
    identity = await systems.juki_net.find_by_my_number(my_number)
    if identity is None:
        raise AddresseeUnknown("住基ネット holds no 本人確認情報 for the person's 個人番号")
    request = await systems.chukan.request_code(person.integrated_number, my_number)
    await systems.juki_net.send_code_step(request.process_number, identity.resident_code)
    return await systems.chukan.code_status(request.process_number)


def allowed(asker: Asker, category: str, book: Rulebook) -> NetworkRule:
    """The 番号法 row that lets the asker's 事務 obtain ``category`` (E3001 without one), by the table
    of the rulebook the request found — as the city's own transfers are decided by its ordinance."""
    check_purpose(asker)
    return network_allowed(book, asker.purpose, category)


async def ask(
    session: AsyncSession,
    systems: NationalSystems,
    asker: Asker,
    atena: str,
    *,
    provider: str,
    category: str,
    period: str,
    rule: NetworkRule,
) -> NetworkInquiry:
    """情報照会 to ``provider`` (団体コード) under ``rule``: kept by its 処理通番 for the asker only."""
    integrated = await integrated_number_of(session, asker.unit.code, atena)
    try:
        process_number = await systems.chukan.ask(integrated, provider, asker.purpose, category, period)
    except NationalSystemError as error:
        if error.reason == "no_code":
            raise AddresseeUnknown("the person has no 符号 yet: ask for 符号取得 first") from None
        raise
    inquiry = NetworkInquiry(
        process_number=process_number,
        unit_code=asker.unit.code,
        atena_number=atena,
        integrated_number=integrated,
        purpose_code=asker.purpose,
        category=category,
        provider=provider,
        period=period,
        article=rule.article,
        department=asker.department,
        user=asker.user,
        status=InquiryStatus.SENT.value,
        asked_at=utcnow(),
        recorded=False,
    )
    session.add(inquiry)
    await session.flush()
    return inquiry


async def answer(
    session: AsyncSession, systems: NationalSystems, record_key: bytes, unit: Unit, process_number: str
) -> tuple[NetworkInquiry, Answer]:
    """The answer so far; once it is done, its record entry is written (once)."""
    inquiry = await session.get(NetworkInquiry, process_number, with_for_update=True)
    if inquiry is None or inquiry.unit_code != unit.code:  # another unit's 照会 is none of its business
        raise UnknownTarget(f"unit {unit.code} asked no 情報照会 {process_number}")
    found = await systems.chukan.answer(process_number)
    inquiry.status, inquiry.reason = found.status.value, found.reason
    if found.status.done and not inquiry.recorded:
        inquiry.answered_at, inquiry.recorded = utcnow(), True
        await record_entries(
            session, _facts(inquiry, unit, found, record_key), [inquiry.integrated_number], record_key
        )
    await session.flush()
    return inquiry, found


async def record_refusal(
    session: AsyncSession,
    record_key: bytes,
    asker: Asker,
    atena: str,
    *,
    provider: str,
    category: str,
    period: str,
    reason: str,
) -> None:
    """A 照会 the 番号法 table does not allow is refused before anything leaves, and recorded."""
    integrated = await addressees.linked_person(session, asker.unit.code, atena)
    refused = NetworkInquiry(
        process_number=f"refused-{utcnow():%Y%m%d%H%M%S%f}",
        unit_code=asker.unit.code,
        atena_number=atena,
        integrated_number=integrated or "",
        purpose_code=asker.purpose,
        category=category,
        provider=provider,
        period=period,
        article="",
        department=asker.department,
        user=asker.user,
        asked_at=utcnow(),
    )
    digest = content_digest(
        record_key, {"atena": atena, "provider": provider, "category": category, "period": period}
    )
    facts = network_facts(
        refused, asker.unit, outcome=TransferOutcome.REFUSED, items=[], digest=digest, refusal=reason
    )
    await record_entries(session, replace(facts, ordinance_rule_id=None), [integrated], record_key)


_OUTCOMES = {InquiryStatus.PROVIDED: TransferOutcome.PROVIDED, InquiryStatus.FAILED: TransferOutcome.FAILED}
_WHY = {
    InquiryStatus.UNDISCLOSED: "不開示: the provider does not disclose it",
    InquiryStatus.NOT_FOUND: "the provider holds nothing for the person and period",
    InquiryStatus.REFUSED: "refused by the 情報提供ネットワークシステム",
}


def _facts(inquiry: NetworkInquiry, unit: Unit, found: Answer, record_key: bytes) -> TransferFacts:
    outcome = _OUTCOMES.get(found.status, TransferOutcome.REFUSED)
    data = found.data if outcome == TransferOutcome.PROVIDED else None
    return network_facts(
        inquiry,
        unit,
        outcome=outcome,
        items=sorted(data or {}),
        digest=content_digest(record_key, {"process_number": inquiry.process_number, "data": data}),
        refusal=None if data is not None else (_WHY.get(found.status) or found.reason or found.status.value),
    )


def network_facts(
    inquiry: NetworkInquiry,
    unit: Unit,
    *,
    outcome: TransferOutcome,
    items: list[str],
    digest: str,
    refusal: str | None,
) -> TransferFacts:
    """A 情報照会's record entry: the unit received (or was refused) the information from the provider
    through the network, under the 番号法 row named as its rule."""
    return TransferFacts(
        reception_number=inquiry.process_number[:32],
        msgid=inquiry.process_number[:64],
        interface_id=INTERFACE,
        pattern=TransferPattern.NETWORK,
        requesting_unit=unit.code,
        requesting_organ=unit.organ,
        requesting_department=inquiry.department,
        requesting_user=inquiry.user,
        providing_unit=NETWORK_UNIT,
        providing_organ=f"{inquiry.provider}（情報提供ネットワークシステム）",
        purpose_code=inquiry.purpose_code,
        information_category=inquiry.category,
        item_names=items,
        requested_at=inquiry.asked_at,
        provided_at=utcnow() if outcome == TransferOutcome.PROVIDED else None,
        outcome=outcome,
        body_digest=digest,
        ordinance_rule_id=inquiry.article,
        refusal_reason=refusal,
        binding="network",
    )


def content_digest(record_key: bytes, content: Any) -> str:
    """An HMAC under the record key, as for registry answers: the data itself is never kept."""
    canonical = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hmac.new(record_key, canonical.encode(), hashlib.sha256).hexdigest()
