from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

AtenaNo = Field(pattern=r"^[0-9A-Z]{15}$", description="the person, in the asking unit's 宛名番号")
Purpose = Field(pattern=r"^[0-9A-Z][0-9A-Z\-]{0,15}$", description="the 事務 it is asked for")


class CodeAsked(BaseModel):
    """符号取得 for one person."""

    model_config = ConfigDict(extra="forbid")

    atena_no: str = AtenaNo
    purpose: str = Purpose


class CodeOut(BaseModel):
    process_number: str = Field(description="the 中間サーバー's 処理通番")
    status: str = Field(description="waiting, or linked (the 符号 stays in the 中間サーバー)")
    linked: bool


class VerificationAsked(BaseModel):
    """個人番号の真正性確認: the 個人番号 a person gave, with their 基本4情報 (today's 住所)."""

    model_config = ConfigDict(extra="forbid")

    purpose: str = Purpose
    my_number: str = Field(pattern=r"^[0-9]{12}$", repr=False, description="the 個人番号 to verify")
    name: str = Field(min_length=1, max_length=100, description="氏名")
    birth_date: dt.date
    sex: str = Field(pattern=r"^[12]$", description="1 男, 2 女")
    address: str = Field(min_length=1, max_length=200, description="today's 住所")


class VerificationOut(BaseModel):
    authentic: bool = Field(description="the 個人番号 is the person's, and every one of the 基本4情報 agrees")
    known: bool = Field(description="false: 住基ネット knows no such 個人番号")
    differing: list[str] = Field(description="which of name, birth_date, sex, address differ")


class IdentityAsked(BaseModel):
    """本人確認情報照会 by the person's 個人番号 (held by the hub), and its 最新化 in the registry."""

    model_config = ConfigDict(extra="forbid")

    atena_no: str = AtenaNo
    purpose: str = Purpose
    refresh: bool = Field(default=False, description="a 住登外者's registry entry takes 住基ネット's")


class IdentityOut(BaseModel):
    name: str
    birth_date: dt.date
    sex: str
    address: str
    municipality_code: str = Field(description="the 市町村コード of today's 住所")
    refreshed: bool = Field(description="the registry took it: a new version, for the asking 事務 alone")
    changed: list[str] = Field(description="what the 最新化 changed (氏名, 住所, 市町村コード …)")


class AddressAsked(BaseModel):
    """The person's 住所 on a 基準日, as 住基ネット knows it."""

    model_config = ConfigDict(extra="forbid")

    atena_no: str = AtenaNo
    purpose: str = Purpose
    on: dt.date = Field(description="the 基準日")


class AddressOut(BaseModel):
    on: dt.date
    found: bool = Field(description="false: 住基ネット knows no 住所 of the person on that day")
    municipality_code: str | None = Field(default=None, description="where a 情報照会 for that 基準日 goes")
    address: str | None = None
    since: dt.date | None = None
    until: dt.date | None = Field(default=None, description="the last day there; none: lives there still")


class ProvisionRecordOut(BaseModel):
    """情報提供等の記録 (番号法 第23条) as the city's 中間サーバー keeps it: no data, no 符号, no 個人番号."""

    side: str = Field(description="requester (the city asked) or provider (the city answered)")
    inquiry_id: str = Field(description="the NWS's id, the same on both sides")
    requester: str = Field(description="照会者's 団体コード")
    provider: str = Field(description="提供者's 団体コード")
    affair: str = Field(description="the 事務")
    information: str = Field(description="the 特定個人情報")
    period: str
    result: str
    requested_at: dt.datetime
    provided_at: dt.datetime | None


class ProvisionRecordsOut(BaseModel):
    connected: bool = Field(description="false: no 中間サーバー is connected, so none were read")
    records: list[ProvisionRecordOut] = Field(description="newest first")


class InquiryAsked(BaseModel):
    """情報照会 to another organisation through the 情報提供ネットワークシステム."""

    model_config = ConfigDict(extra="forbid")

    atena_no: str = AtenaNo
    purpose: str = Purpose
    provider: str = Field(pattern=r"^[0-9]{6}$", description="the providing organisation's 団体コード")
    information: str = Field(min_length=1, max_length=64, description="the 特定個人情報, e.g. 地方税関係情報")
    period: str = Field(pattern=r"^[0-9]{4}(-[0-9]{2}-[0-9]{2})?$", description="the 年度, or a 基準日")
    department: str | None = Field(default=None, max_length=16, description="the asking 部署")
    user: str | None = Field(default=None, max_length=32, description="the asking clerk")


class InquiryOut(BaseModel):
    process_number: str
    atena_no: str
    provider: str
    information: str
    period: str
    article: str = Field(description="the 番号法 row that allows it")
    status: str = Field(
        description="sent, pending (自動応答不可), provided, undisclosed, not_found, refused, failed"
    )
    data: dict[str, Any] | None = Field(default=None, description="what the provider answered, once provided")
    reason: str | None = None


# --- the providing side (provision.py) ------------------------------------------------------------


class DuplicateRegistered(BaseModel):
    """副本登録: what the city provides about the person through the network, in the registering unit's
    宛名番号; the 中間サーバー answers 照会 from it."""

    model_config = ConfigDict(extra="forbid")

    atena_no: str = AtenaNo
    purpose: str = Purpose
    information: str = Field(min_length=1, max_length=64, description="the 特定個人情報, e.g. 地方税関係情報")
    period: str = Field(pattern=r"^[0-9]{4}(-[0-9]{2}-[0-9]{2})?$", description="the 年度, or a 基準日")
    data: dict[str, Any] = Field(max_length=200, description="the items and their values the 副本 holds")
    undisclosed: bool = Field(default=False, description="不開示: answered as such, with no data")
    no_auto_answer: bool = Field(default=False, description="自動応答不可: the unit releases each 提供")


class DuplicateOut(BaseModel):
    atena_no: str
    information: str
    period: str
    undisclosed: bool
    no_auto_answer: bool
    replaced: bool = Field(description="it replaced the 副本 registered for the same person and period")


class PendingOut(BaseModel):
    """A 照会 from another organisation waiting for the unit's decision (自動応答不可)."""

    inquiry_id: str = Field(description="the 情報提供ネットワークシステム's")
    atena_no: str = Field(description="the person, in the unit's own 宛名番号")
    requester: str = Field(description="the asking organisation's 団体コード")
    affair: str = Field(description="the requester's 事務")
    information: str
    period: str


class PendingList(BaseModel):
    provisions: list[PendingOut]


class ReleasedOut(BaseModel):
    inquiry_id: str
    status: str = Field(description="what was answered: provided, undisclosed, not_found")
    article: str = Field(description="the 番号法 row that allows the 提供")


class SyncOut(BaseModel):
    connected: bool = Field(description="false: the hub has no 中間サーバー, so it made no 提供 to record")
    recorded: int = Field(description="提供 newly written to the transfer record")
