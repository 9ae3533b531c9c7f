"""The registry fed by 住民異動通知 (IF_JUK_0001) and 住民票 sets (IF_JUK_0101): each change a person
gains, or a new person."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import raiseload

from platform_hub.addressees import repository
from platform_hub.addressees.service import add_version, link, new_person, set_my_number
from platform_hub.kit.vault import MyNumberVault
from platform_hub.models import Person
from platform_hub.protocol.errors import AddresseeUnknown, SchemaViolation
from platform_hub.protocol.numbers import (
    RemainderOne,
    check_atena_number,
    check_migrated_atena_number,
    check_my_number,
)
from platform_hub.protocol.registry import BasicInfo, ResidentStatus

# 住民状態 code of the 住民異動通知 → the registry's status.
_RESIDENT_STATES = {
    "1": ResidentStatus.RESIDENT,
    "2": ResidentStatus.MOVED_OUT,
    "3": ResidentStatus.DECEASED,
    "4": ResidentStatus.MOVED_OUT,
}
_CREATING_EVENTS = {"01", "04", "08"}  # 転入, 出生, 職権記載
# The optional 宛名 items of IF_JUK_0001 / IF_JUK_0101 (0018) → the registry's.
_DETAIL_ITEMS = {
    "Shi": "family_name",
    "Mei": "given_name",
    "ShiKana": "family_name_kana",
    "MeiKana": "given_name_kana",
    "GaikokujinShimeiEiji": "foreign_name_alphabet",
    "GaikokujinShimeiKanji": "foreign_name_kanji",
    "Tsusho": "alias",
    "TsushoKana": "alias_kana",
    "Kyuuji": "former_surname",
    "KyuujiKana": "former_surname_kana",
    "SeinengappiFushoHyoki": "birth_date_notation",
    "ChoazaCode": "town_code",
}


def birth_date_of(fields: dict[str, str]) -> str:
    """生年月日 as the registry keeps it: the message's date (an XSD date, its unknown parts written
    01) with those parts 00 as 生年月日不詳区分 says — 1 日不詳, 2 月日不詳."""
    day = fields["SeinengappiDate"]
    match fields.get("SeinengappiFushoKubun"):
        case "1":
            return day[:8] + "00"
        case "2":
            return day[:5] + "00-00"
        case _:
            return day


def support_measure_of(fields: dict[str, str]) -> bool | None:
    """DV等支援措置 as 住民基本台帳 sends it; ``None`` when the message does not say (left as it is)."""
    flag = fields.get("ShienSochiFlag")
    return None if flag is None else flag == "1"


class PersonRef(NamedTuple):
    """Who a 住民異動 concerned: what its callers need of the person, without loading them."""

    id: int
    integrated_number: str  # the person's reference: the 団体内統合宛名番号, or P<id> without one


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
    remainder_one: RemainderOne = RemainderOne.ZERO,
) -> PersonRef:
    """Apply one 住民異動 of unit ``unit_code`` (住民基本台帳) to the registry, in the caller's transaction.

    転入・出生・職権記載 (or any change, to ``bring_in`` every resident of a 全件 set) create the person
    (or find them by 個人番号) and link the unit's 宛名番号; every other change adds a version to a
    person the unit has linked, or is E3002. A refusal comes before anything is written.

    The 宛名番号 of a person already linked is taken as it is (it may predate the hub, and its check
    digit); one newly linked by a 転入・出生・職権記載 carries its check digit (``remainder_one``); a
    全件 set's (``bring_in``) are the register's numbers from before, taken as they are.
    """
    atena = check_migrated_atena_number(fields["AtenaNo"])
    status = _RESIDENT_STATES[fields["JuminJotaiCode"]]
    moved_away = status == ResidentStatus.MOVED_OUT and fields.get("TenshutsusakiJusho")
    try:
        info = BasicInfo(
            name=fields["Shimei"],
            name_kana=fields.get("ShimeiKana"),
            birth_date=birth_date_of(fields),
            birth_date_unknown=fields.get("SeinengappiFushoKubun", "0") != "0",
            **{
                ours: fields[item]
                for item, ours in _DETAIL_ITEMS.items()
                if fields.get(item) and not (moved_away and item == "ChoazaCode")
            },
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
    support = support_measure_of(fields)
    existing = await repository.linked_person_locked(session, unit_code, atena)
    if existing is not None:
        reference = existing.integrated_number
        if support is not None:
            await repository.set_support_measure(session, existing.id, support)
        await add_version(
            session, existing.id, info, status=status, valid_from=effective, reason=event_name, locked=True
        )
        if my_number is not None:  # 住基 brings the 個人番号: the 付番依頼 (a number issued if none)
            # An object only to set the number on, and still without the history.
            history = [raiseload(Person.versions), raiseload(Person.links)]
            person = await session.get(Person, existing.id, options=history)
            assert person is not None
            await set_my_number(session, vault, person, my_number, actor=actor, remainder_one=remainder_one)
            reference = person.reference
        return PersonRef(existing.id, reference)
    if fields["IdoJiyuCode"] not in _CREATING_EVENTS and not bring_in:
        raise AddresseeUnknown(
            f"宛名番号 {atena} of unit {unit_code} is not linked: {event_name} needs a known person"
        )
    if not bring_in:
        check_atena_number(atena, remainder_one=remainder_one)  # a new number: its check digit
    person = None
    if my_number is not None:
        person = await repository.by_my_number_hash(session, vault.lookup_hash(check_my_number(my_number)))
    if person is None:
        person = await new_person(
            session,
            vault,
            info,
            status=status,
            valid_from=effective,
            reason=event_name,
            actor=actor,
            my_number=my_number,
            remainder_one=remainder_one,
            support_measure=bool(support),
        )
    else:  # a former resident (or a 住登外者) comes back: same person, a new version
        if support is not None:
            await repository.set_support_measure(session, person.id, support)
        await add_version(session, person.id, info, status=status, valid_from=effective, reason=event_name)
    await link(
        session,
        person,
        unit_code,
        atena,
        reason=event_name,
        actor=actor,
        remainder_one=remainder_one,
        migrated=bring_in,
    )
    return PersonRef(person.id, person.reference)
