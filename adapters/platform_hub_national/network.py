"""What the mock national systems share: the network's configuration, who is calling, the database.

One configuration file (YAML or JSON) describes the whole mock network, as the real one is set up
by registration: each organisation's code, its 中間サーバー's URL and its key; where 住基ネット and the
情報提供ネットワークシステム (NWS) listen and their keys; the NWS's secret for 符号. Every process
reads the same file and uses what concerns it.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from platform_hub.kit.database import create_database_file_of

CODE_PATTERN = r"^[0-9]{6}$"  # 全国地方公共団体コード (with its check digit), the organisation's id here


class Endpoint(BaseModel):
    """A national system: where it listens, and the key it presents when it calls others."""

    url: str
    key: str = Field(repr=False)


class Organisation(BaseModel):
    """A municipality on the network: its 中間サーバー, and the key its hub and 中間サーバー present."""

    name: str
    chukan_url: str
    key: str = Field(repr=False)


class Network(BaseModel):
    juki_net: Endpoint
    nws: Endpoint
    # The NWS's secret for deriving 符号 (HMAC): nobody without it can link two organisations' 符号.
    code_secret: str = Field(repr=False, min_length=16)
    organisations: dict[str, Organisation]
    # 番号法 第23条, 施行令第30条: 情報提供等の記録 are kept seven years.
    retention_years: int = 7

    def organisation(self, code: str) -> Organisation:
        try:
            return self.organisations[code]
        except KeyError:
            raise HTTPException(404, {"error": "unknown_organisation", "organisation": code}) from None


def load_network(path: Path) -> Network:
    return Network.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))  # JSON is YAML too


def bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, {"error": "unauthenticated"})
    return token


def caller(request: Request, network: Network) -> str:
    """Who presents this key: an organisation's code, ``juki-net`` or ``nws``; 401 for anyone else."""
    token = bearer(request)
    parties = {"juki-net": network.juki_net.key, "nws": network.nws.key}
    parties.update({code: organisation.key for code, organisation in network.organisations.items()})
    for party, key in parties.items():
        if hmac.compare_digest(token.encode(), key.encode()):
            return party
    raise HTTPException(401, {"error": "unauthenticated"})


def require(request: Request, network: Network, *allowed: str) -> str:
    """The caller, who must be one of ``allowed`` (403 otherwise)."""
    party = caller(request, network)
    if party not in allowed:
        raise HTTPException(403, {"error": "forbidden", "caller": party})
    return party


def make_app(title: str) -> FastAPI:
    """A mock's app: ``GET /healthz``, no docs pages (they load scripts from a CDN), and validation
    errors without the input — FastAPI's own would echo the body, 個人番号 included."""
    app = FastAPI(title=title, docs_url=None, redoc_url=None)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.get("/healthz")(lambda: {"status": "ok"})
    return app


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    return JSONResponse({"detail": errors}, status_code=422)


def engine_for(url: str) -> sa.Engine:
    """A synchronous engine (the mocks' endpoints run in threads); SQLite waits for its one writer.
    Statements' parameters stay out of errors and logs (a failed insert would print them). A SQLite
    file is made readable by its owner only: it holds 本人確認情報 and 副本."""
    if url.startswith("sqlite"):
        create_database_file_of(url)
        return sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True
        )
    return sa.create_engine(url, pool_pre_ping=True, hide_parameters=True)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def process_number() -> str:
    """A 処理通番: 20 digits, the time it was issued and a random part (unique without a counter)."""
    return f"{now():%Y%m%d%H%M%S}{secrets.randbelow(10**6):06d}"


def utc(value: dt.datetime | None) -> str | None:
    """A stored time as ISO 8601 in UTC (SQLite drops the zone it was written with)."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()


def row_dict(row: Any) -> dict[str, Any]:
    return dict(row._mapping)
