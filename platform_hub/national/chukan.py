"""The city's 中間サーバー, as the hub (the 団体内統合宛名 gateway) talks to it: 符号取得, 副本登録,
情報照会 and its answer, the operator's release of a pending 提供, and the 第23条 records.

The wire format (JSON over HTTP, the mock's: docs/national.md) is in this module only. The 符号
stays inside the 中間サーバー: the hub learns that a 団体内統合宛名番号 is linked, never the 符号.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from platform_hub.kit.settings import Settings
from platform_hub.national.transport import NationalClient, NationalSystemError


class CodeStatus(StrEnum):
    WAITING = "waiting"  # the 処理通番 is issued; the 符号 has not come from the NWS yet
    LINKED = "linked"  # 紐付け done: the 団体内統合宛名番号 has its 符号


class InquiryStatus(StrEnum):
    SENT = "sent"
    PENDING = "pending"  # 自動応答不可: the provider's operator has to release it
    PROVIDED = "provided"
    UNDISCLOSED = "undisclosed"  # 不開示
    NOT_FOUND = "not_found"  # the provider holds nothing for the person (or no 符号 for them)
    REFUSED = "refused"  # the NWS's table does not allow this 事務 × 特定個人情報
    FAILED = "failed"

    @property
    def done(self) -> bool:
        return self not in (InquiryStatus.SENT, InquiryStatus.PENDING)


@dataclass(frozen=True)
class CodeRequest:
    """符号取得 by 処理通番."""

    process_number: str
    integrated_number: str
    status: CodeStatus

    @property
    def linked(self) -> bool:
        return self.status is CodeStatus.LINKED


@dataclass(frozen=True)
class Answer:
    """A 情報照会 by its 処理通番: its state and, once provided, the provider's data."""

    process_number: str
    status: InquiryStatus
    provider: str
    affair: str
    information: str
    period: str
    data: dict[str, Any] | None = None
    reason: str | None = None


@dataclass(frozen=True)
class PendingProvision:
    """A 照会 from another organisation waiting for this one's operator (自動応答不可)."""

    inquiry_id: str
    integrated_number: str
    requester: str
    affair: str
    information: str
    period: str


@dataclass(frozen=True)
class ProvisionRecord:
    """情報提供等の記録 (番号法 第23条), as one side keeps it."""

    side: str  # requester (照会者) or provider (提供者)
    inquiry_id: str
    requester: str
    provider: str
    integrated_number: str
    affair: str
    information: str
    period: str
    result: str
    requested_at: dt.datetime
    provided_at: dt.datetime | None = field(default=None)


class ChukanServer(NationalClient):
    system = "中間サーバー"

    @classmethod
    def from_settings(cls, settings: Settings) -> ChukanServer | None:
        """The city's 中間サーバー, or None when the hub is not connected to one."""
        if settings.chukan_url is None or settings.chukan_key is None:
            return None
        return cls(settings.chukan_url, settings.chukan_key, timeout=settings.national_timeout_seconds)

    async def request_code(self, integrated_number: str, my_number: str) -> CodeRequest:
        """宛名番号・個人番号の通知: the 処理通番 that 住基 then sends to 住基ネット with the 住民票コード."""
        body = {"integrated_number": integrated_number, "my_number": my_number}
        return _code_request(await self.call("POST", "/codes", json=body))

    async def code_status(self, process_number: str) -> CodeRequest:
        return _code_request(await self.call("GET", f"/codes/{process_number}"))

    async def register_duplicate(
        self,
        integrated_number: str,
        information: str,
        period: str,
        data: dict[str, Any],
        *,
        undisclosed: bool = False,
        no_auto_answer: bool = False,
    ) -> bool:
        """副本登録 (kept current: the same person, information and period replace the last); True if
        it replaced one."""
        body = {
            "integrated_number": integrated_number,
            "information": information,
            "period": period,
            "data": data,
            "undisclosed": undisclosed,
            "no_auto_answer": no_auto_answer,
        }
        return bool((await self.call("POST", "/duplicates", json=body))["replaced"])

    async def ask(
        self, integrated_number: str, provider: str, affair: str, information: str, period: str
    ) -> str:
        """情報照会 to ``provider`` (its 団体コード) for the person: the 処理通番 to poll ``answer`` with.
        ``period`` is the 年度 (or 基準日) the provider answers for."""
        body = {
            "integrated_number": integrated_number,
            "provider": provider,
            "affair": affair,
            "information": information,
            "period": period,
        }
        return str((await self.call("POST", "/inquiries", json=body))["process_number"])

    async def answer(self, process_number: str) -> Answer:
        found = await self.call("GET", f"/inquiries/{process_number}")
        return Answer(
            process_number=found["process_number"],
            status=InquiryStatus(found["status"]),
            provider=found["provider"],
            affair=found["affair"],
            information=found["information"],
            period=found["period"],
            data=found["data"],
            reason=found["reason"],
        )

    async def wait_answer(
        self, process_number: str, *, within: float = 30.0, interval: float = 0.2
    ) -> Answer:
        """Poll until the answer is done or pending (自動応答不可: a person on the provider's side has to
        release it, so the caller comes back later with ``answer``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            found = await self.answer(process_number)
            if found.status is not InquiryStatus.SENT:
                return found
            if loop.time() > deadline:
                raise NationalSystemError(self.system, f"no answer within {within:g} s")
            await asyncio.sleep(interval)

    async def pending_provisions(self) -> list[PendingProvision]:
        found = await self.call("GET", "/provisions")
        return [
            PendingProvision(**{k: p[k] for k in PendingProvision.__dataclass_fields__})
            for p in found["provisions"]
        ]

    async def release(self, inquiry_id: str) -> InquiryStatus:
        """The operator's release of a pending 提供: what the 副本 holds now is answered."""
        return InquiryStatus((await self.call("POST", f"/provisions/{inquiry_id}/release"))["status"])

    async def records(
        self, integrated_number: str | None = None, since: dt.date | None = None
    ) -> list[ProvisionRecord]:
        params = {"integrated_number": integrated_number, "since": since.isoformat() if since else None}
        found = await self.call("GET", "/records", params={k: v for k, v in params.items() if v})
        return [_record(r) for r in found["records"]]


def _code_request(found: dict[str, Any]) -> CodeRequest:
    return CodeRequest(found["process_number"], found["integrated_number"], CodeStatus(found["status"]))


def _record(found: dict[str, Any]) -> ProvisionRecord:
    provided = found["provided_at"]
    return ProvisionRecord(
        side=found["side"],
        inquiry_id=found["inquiry_id"],
        requester=found["requester"],
        provider=found["provider"],
        integrated_number=found["integrated_number"],
        affair=found["affair"],
        information=found["information"],
        period=found["period"],
        result=found["result"],
        requested_at=dt.datetime.fromisoformat(found["requested_at"]),
        provided_at=dt.datetime.fromisoformat(provided) if provided else None,
    )
