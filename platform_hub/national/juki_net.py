"""住基ネット, as the hub reaches it for its city: 個人番号の真正性確認, 本人確認情報照会 (by 個人番号 or
基本4情報), the 住所 on a 基準日, and the 住基 step of 符号取得 (処理通番 + 住民票コード).

The wire format (the mock's JSON: docs/national.md) is in this module only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from platform_hub.kit.settings import Settings
from platform_hub.national.transport import NationalClient


@dataclass(frozen=True)
class BasicInfo:
    """基本4情報: 氏名, 生年月日, 性別 (1 男, 2 女), 住所 (optional in a search)."""

    name: str
    birth_date: dt.date
    sex: str
    address: str | None = None

    def wire(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "birth_date": self.birth_date.isoformat(),
            "sex": self.sex,
            "address": self.address,
        }


@dataclass(frozen=True)
class Verification:
    """個人番号の真正性確認: whether the number is the person's, and which of the 基本4情報 differ."""

    authentic: bool
    known: bool  # False: no such 個人番号 at all
    differing: tuple[str, ...]


@dataclass(frozen=True)
class AddressPeriod:
    municipality_code: str  # 市町村コード
    address: str
    from_date: dt.date
    to_date: dt.date | None


@dataclass(frozen=True)
class IdentityRecord:
    """本人確認情報 as 住基ネット holds it."""

    resident_code: str  # 住民票コード
    my_number: str = field(repr=False)
    name: str
    birth_date: dt.date
    sex: str
    address: str
    municipality_code: str
    addresses: tuple[AddressPeriod, ...]


class JukiNet(NationalClient):
    system = "住基ネット"

    @classmethod
    def from_settings(cls, settings: Settings) -> JukiNet | None:
        """住基ネット as the city reaches it, or None when the hub is not connected to it."""
        if settings.juki_net_url is None or settings.juki_net_key is None:
            return None
        return cls(settings.juki_net_url, settings.juki_net_key, timeout=settings.national_timeout_seconds)

    async def verify_my_number(self, my_number: str, info: BasicInfo) -> Verification:
        """Does ``my_number`` belong to these 基本4情報 (住所 included)?"""
        found = await self.call("POST", "/verify", json={"my_number": my_number, **info.wire()})
        return Verification(found["authentic"], found["known"], tuple(found["differing"]))

    async def find_by_my_number(self, my_number: str) -> IdentityRecord | None:
        found = await self.call("POST", "/persons/search", json={"my_number": my_number})
        return next(iter(_identities(found)), None)

    async def find_by_basic_info(self, info: BasicInfo) -> list[IdentityRecord]:
        """Everyone with these 氏名, 生年月日 and 性別 (and this 住所, now or before, when given)."""
        return _identities(await self.call("POST", "/persons/search", json={"basic_info": info.wire()}))

    async def address_on(
        self, day: dt.date, *, my_number: str | None = None, resident_code: str | None = None
    ) -> AddressPeriod | None:
        """The 住所 on the 基準日 ``day`` (and so the municipality to ask), or None if none."""
        body = {"on": day.isoformat(), "my_number": my_number, "resident_code": resident_code}
        found = await self.call("POST", "/address-on", json=body, allow=(404,))
        return None if found is None else _address(found)

    async def send_code_step(self, process_number: str, resident_code: str) -> None:
        """The 住基 step of 符号取得: 住基ネット has the NWS make the city's 符号 for the person, which
        the NWS delivers to the city's 中間サーバー for the 処理通番."""
        await self.call(
            "POST", "/codes", json={"process_number": process_number, "resident_code": resident_code}
        )


def _identities(found: dict[str, Any]) -> list[IdentityRecord]:
    return [
        IdentityRecord(
            resident_code=p["resident_code"],
            my_number=p["my_number"],
            name=p["name"],
            birth_date=dt.date.fromisoformat(p["birth_date"]),
            sex=p["sex"],
            address=p["address"],
            municipality_code=p["municipality_code"],
            addresses=tuple(_address(a) for a in p["addresses"]),
        )
        for p in found["persons"]
    ]


def _address(found: dict[str, Any]) -> AddressPeriod:
    return AddressPeriod(
        municipality_code=found["municipality_code"],
        address=found["address"],
        from_date=dt.date.fromisoformat(found["from"]),
        to_date=dt.date.fromisoformat(found["to"]) if found["to"] else None,
    )
