"""Mock 情報提供ネットワークシステム (NWS): 符号 per organisation, and the router of 情報照会.

A 符号 is organisation-specific: HMAC-SHA256 of the 住民票コード and the organisation's code under the
NWS's secret, so no two organisations share one, none is the 個人番号, and none can be turned back
into a 住民票コード without the NWS's link table. The NWS delivers a new 符号 to the organisation's
中間サーバー for the 処理通番 it was made for (紐付け), routes a 照会 from one 中間サーバー to another
(translating the requester's 符号 into the provider's), and refuses a 照会 whose 事務 × 特定個人情報
pair its table (``data/nws_table.yaml``) does not list. It routes answers but keeps none of their
content: only who asked whom, when, and how it ended.
"""

from __future__ import annotations

import hmac
import uuid
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import yaml
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel, Field

from platform_hub_national.network import CODE_PATTERN, Network, engine_for, make_app, now, require

TABLE = Path(__file__).with_name("data") / "nws_table.yaml"

metadata = sa.MetaData()
links = sa.Table(
    "code_links",
    metadata,
    sa.Column("organisation", sa.String(6), primary_key=True),
    sa.Column("code", sa.String(64), primary_key=True),  # the organisation's 符号
    sa.Column("resident_code", sa.String(11), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("organisation", "resident_code"),
)
inquiries = sa.Table(
    "inquiries",
    metadata,
    sa.Column("inquiry_id", sa.String(32), primary_key=True),
    sa.Column("requester", sa.String(6), nullable=False),
    sa.Column("requester_process_number", sa.String(40), nullable=False),
    sa.Column("provider", sa.String(6), nullable=False),
    sa.Column("affair", sa.String(20), nullable=False),
    sa.Column("information", sa.String(100), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
)
FINAL = ("provided", "undisclosed", "not_found")  # what a provider's answer may say, besides pending


class CodeRequest(BaseModel):
    process_number: str
    resident_code: str
    organisation: str = Field(pattern=CODE_PATTERN)


class Inquiry(BaseModel):
    process_number: str  # the requester's 処理通番, to deliver a late answer to
    code: str  # the requester's 符号 of the person
    provider: str = Field(pattern=CODE_PATTERN)
    affair: str  # 事務
    information: str  # 特定個人情報 (e.g. 地方税関係情報)
    period: str  # 年度 or 基準日 the provider answers for


class Answer(BaseModel):
    status: str = Field(pattern="^(provided|undisclosed|not_found)$")
    data: dict[str, Any] | None = None


def load_table(path: Path = TABLE) -> set[tuple[str, str]]:
    return {(row["affair"], row["information"]) for row in yaml.safe_load(path.read_text(encoding="utf-8"))}


class Nws:
    def __init__(self, network: Network, database_url: str, table: Path = TABLE) -> None:
        self.network = network
        self.engine = engine_for(database_url)
        self.allowed = load_table(table)

    def app(self) -> FastAPI:
        metadata.create_all(self.engine)
        app = make_app("Mock 情報提供ネットワークシステム")
        app.post("/codes")(self.generate_code)
        app.post("/inquiries")(self.route_inquiry)
        app.post("/inquiries/{inquiry_id}/answer")(self.route_answer)
        app.get("/inquiries/{inquiry_id}")(self.inquiry)
        return app

    def code_for(self, resident_code: str, organisation: str) -> str:
        message = f"{resident_code}:{organisation}".encode()
        return hmac.digest(self.network.code_secret.encode(), message, "sha256").hex()

    # --- 符号生成 and 紐付け ---------------------------------------------------------------------------

    def generate_code(self, asked: CodeRequest, request: Request) -> dict[str, Any]:
        """From 住基ネット only: make the organisation's 符号, keep its link, deliver it to the
        organisation's 中間サーバー for the 処理通番."""
        require(request, self.network, "juki-net")
        organisation = self.network.organisation(asked.organisation)
        code = self.code_for(asked.resident_code, asked.organisation)
        with self.engine.begin() as db:
            exists = db.execute(
                sa.select(links.c.code).where(
                    links.c.organisation == asked.organisation, links.c.code == code
                )
            ).first()
            if exists is None:
                db.execute(
                    links.insert().values(
                        organisation=asked.organisation,
                        code=code,
                        resident_code=asked.resident_code,
                        created_at=now(),
                    )
                )
        delivered = self._post(
            organisation.chukan_url, "/codes/delivery", {"process_number": asked.process_number, "code": code}
        )
        if delivered.status_code != 200:
            raise HTTPException(502, {"error": "delivery_failed", "chukan": delivered.json()})
        return {"process_number": asked.process_number, "status": "delivered"}

    # --- 情報照会 -----------------------------------------------------------------------------------

    def route_inquiry(self, asked: Inquiry, request: Request) -> dict[str, Any]:
        """Check the pair against the table, translate the 符号, ask the provider's 中間サーバー. Its
        answer (provided, undisclosed, not_found, or pending until its operator releases it) goes back
        to the requester in this response, or later to its 中間サーバー."""
        requester = require(request, self.network, *self.network.organisations)
        if (asked.affair, asked.information) not in self.allowed:
            raise HTTPException(
                403, {"error": "not_allowed", "affair": asked.affair, "information": asked.information}
            )
        provider = self.network.organisation(asked.provider)
        inquiry_id = uuid.uuid4().hex
        with self.engine.begin() as db:
            resident_code = db.execute(
                sa.select(links.c.resident_code).where(
                    links.c.organisation == requester, links.c.code == asked.code
                )
            ).scalar()
            if resident_code is None:
                raise HTTPException(404, {"error": "unknown_code"})
            provider_code = db.execute(
                sa.select(links.c.code).where(
                    links.c.organisation == asked.provider, links.c.resident_code == resident_code
                )
            ).scalar()
            status = "forwarded" if provider_code is not None else "not_found"
            db.execute(
                inquiries.insert().values(
                    inquiry_id=inquiry_id,
                    requester=requester,
                    requester_process_number=asked.process_number,
                    provider=asked.provider,
                    affair=asked.affair,
                    information=asked.information,
                    status=status,
                    requested_at=now(),
                )
            )
        if provider_code is None:  # the provider holds no 符号 for the person: nothing to ask it
            return self._finish(inquiry_id, {"status": "not_found", "data": None})
        forwarded = self._post(
            provider.chukan_url,
            "/provisions",
            {
                "inquiry_id": inquiry_id,
                "code": provider_code,
                "requester": requester,
                "affair": asked.affair,
                "information": asked.information,
                "period": asked.period,
            },
        )
        if forwarded.status_code != 200:
            raise HTTPException(502, {"error": "provider_failed", "provider": forwarded.json()})
        answer = forwarded.json()
        if answer["status"] == "pending":
            self._set_status(inquiry_id, "pending")
            return {"inquiry_id": inquiry_id, "status": "pending", "data": None}
        return self._finish(inquiry_id, answer)

    def route_answer(self, inquiry_id: str, answer: Answer, request: Request) -> dict[str, Any]:
        """A pending answer released by the provider's operator, on to the requester's 中間サーバー."""
        provider = require(request, self.network, *self.network.organisations)
        with self.engine.connect() as db:
            row = db.execute(sa.select(inquiries).where(inquiries.c.inquiry_id == inquiry_id)).first()
        if row is None or row.provider != provider:
            raise HTTPException(404, {"error": "unknown_inquiry"})
        if row.status != "pending":
            raise HTTPException(409, {"error": "not_pending", "status": row.status})
        delivered = self._post(
            self.network.organisation(row.requester).chukan_url,
            f"/inquiries/{row.requester_process_number}/answer",
            {"inquiry_id": inquiry_id, **answer.model_dump()},
        )
        if delivered.status_code != 200:
            raise HTTPException(502, {"error": "delivery_failed", "requester": delivered.json()})
        self._set_status(inquiry_id, answer.status)
        return {"inquiry_id": inquiry_id, "status": answer.status}

    def inquiry(self, inquiry_id: str, request: Request) -> dict[str, Any]:
        """An inquiry's routing (no content): to its requester or its provider only."""
        party = require(request, self.network, *self.network.organisations)
        with self.engine.connect() as db:
            row = db.execute(sa.select(inquiries).where(inquiries.c.inquiry_id == inquiry_id)).first()
        if row is None or party not in (row.requester, row.provider):
            raise HTTPException(404, {"error": "unknown_inquiry"})
        return {
            key: value.isoformat() if hasattr(value, "isoformat") else value
            for key, value in row._mapping.items()
            if key != "requester_process_number"
        }

    def _finish(self, inquiry_id: str, answer: dict[str, Any]) -> dict[str, Any]:
        self._set_status(inquiry_id, answer["status"])
        return {"inquiry_id": inquiry_id, "status": answer["status"], "data": answer.get("data")}

    def _set_status(self, inquiry_id: str, status: str) -> None:
        values: dict[str, Any] = {"status": status}
        if status in FINAL:
            values["answered_at"] = now()
        with self.engine.begin() as db:
            db.execute(inquiries.update().where(inquiries.c.inquiry_id == inquiry_id).values(**values))

    def _post(self, base_url: str, path: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(
            f"{base_url.rstrip('/')}{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.network.nws.key}"},
            timeout=30,
        )
