"""Mock 住民基本台帳ネットワークシステム: 本人確認情報 of the residents of several municipalities.

It holds, per person, the 基本4情報 (氏名・生年月日・性別・住所), the 個人番号 (sealed with AES-GCM
and found by a keyed hash: it is never stored in the clear), the 住民票コード, the 市町村コード, and the
address history (each 住所 with the days it began and ended). To an authenticated municipality it
answers 個人番号の真正性確認, 本人確認情報照会 (by 個人番号 or by 基本4情報), the 住所 on a 基準日, and it
takes the 住基 step of 符号取得 (資料8): 処理通番 + 住民票コード on to the NWS, which makes the 符号.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import yaml
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel, Field, field_validator

from platform_hub.kit.vault import MyNumberVault, generate_key_file, load_vault
from platform_hub.protocol.normalize import address_key, name_key
from platform_hub.protocol.numbers import is_valid_my_number
from platform_hub_national.network import CODE_PATTERN, Network, engine_for, make_app, now, require

metadata = sa.MetaData()
persons = sa.Table(
    "persons",
    metadata,
    sa.Column("resident_code", sa.String(11), primary_key=True),  # 住民票コード
    sa.Column("number_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("number_key_id", sa.String(16), nullable=False),
    sa.Column("number_sealed", sa.LargeBinary, nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("birth_date", sa.Date, nullable=False),
    sa.Column("sex", sa.String(1), nullable=False),  # 1 男, 2 女 (住基の性別コード)
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
addresses = sa.Table(
    "addresses",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("resident_code", sa.ForeignKey("persons.resident_code"), nullable=False, index=True),
    sa.Column("municipality_code", sa.String(6), nullable=False),  # 市町村コード
    sa.Column("address", sa.String(400), nullable=False),
    sa.Column("from_date", sa.Date, nullable=False),
    sa.Column("to_date", sa.Date, nullable=True),  # None: the 住所 today
)


class Address(BaseModel):
    municipality_code: str = Field(pattern=CODE_PATTERN)
    address: str = Field(min_length=1)
    from_date: dt.date = Field(alias="from")
    to_date: dt.date | None = Field(default=None, alias="to")

    model_config = {"populate_by_name": True}


class Person(BaseModel):
    resident_code: str = Field(pattern=r"^[0-9]{11}$")
    my_number: str = Field(repr=False)
    name: str = Field(min_length=1)
    birth_date: dt.date
    sex: str = Field(pattern=r"^[12]$")
    addresses: list[Address] = Field(min_length=1)

    @field_validator("my_number")
    @classmethod
    def _valid(cls, value: str) -> str:
        if not is_valid_my_number(value):
            raise ValueError("個人番号 must be 12 digits with a valid check digit")  # never the number
        return value


class Seed(BaseModel):
    persons: list[Person]


class BasicInfo(BaseModel):
    """基本4情報. The 住所 may be left out of a search (氏名・生年月日・性別 then decide)."""

    name: str
    birth_date: dt.date
    sex: str
    address: str | None = None


class Verification(BasicInfo):
    my_number: str = Field(repr=False)
    address: str


class Search(BaseModel):
    """本人確認情報照会: by 個人番号, or by 基本4情報."""

    my_number: str | None = Field(default=None, repr=False)
    basic_info: BasicInfo | None = None


class AddressOn(BaseModel):
    my_number: str | None = Field(default=None, repr=False)
    resident_code: str | None = None
    on: dt.date  # 基準日


class CodeStep(BaseModel):
    process_number: str  # 処理通番 the 中間サーバー issued
    resident_code: str


class JukiNet:
    def __init__(
        self, network: Network, database_url: str, key_file: Path, seed_file: Path | None = None
    ) -> None:
        self.network = network
        self.seed_file = seed_file
        self.engine = engine_for(database_url)
        if not key_file.exists():
            generate_key_file(key_file)  # a mock: its key is made on first start, kept beside it
        self.vault: MyNumberVault = load_vault(key_file)

    def app(self) -> FastAPI:
        metadata.create_all(self.engine)
        if self.seed_file is not None:
            self.store(Seed.model_validate(yaml.safe_load(self.seed_file.read_text(encoding="utf-8"))))
        app = make_app("Mock 住基ネット")
        app.post("/seed")(self.seed)
        app.post("/verify")(self.verify)
        app.post("/persons/search")(self.search)
        app.post("/address-on")(self.address_on)
        app.post("/codes")(self.code_step)
        return app

    def _municipality(self, request: Request) -> str:
        return require(request, self.network, *self.network.organisations)

    # --- 本人確認情報 ------------------------------------------------------------------------------

    def seed(self, seed: Seed, request: Request) -> dict[str, int]:
        """Load (or replace) persons; only 住基ネット's own key may (it stands for the CS of each city)."""
        require(request, self.network, "juki-net")
        return self.store(seed)

    def store(self, seed: Seed) -> dict[str, int]:
        """The persons of ``seed``, each replacing what was held under its 住民票コード."""
        with self.engine.begin() as db:
            for person in seed.persons:
                key_id, sealed = self.vault.encrypt(person.my_number, person.resident_code)
                db.execute(addresses.delete().where(addresses.c.resident_code == person.resident_code))
                db.execute(persons.delete().where(persons.c.resident_code == person.resident_code))
                db.execute(
                    persons.insert().values(
                        resident_code=person.resident_code,
                        number_hash=self.vault.lookup_hash(person.my_number),
                        number_key_id=key_id,
                        number_sealed=sealed,
                        name=person.name,
                        birth_date=person.birth_date,
                        sex=person.sex,
                        updated_at=now(),
                    )
                )
                db.execute(
                    addresses.insert(),
                    [{"resident_code": person.resident_code, **a.model_dump()} for a in person.addresses],
                )
        return {"persons": len(seed.persons)}

    def verify(self, asked: Verification, request: Request) -> dict[str, Any]:
        """個人番号の真正性確認: does the number belong to these 基本4情報? Which fields differ — the
        answer never carries the number."""
        self._municipality(request)
        with self.engine.connect() as db:
            found = self._by_number(db, asked.my_number)
            if found is None:
                return {"authentic": False, "known": False, "differing": []}
            current = _current_address(db, found.resident_code)
        differing = [
            field
            for field, same in (
                ("name", name_key(asked.name) == name_key(found.name)),
                ("birth_date", asked.birth_date == found.birth_date),
                ("sex", asked.sex == found.sex),
                ("address", current is not None and address_key(asked.address) == address_key(current)),
            )
            if not same
        ]
        return {"authentic": not differing, "known": True, "differing": differing}

    def search(self, asked: Search, request: Request) -> dict[str, Any]:
        """本人確認情報照会: the persons found, each with its 個人番号, 住民票コード and address history."""
        self._municipality(request)
        with self.engine.connect() as db:
            if asked.my_number is not None:
                found = self._by_number(db, asked.my_number)
                rows = [found] if found is not None else []
            elif asked.basic_info is not None:
                rows = _by_basic_info(db, asked.basic_info)
            else:
                raise HTTPException(422, {"error": "my_number or basic_info is required"})
            return {"persons": [self._person(db, row) for row in rows]}

    def address_on(self, asked: AddressOn, request: Request) -> dict[str, Any]:
        """The 住所 on the 基準日, and the municipality it was in (where a 照会 for that day goes)."""
        self._municipality(request)
        with self.engine.connect() as db:
            code = asked.resident_code
            if asked.my_number is not None:
                found = self._by_number(db, asked.my_number)
                code = found.resident_code if found is not None else None
            on_day = db.execute(
                sa.select(addresses)
                .where(addresses.c.resident_code == code, addresses.c.from_date <= asked.on)
                .where(sa.or_(addresses.c.to_date.is_(None), addresses.c.to_date >= asked.on))
                .order_by(addresses.c.from_date.desc())
            ).first()
        if on_day is None:
            raise HTTPException(404, {"error": "no_address_on_that_day"})
        return {"resident_code": code, "on": asked.on.isoformat(), **_address(on_day)}

    # --- 符号取得 (資料8) ---------------------------------------------------------------------------

    def code_step(self, asked: CodeStep, request: Request) -> Any:
        """The municipality's 住基 sends the 処理通番 with the 住民票コード; 住基ネット asks the NWS to make
        the organisation's 符号, which the NWS delivers to that organisation's 中間サーバー."""
        organisation = self._municipality(request)
        with self.engine.connect() as db:
            known = db.execute(
                sa.select(persons.c.resident_code).where(persons.c.resident_code == asked.resident_code)
            ).first()
        if known is None:
            raise HTTPException(404, {"error": "unknown_resident_code"})
        response = httpx.post(
            f"{self.network.nws.url.rstrip('/')}/codes",
            json={**asked.model_dump(), "organisation": organisation},
            headers={"Authorization": f"Bearer {self.network.juki_net.key}"},
            timeout=30,
        )
        if response.status_code != 200:
            raise HTTPException(502, {"error": "nws_refused", "nws": response.json()})
        return response.json()

    # --- queries -------------------------------------------------------------------------------------

    def _by_number(self, db: sa.Connection, my_number: str) -> Any:
        return db.execute(
            sa.select(persons).where(persons.c.number_hash == self.vault.lookup_hash(my_number))
        ).first()

    def _person(self, db: sa.Connection, row: Any) -> dict[str, Any]:
        history = db.execute(
            sa.select(addresses)
            .where(addresses.c.resident_code == row.resident_code)
            .order_by(addresses.c.from_date)
        ).all()
        current = next((a for a in reversed(history) if a.to_date is None), history[-1])
        return {
            "resident_code": row.resident_code,
            "my_number": self.vault.decrypt(row.number_key_id, row.number_sealed, row.resident_code),
            "name": row.name,
            "birth_date": row.birth_date.isoformat(),
            "sex": row.sex,
            "address": current.address,
            "municipality_code": current.municipality_code,
            "addresses": [_address(a) for a in history],
        }


def _address(row: Any) -> dict[str, Any]:
    return {
        "municipality_code": row.municipality_code,
        "address": row.address,
        "from": row.from_date.isoformat(),
        "to": row.to_date.isoformat() if row.to_date else None,
    }


def _current_address(db: sa.Connection, resident_code: str) -> str | None:
    return db.execute(
        sa.select(addresses.c.address).where(
            addresses.c.resident_code == resident_code, addresses.c.to_date.is_(None)
        )
    ).scalar()


def _by_basic_info(db: sa.Connection, info: BasicInfo) -> list[Any]:
    """Exact 生年月日 and 性別 in SQL; 氏名 and 住所 (any in the history) by their normalised keys."""
    candidates = db.execute(
        sa.select(persons).where(persons.c.birth_date == info.birth_date, persons.c.sex == info.sex)
    ).all()
    matches = [row for row in candidates if name_key(row.name) == name_key(info.name)]
    if info.address is None:
        return matches
    wanted = address_key(info.address)
    return [
        row
        for row in matches
        if any(
            address_key(a) == wanted
            for a in db.execute(
                sa.select(addresses.c.address).where(addresses.c.resident_code == row.resident_code)
            ).scalars()
        )
    ]
