"""本人確認情報 through 住基ネット, for a unit's 個人番号利用事務: 個人番号の真正性確認, 本人確認情報照会 and
the 最新化 of a 住登外者 in the registry, and the 住所 on a 基準日 (which says where a 情報照会 goes).

The basis is 番号法 第14条第2項: a 個人番号利用事務実施者 may ask the 機構 (J-LIS) for the
機構保存本人確認情報 as 住基法 第30条の9〜第30条の12 provide. Only a 事務 that uses the 個人番号
(``number_use``) may; any other is refused and recorded. Each call leaves an entry in the transfer
record, pattern ``juki_net``: the unit received 本人確認情報 from the 機構. The 個人番号 and the
住民票コード never leave the hub towards the unit; what 住基ネット returns for the registry is kept for
the asking 事務 alone (他業務参照不可 in the DA's sense).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.addressees import repository as registry
from platform_hub.addressees import service as addressees
from platform_hub.addressees.views import current_version
from platform_hub.audit.service import TransferFacts, record_entries
from platform_hub.kit.clock import city_today, utcnow
from platform_hub.kit.vault import MyNumberVault
from platform_hub.models import JUKI_NET_UNIT, Person, TransferOutcome, TransferPattern
from platform_hub.national.juki_net import AddressPeriod, BasicInfo, IdentityRecord, JukiNet, Verification
from platform_hub.network.service import Asker, content_digest, numbered_person
from platform_hub.protocol.catalog import Catalog
from platform_hub.protocol.errors import AddresseeUnknown
from platform_hub.protocol.registry import DETAIL_FIELDS, ResidentStatus
from platform_hub.protocol.registry import BasicInfo as RegistryInfo

JUKI_NET_ORGAN = "地方公共団体情報システム機構（住基ネット）"
JUKI_NET_RULE = "番号法 第14条第2項"
INFORMATION = "本人確認情報"  # 機構保存本人確認情報 (住基法 第30条の9)
VERIFY, IDENTITY, ADDRESS = "JUKI_VERIFY", "JUKI_IDENTITY", "JUKI_ADDRESS"  # the record's interface ids
REFRESHED = "本人確認情報の最新化（住基ネット）"


@dataclass(frozen=True)
class Refreshed:
    """本人確認情報 as 住基ネット holds it today, and whether the registry took it (a 住登外者 only)."""

    identity: IdentityRecord
    refreshed: bool
    changed: tuple[str, ...]


def number_use_refusal(catalog: Catalog, asker: Asker) -> str | None:
    """Why the asker may not ask the 機構, or None: only for a 個人番号利用事務 of the unit."""
    purpose = catalog.purposes.get(asker.purpose)
    if asker.purpose in asker.unit.purposes and purpose is not None and purpose.number_use:
        return None
    return f"{asker.purpose} is no 個人番号利用事務 of unit {asker.unit.code}: 住基ネット is not for it"


async def record_refusal(
    session: AsyncSession, record_key: bytes, asker: Asker, interface: str, reason: str
) -> None:
    """The refused call's entry; nothing was asked of 住基ネット."""
    facts = _facts(asker, interface, TransferOutcome.REFUSED, [], record_key, {}, refusal=reason)
    await record_entries(session, facts, [None], record_key)


async def verify(
    session: AsyncSession,
    juki_net: JukiNet,
    vault: MyNumberVault,
    record_key: bytes,
    asker: Asker,
    my_number: str,
    info: BasicInfo,
) -> Verification:
    """個人番号の真正性確認: is ``my_number`` the person of these 基本4情報? Recorded against the person
    the registry holds under that number, if any."""
    found = await juki_net.verify_my_number(my_number, info)
    person = await registry.by_my_number_hash(session, vault.lookup_hash(my_number))
    content = {"authentic": found.authentic, "known": found.known, "differing": list(found.differing)}
    facts = _facts(asker, VERIFY, TransferOutcome.PROVIDED, ["真正性確認結果"], record_key, content)
    await record_entries(session, facts, [person.reference if person else None], record_key)
    return found


async def identity(
    session: AsyncSession,
    juki_net: JukiNet,
    vault: MyNumberVault,
    record_key: bytes,
    asker: Asker,
    atena: str,
    *,
    refresh: bool,
) -> Refreshed:
    """本人確認情報照会 by the person's 個人番号; with ``refresh``, a 住登外者's registry entry takes it
    (a new version, for the asking 事務 alone). A resident's comes from 住民基本台帳 itself."""
    person = await numbered_person(session, asker.unit.code, atena)
    found = await juki_net.find_by_my_number(_my_number(vault, person))
    if found is None:
        raise AddresseeUnknown("住基ネット holds no 本人確認情報 for the person's 個人番号")
    current = current_version(person)
    changed: tuple[str, ...] = ()
    if refresh and current.status == ResidentStatus.NON_RESIDENT:
        changed = await _refresh(session, person, found, asker.purpose)
    content = {"resident_code": found.resident_code, "changed": list(changed), "at": found.address}
    items = ["氏名", "生年月日", "性別", "住所"]
    facts = _facts(asker, IDENTITY, TransferOutcome.PROVIDED, items, record_key, content)
    await record_entries(session, facts, [person.reference], record_key)
    return Refreshed(found, bool(changed), changed)


async def address_on(
    session: AsyncSession,
    juki_net: JukiNet,
    vault: MyNumberVault,
    record_key: bytes,
    asker: Asker,
    atena: str,
    day: dt.date,
) -> AddressPeriod | None:
    """The person's 住所 on ``day`` as 住基ネット knows it, with its 市町村コード: where a 情報照会 for
    that 基準日 goes. None when 住基ネット has none for that day (still recorded)."""
    person = await numbered_person(session, asker.unit.code, atena)
    found = await juki_net.address_on(day, my_number=_my_number(vault, person))
    content = {"on": day.isoformat(), "municipality": found.municipality_code if found else None}
    items = ["住所", "市町村コード"] if found else []
    facts = _facts(asker, ADDRESS, TransferOutcome.PROVIDED, items, record_key, content)
    await record_entries(session, facts, [person.reference], record_key)
    return found


def _my_number(vault: MyNumberVault, person: Person) -> str:
    if person.my_number_key_id is None or person.my_number_ciphertext is None or not person.integrated_number:
        raise AddresseeUnknown("the registry holds no 個人番号 for the person: 住基ネット is asked by it")
    return vault.decrypt(person.my_number_key_id, person.my_number_ciphertext, person.integrated_number)


_FIELDS = {
    "name": "氏名",
    "birth_date": "生年月日",
    "sex": "性別",
    "address": "住所",
    "municipality_code": "市町村コード",
}


async def _refresh(
    session: AsyncSession, person: Person, found: IdentityRecord, purpose: str
) -> tuple[str, ...]:
    """A new version with 住基ネット's 基本4情報 when any differs; the rest of the 宛名 is kept."""
    current = current_version(person)
    fresh = {
        "name": found.name,
        "birth_date": found.birth_date.isoformat(),
        "sex": found.sex,
        "address": found.address,
        "municipality_code": found.municipality_code,
    }
    changed = tuple(label for field, label in _FIELDS.items() if getattr(current, field) != fresh[field])
    if not changed:
        return ()
    kept = {name: getattr(current, name) for name in DETAIL_FIELDS}
    info = RegistryInfo.model_validate({**kept, "name_kana": current.name_kana, **fresh})
    await addressees.add_version(
        session,
        person.id,
        info,
        status=current.status,
        valid_from=city_today(),
        reason=REFRESHED,
        jukinet_purpose=purpose,
    )
    return changed


def _facts(
    asker: Asker,
    interface: str,
    outcome: TransferOutcome,
    items: list[str],
    record_key: bytes,
    content: dict[str, Any],
    refusal: str | None = None,
) -> TransferFacts:
    """The entry of one call: what 住基ネット answered is kept only as an HMAC under the record key."""
    now = utcnow()
    number = f"J{now:%Y%m%d%H%M%S%f}"
    return TransferFacts(
        reception_number=number,
        msgid=number,
        interface_id=interface,
        pattern=TransferPattern.JUKI_NET,
        requesting_unit=asker.unit.code,
        requesting_organ=asker.unit.organ,
        requesting_department=asker.department,
        requesting_user=asker.user,
        providing_unit=JUKI_NET_UNIT,
        providing_organ=JUKI_NET_ORGAN,
        purpose_code=asker.purpose,
        information_category=INFORMATION,
        item_names=items,
        requested_at=now,
        provided_at=now if outcome == TransferOutcome.PROVIDED else None,
        outcome=outcome,
        body_digest=content_digest(record_key, content),
        ordinance_rule_id=JUKI_NET_RULE if outcome == TransferOutcome.PROVIDED else None,
        refusal_reason=refusal,
        binding="juki_net",
    )
