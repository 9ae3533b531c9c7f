"""Mock 中間サーバー: one per municipality, with its own database and organisation code.

Its municipality's hub (the 団体内統合宛名 gateway) talks to it in 団体内統合宛名番号 only; the 符号 the
NWS delivers stays here, linked to the 団体内統合宛名番号 — the hub learns only that the link exists.
The interface families it models (the real 外部インターフェイス仕様書 is not public; docs/national.md):
符号取得 with a 処理通番, 副本登録, 情報照会 answered asynchronously (poll by 処理通番), the provider's
side of a 照会 (自動応答不可 waits for an operator's release; 不開示 is answered as such), and the
情報提供等の記録 of 番号法 第23条 on both sides, kept ``retention_years``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import BackgroundTasks, FastAPI, HTTPException, Request
from pydantic import BaseModel, Field, field_validator

from platform_hub.protocol.numbers import is_valid_my_number
from platform_hub_national.network import (
    CODE_PATTERN,
    Network,
    engine_for,
    make_app,
    now,
    process_number,
    require,
    utc,
)

metadata = sa.MetaData()
code_requests = sa.Table(
    "code_requests",
    metadata,
    sa.Column("process_number", sa.String(40), primary_key=True),  # 処理通番
    sa.Column("integrated_number", sa.String(40), nullable=False),  # 団体内統合宛名番号
    sa.Column("status", sa.String(20), nullable=False),  # waiting, linked
    sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("linked_at", sa.DateTime(timezone=True), nullable=True),
)
links = sa.Table(
    "code_links",
    metadata,
    sa.Column("integrated_number", sa.String(40), primary_key=True),
    sa.Column("code", sa.String(64), nullable=False, unique=True),  # this organisation's 符号
    sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
)
duplicates = sa.Table(
    "duplicates",  # 副本: what this municipality provides through the NWS
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("integrated_number", sa.String(40), nullable=False),
    sa.Column("information", sa.String(100), nullable=False),  # 特定個人情報 (e.g. 地方税関係情報)
    sa.Column("period", sa.String(10), nullable=False),  # 年度 (or 基準日) it is for
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("undisclosed", sa.Boolean, nullable=False),  # 不開示
    sa.Column("no_auto_answer", sa.Boolean, nullable=False),  # 自動応答不可
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("integrated_number", "information", "period"),
)
inquiries = sa.Table(
    "inquiries",  # this municipality's own 照会, by its 処理通番
    metadata,
    sa.Column("process_number", sa.String(40), primary_key=True),
    sa.Column("integrated_number", sa.String(40), nullable=False),
    sa.Column("provider", sa.String(6), nullable=False),
    sa.Column("affair", sa.String(20), nullable=False),
    sa.Column("information", sa.String(100), nullable=False),
    sa.Column("period", sa.String(10), nullable=False),
    # sent, pending, provided, undisclosed, not_found, refused, failed
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("data", sa.JSON, nullable=True),
    sa.Column("reason", sa.String(200), nullable=True),
    sa.Column("inquiry_id", sa.String(32), nullable=True),  # the NWS's
    sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
)
provisions = sa.Table(
    "provisions",  # 照会 from other organisations this one answers; pending ones wait for the operator
    metadata,
    sa.Column("inquiry_id", sa.String(32), primary_key=True),
    sa.Column("integrated_number", sa.String(40), nullable=False),
    sa.Column("requester", sa.String(6), nullable=False),
    sa.Column("affair", sa.String(20), nullable=False),
    sa.Column("information", sa.String(100), nullable=False),
    sa.Column("period", sa.String(10), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # pending, provided, undisclosed, not_found
    sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
)
records = sa.Table(
    "provision_records",  # 情報提供等の記録 (番号法 第23条): no content, no 符号, no 個人番号
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("side", sa.String(10), nullable=False),  # requester (照会者) or provider (提供者)
    sa.Column("inquiry_id", sa.String(32), nullable=False),
    sa.Column("requester", sa.String(6), nullable=False),
    sa.Column("provider", sa.String(6), nullable=False),
    sa.Column("integrated_number", sa.String(40), nullable=False),
    sa.Column("affair", sa.String(20), nullable=False),
    sa.Column("information", sa.String(100), nullable=False),  # 特定個人情報の項目
    sa.Column("period", sa.String(10), nullable=False),
    sa.Column("result", sa.String(20), nullable=False),
    sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),  # 提供の求めの日時
    sa.Column("provided_at", sa.DateTime(timezone=True), nullable=True),  # 提供の日時
    sa.UniqueConstraint("side", "inquiry_id"),
)
FINAL = ("provided", "undisclosed", "not_found")


class CodeRequest(BaseModel):
    """宛名番号・個人番号の通知: the 個人番号 is checked, and kept nowhere here."""

    integrated_number: str = Field(min_length=1, max_length=40)
    my_number: str = Field(repr=False)

    @field_validator("my_number")
    @classmethod
    def _valid(cls, value: str) -> str:
        if not is_valid_my_number(value):
            raise ValueError("個人番号 must be 12 digits with a valid check digit")
        return value


class CodeDelivery(BaseModel):
    process_number: str
    code: str


class Duplicate(BaseModel):
    integrated_number: str = Field(min_length=1, max_length=40)
    information: str
    period: str = Field(min_length=1, max_length=10)
    data: dict[str, Any]
    undisclosed: bool = False
    no_auto_answer: bool = False


class Inquiry(BaseModel):
    integrated_number: str
    provider: str = Field(pattern=CODE_PATTERN)
    affair: str
    information: str
    period: str = Field(min_length=1, max_length=10)


class Provision(BaseModel):
    inquiry_id: str
    code: str
    requester: str
    affair: str
    information: str
    period: str


class LateAnswer(BaseModel):
    inquiry_id: str
    status: str = Field(pattern="^(provided|undisclosed|not_found)$")
    data: dict[str, Any] | None = None


class Chukan:
    def __init__(self, network: Network, database_url: str, organisation: str) -> None:
        self.network = network
        self.code = organisation
        self.organisation = network.organisation(organisation)
        self.engine = engine_for(database_url)

    def app(self) -> FastAPI:
        metadata.create_all(self.engine)
        self.purge_records()
        app = make_app(f"Mock 中間サーバー ({self.organisation.name})")
        app.post("/codes")(self.request_code)
        app.get("/codes/{process_number}")(self.code_status)
        app.post("/codes/delivery")(self.deliver_code)
        app.post("/duplicates")(self.register_duplicate)
        app.get("/duplicates/{integrated_number}")(self.duplicates_of)
        app.post("/inquiries")(self.ask)
        app.get("/inquiries/{process_number}")(self.answer)
        app.post("/inquiries/{process_number}/answer")(self.late_answer)
        app.post("/provisions")(self.provide)
        app.get("/provisions")(self.pending_provisions)
        app.post("/provisions/{inquiry_id}/release")(self.release)
        app.get("/records")(self.provision_records)
        return app

    def _own(self, request: Request) -> None:
        """The municipality itself (its hub, its operators) presents its organisation key."""
        require(request, self.network, self.code)

    # --- 符号取得 -----------------------------------------------------------------------------------

    def request_code(self, asked: CodeRequest, request: Request) -> dict[str, Any]:
        """A 処理通番 for the 団体内統合宛名番号; the 符号 arrives from the NWS once 住基 has sent the
        処理通番 and 住民票コード to 住基ネット."""
        self._own(request)
        number = process_number()
        with self.engine.begin() as db:
            db.execute(
                code_requests.insert().values(
                    process_number=number,
                    integrated_number=asked.integrated_number,
                    status="waiting",
                    requested_at=now(),
                )
            )
        return {"process_number": number, "integrated_number": asked.integrated_number, "status": "waiting"}

    def code_status(self, process_number: str, request: Request) -> dict[str, Any]:
        self._own(request)
        with self.engine.connect() as db:
            row = db.execute(
                sa.select(code_requests).where(code_requests.c.process_number == process_number)
            ).first()
        if row is None:
            raise HTTPException(404, {"error": "unknown_process_number"})
        return {
            "process_number": row.process_number,
            "integrated_number": row.integrated_number,
            "status": row.status,
            "linked": row.status == "linked",
            "requested_at": utc(row.requested_at),
            "linked_at": utc(row.linked_at),
        }

    def deliver_code(self, delivery: CodeDelivery, request: Request) -> dict[str, Any]:
        """From the NWS: the 符号 for a 処理通番, linked to its 団体内統合宛名番号 (紐付け)."""
        require(request, self.network, "nws")
        with self.engine.begin() as db:
            row = db.execute(
                sa.select(code_requests).where(code_requests.c.process_number == delivery.process_number)
            ).first()
            if row is None:
                raise HTTPException(404, {"error": "unknown_process_number"})
            linked_at = now()
            db.execute(links.delete().where(links.c.integrated_number == row.integrated_number))
            db.execute(
                links.insert().values(
                    integrated_number=row.integrated_number, code=delivery.code, linked_at=linked_at
                )
            )
            db.execute(
                code_requests.update()
                .where(code_requests.c.process_number == delivery.process_number)
                .values(status="linked", linked_at=linked_at)
            )
        return {"process_number": delivery.process_number, "status": "linked"}

    # --- 副本 ---------------------------------------------------------------------------------------

    def register_duplicate(self, duplicate: Duplicate, request: Request) -> dict[str, Any]:
        """副本登録, kept current: the same person, information and period replace what was there."""
        self._own(request)
        key = (
            duplicates.c.integrated_number == duplicate.integrated_number,
            duplicates.c.information == duplicate.information,
            duplicates.c.period == duplicate.period,
        )
        with self.engine.begin() as db:
            exists = db.execute(sa.select(duplicates.c.id).where(*key)).scalar()
            values = {**duplicate.model_dump(), "updated_at": now()}
            if exists is None:
                db.execute(duplicates.insert().values(**values))
            else:
                db.execute(duplicates.update().where(duplicates.c.id == exists).values(**values))
        return {"registered": True, "replaced": exists is not None}

    def duplicates_of(self, integrated_number: str, request: Request) -> dict[str, Any]:
        self._own(request)
        with self.engine.connect() as db:
            rows = db.execute(
                sa.select(duplicates).where(duplicates.c.integrated_number == integrated_number)
            ).all()
        return {
            "duplicates": [
                {**{k: v for k, v in r._mapping.items() if k not in ("id", "updated_at")},
                 "updated_at": utc(r.updated_at)}
                for r in rows
            ]
        }  # fmt: skip

    # --- 情報照会 (this municipality asks) -----------------------------------------------------------

    def ask(self, asked: Inquiry, request: Request, background: BackgroundTasks) -> dict[str, Any]:
        """A 処理通番 at once; the 照会 goes to the NWS after this answer (poll GET /inquiries/{処理通番})."""
        self._own(request)
        with self.engine.begin() as db:
            code = db.execute(
                sa.select(links.c.code).where(links.c.integrated_number == asked.integrated_number)
            ).scalar()
            if code is None:
                raise HTTPException(409, {"error": "no_code", "detail": "符号取得 first"})
            number = process_number()
            db.execute(
                inquiries.insert().values(
                    process_number=number, status="sent", requested_at=now(), **asked.model_dump()
                )
            )
        background.add_task(self._send, number, code, asked)
        return {"process_number": number, "status": "sent"}

    def _send(self, number: str, code: str, asked: Inquiry) -> None:
        body = {"process_number": number, "code": code, **asked.model_dump(exclude={"integrated_number"})}
        try:
            response = httpx.post(
                f"{self.network.nws.url.rstrip('/')}/inquiries",
                json=body,
                headers={"Authorization": f"Bearer {self.organisation.key}"},
                timeout=30,
            )
        except httpx.HTTPError as exc:
            self._conclude(number, "failed", reason=type(exc).__name__)
            return
        if response.status_code == 403:
            self._conclude(number, "refused", reason=response.json().get("detail", {}).get("error"))
            return
        if response.status_code != 200:
            self._conclude(number, "failed", reason=f"NWS {response.status_code}")
            return
        answer = response.json()
        with self.engine.begin() as db:
            db.execute(
                inquiries.update()
                .where(inquiries.c.process_number == number)
                .values(inquiry_id=answer["inquiry_id"])
            )
            self._record(db, "requester", answer["inquiry_id"], self.code, asked.provider, asked, "pending")
        self._conclude(number, answer["status"], data=answer.get("data"))  # pending: until the release

    def _conclude(
        self, number: str, status: str, *, data: dict[str, Any] | None = None, reason: str | None = None
    ) -> None:
        at = now()
        with self.engine.begin() as db:
            db.execute(
                inquiries.update()
                .where(inquiries.c.process_number == number)
                .values(status=status, data=data, reason=reason)
                .values(answered_at=None if status == "pending" else at)
            )
            inquiry_id = db.execute(
                sa.select(inquiries.c.inquiry_id).where(inquiries.c.process_number == number)
            ).scalar()
            if inquiry_id is not None and status in FINAL:
                db.execute(
                    records.update()
                    .where(records.c.side == "requester", records.c.inquiry_id == inquiry_id)
                    .values(result=status, provided_at=at if status == "provided" else None)
                )

    def answer(self, process_number: str, request: Request) -> dict[str, Any]:
        """The 照会's state: sent, pending (the provider's operator has it), or its answer."""
        self._own(request)
        with self.engine.connect() as db:
            row = db.execute(sa.select(inquiries).where(inquiries.c.process_number == process_number)).first()
        if row is None:
            raise HTTPException(404, {"error": "unknown_process_number"})
        return {
            "process_number": row.process_number,
            "integrated_number": row.integrated_number,
            "provider": row.provider,
            "affair": row.affair,
            "information": row.information,
            "period": row.period,
            "status": row.status,
            "data": row.data,
            "reason": row.reason,
            "requested_at": utc(row.requested_at),
            "answered_at": utc(row.answered_at),
        }

    def late_answer(self, process_number: str, answer: LateAnswer, request: Request) -> dict[str, Any]:
        """From the NWS: the answer a provider's operator released after 自動応答不可."""
        require(request, self.network, "nws")
        with self.engine.connect() as db:
            row = db.execute(sa.select(inquiries).where(inquiries.c.process_number == process_number)).first()
        if row is None or row.inquiry_id != answer.inquiry_id:
            raise HTTPException(404, {"error": "unknown_process_number"})
        self._conclude(process_number, answer.status, data=answer.data)
        return {"process_number": process_number, "status": answer.status}

    # --- 情報提供 (another organisation asks this one) ----------------------------------------------

    def provide(self, asked: Provision, request: Request) -> dict[str, Any]:
        """From the NWS: answer from the 副本 — at once, as 不開示, or pending (自動応答不可)."""
        require(request, self.network, "nws")
        with self.engine.begin() as db:
            integrated = db.execute(
                sa.select(links.c.integrated_number).where(links.c.code == asked.code)
            ).scalar()
            if integrated is None:
                return {"status": "not_found", "data": None}
            duplicate = self._duplicate(db, integrated, asked.information, asked.period)
            pending = duplicate is not None and duplicate.no_auto_answer
            status = "pending" if pending else _status_of(duplicate)
            at = now()
            db.execute(
                provisions.insert().values(
                    inquiry_id=asked.inquiry_id,
                    integrated_number=integrated,
                    requester=asked.requester,
                    affair=asked.affair,
                    information=asked.information,
                    period=asked.period,
                    status=status,
                    requested_at=at,
                    answered_at=None if pending else at,
                )
            )
            self._record(db, "provider", asked.inquiry_id, asked.requester, self.code, asked, status, at)
        if pending:
            return {"status": "pending", "data": None}
        return {"status": status, "data": duplicate.data if status == "provided" else None}

    def pending_provisions(self, request: Request) -> dict[str, Any]:
        """The operator's list of 照会 waiting for a decision (自動応答不可)."""
        self._own(request)
        with self.engine.connect() as db:
            rows = db.execute(sa.select(provisions).where(provisions.c.status == "pending")).all()
        return {
            "provisions": [
                {**{k: v for k, v in r._mapping.items() if not k.endswith("_at")},
                 "requested_at": utc(r.requested_at)}
                for r in rows
            ]
        }  # fmt: skip

    def release(self, inquiry_id: str, request: Request) -> dict[str, Any]:
        """The operator releases a pending answer: what the 副本 holds now goes to the NWS."""
        self._own(request)
        with self.engine.connect() as db:
            row = db.execute(sa.select(provisions).where(provisions.c.inquiry_id == inquiry_id)).first()
            if row is None or row.status != "pending":
                raise HTTPException(404, {"error": "no_pending_provision"})
            duplicate = self._duplicate(db, row.integrated_number, row.information, row.period)
        status = _status_of(duplicate)
        data = duplicate.data if status == "provided" and duplicate is not None else None
        response = httpx.post(
            f"{self.network.nws.url.rstrip('/')}/inquiries/{inquiry_id}/answer",
            json={"status": status, "data": data},
            headers={"Authorization": f"Bearer {self.organisation.key}"},
            timeout=30,
        )
        if response.status_code != 200:
            raise HTTPException(502, {"error": "nws_refused", "nws": response.json()})
        at = now()
        with self.engine.begin() as db:
            db.execute(
                provisions.update()
                .where(provisions.c.inquiry_id == inquiry_id)
                .values(status=status, answered_at=at)
            )
            db.execute(
                records.update()
                .where(records.c.side == "provider", records.c.inquiry_id == inquiry_id)
                .values(result=status, provided_at=at if status == "provided" else None)
            )
        return {"inquiry_id": inquiry_id, "status": status}

    # --- 情報提供等の記録 (第23条) -------------------------------------------------------------------

    def provision_records(
        self, request: Request, integrated_number: str | None = None, since: dt.date | None = None
    ) -> dict[str, Any]:
        """The records this side keeps, newest first; by person or from a day."""
        self._own(request)
        self.purge_records()
        query = sa.select(records).order_by(records.c.requested_at.desc(), records.c.id.desc())
        if integrated_number is not None:
            query = query.where(records.c.integrated_number == integrated_number)
        if since is not None:
            query = query.where(records.c.requested_at >= dt.datetime.combine(since, dt.time(), dt.UTC))
        with self.engine.connect() as db:
            rows = db.execute(query).all()
        return {
            "retention_years": self.network.retention_years,
            "records": [
                {**{k: v for k, v in r._mapping.items() if k not in ("id", "requested_at", "provided_at")},
                 "requested_at": utc(r.requested_at), "provided_at": utc(r.provided_at)}
                for r in rows
            ],
        }  # fmt: skip

    def purge_records(self) -> int:
        """Drop the records past the retention period (seven years: 施行令第30条)."""
        years = self.network.retention_years
        cutoff = now() - dt.timedelta(days=365 * years + years // 4)  # leap days, near enough
        with self.engine.begin() as db:
            return db.execute(records.delete().where(records.c.requested_at < cutoff)).rowcount

    def _record(
        self,
        db: sa.Connection,
        side: str,
        inquiry_id: str,
        requester: str,
        provider: str,
        asked: Inquiry | Provision,
        result: str,
        at: dt.datetime | None = None,
    ) -> None:
        integrated = (
            asked.integrated_number
            if isinstance(asked, Inquiry)
            else db.execute(
                sa.select(links.c.integrated_number).where(links.c.code == asked.code)
            ).scalar_one()
        )
        db.execute(
            records.insert().values(
                side=side,
                inquiry_id=inquiry_id,
                requester=requester,
                provider=provider,
                integrated_number=integrated,
                affair=asked.affair,
                information=asked.information,
                period=asked.period,
                result=result,
                requested_at=at or now(),
                provided_at=at if result == "provided" else None,
            )
        )

    def _duplicate(self, db: sa.Connection, integrated: str, information: str, period: str) -> Any:
        return db.execute(
            sa.select(duplicates).where(
                duplicates.c.integrated_number == integrated,
                duplicates.c.information == information,
                duplicates.c.period == period,
            )
        ).first()


def _status_of(duplicate: Any) -> str:
    if duplicate is None:
        return "not_found"
    return "undisclosed" if duplicate.undisclosed else "provided"
