"""The mock national systems as real processes, through the hub's client adapters (platform_hub.national):
住基ネット's 真正性確認, 照会 and 住所 on a 基準日; 符号取得 across four processes (資料8); 副本 and the
asynchronous 情報照会 with 自動応答不可, 不開示 and a pair the NWS's table refuses; the 第23条 records."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import yaml
from platform_hub_national.chukan import Chukan
from platform_hub_national.chukan import records as chukan_records
from platform_hub_national.network import load_network
from platform_hub_national.services import NationalOptions, build
from stdnum.jp import in_ as my_number_format
from typer.testing import CliRunner

from platform_hub.cli import app
from platform_hub.kit.settings import Settings
from platform_hub.national.chukan import ChukanServer, InquiryStatus
from platform_hub.national.juki_net import BasicInfo, JukiNet
from platform_hub.national.transport import NationalSystemError
from tests.national import CITY, OTHER, NationalNetwork, national_network

MOVED_IN = dt.date(2025, 3, 10)  # the day the applicant came to the city from OTHER
REFERENCE_DAY = dt.date(2025, 1, 1)  # 基準日 of 令和7年度's 所得
TAX = "地方税関係情報"
CHILD_ALLOWANCE = "JDT-001"  # 児童手当 (番号法 別表 第81項)


@dataclass(frozen=True)
class Person:
    resident_code: str
    my_number: str
    name: str
    birth_date: dt.date
    sex: str
    address: str
    integrated: dict[str, str]  # each municipality's 団体内統合宛名番号 of the person

    @property
    def info(self) -> BasicInfo:
        return BasicInfo(self.name, self.birth_date, self.sex, self.address)


def _my_number(rng: random.Random) -> str:
    body = f"{rng.randint(1, 9)}{rng.randrange(10**10):010d}"
    return body + my_number_format.calc_check_digit(body)


def _people() -> dict[str, Person]:
    rng = random.Random(17)  # synthetic residents
    names = {"moved": ("山田 花子", "2"), "stayed": ("佐藤 一郎", "1"), "withheld": ("鈴木 次郎", "1"),
             "undisclosed": ("高橋 三奈", "2")}  # fmt: skip
    people = {}
    for serial, (key, (name, sex)) in enumerate(names.items(), start=1):
        people[key] = Person(
            resident_code=f"{rng.randrange(10**10, 10**11)}",
            my_number=_my_number(rng),
            name=name,
            birth_date=dt.date(1985 + serial, serial, 10 + serial),
            sex=sex,
            address=f"デモ市本町{serial}丁目{serial}番{serial}号",
            integrated={CITY: f"C{serial:014d}", OTHER: f"O{serial:014d}"},
        )
    return people


PEOPLE = _people()


def _seed_person(person: Person) -> dict[str, object]:
    history = [
        {"municipality_code": OTHER, "address": f"前住所町{person.name[-1]}1-2", "from": "2010-04-01",
         "to": (MOVED_IN - dt.timedelta(days=1)).isoformat()},
        {"municipality_code": CITY, "address": person.address, "from": MOVED_IN.isoformat(), "to": None},
    ]  # fmt: skip
    return {
        "resident_code": person.resident_code,
        "my_number": person.my_number,
        "name": person.name,
        "birth_date": person.birth_date.isoformat(),
        "sex": person.sex,
        "addresses": history,
    }


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NationalNetwork]:
    with national_network(tmp_path_factory.mktemp("national")) as started:
        started.seed_juki_net([_seed_person(p) for p in PEOPLE.values()])
        yield started


@pytest.fixture
async def clients(network: NationalNetwork) -> AsyncIterator[dict[str, ChukanServer | JukiNet]]:
    """Each municipality's 中間サーバー and 住基ネット as that municipality reaches it."""
    made: dict[str, ChukanServer | JukiNet] = {
        CITY: ChukanServer(network.chukan(CITY), network.keys[CITY]),
        OTHER: ChukanServer(network.chukan(OTHER), network.keys[OTHER]),
        f"juki-{CITY}": JukiNet(network.urls["juki-net"], network.keys[CITY]),
        f"juki-{OTHER}": JukiNet(network.urls["juki-net"], network.keys[OTHER]),
    }
    yield made
    for client in made.values():
        await client.aclose()


def _chukan(clients: dict[str, ChukanServer | JukiNet], organisation: str) -> ChukanServer:
    client = clients[organisation]
    assert isinstance(client, ChukanServer)
    return client


def _juki(clients: dict[str, ChukanServer | JukiNet], organisation: str) -> JukiNet:
    client = clients[f"juki-{organisation}"]
    assert isinstance(client, JukiNet)
    return client


async def _link(clients: dict[str, ChukanServer | JukiNet], person: Person, organisation: str) -> str:
    """符号取得 as 資料8 draws it: 処理通番 from the 中間サーバー, 住基 → 住基ネット → NWS → 紐付け."""
    chukan = _chukan(clients, organisation)
    request = await chukan.request_code(person.integrated[organisation], person.my_number)
    assert not request.linked
    await _juki(clients, organisation).send_code_step(request.process_number, person.resident_code)
    assert (await chukan.code_status(request.process_number)).linked
    return request.process_number


async def _both_linked(clients: dict[str, ChukanServer | JukiNet], person: Person) -> None:
    for organisation in (CITY, OTHER):
        await _link(clients, person, organisation)


# --- 住基ネット ---------------------------------------------------------------------------------------


async def test_my_number_is_authentic_for_its_basic_info_only(
    network: NationalNetwork, clients: dict[str, ChukanServer | JukiNet]
) -> None:
    juki = _juki(clients, CITY)
    person, other = PEOPLE["stayed"], PEOPLE["moved"]
    assert (await juki.verify_my_number(person.my_number, person.info)).authentic
    wrong_day = BasicInfo(person.name, person.birth_date + dt.timedelta(days=1), person.sex, person.address)
    refused = await juki.verify_my_number(person.my_number, wrong_day)
    assert (refused.authentic, refused.known, refused.differing) == (False, True, ("birth_date",))
    someone_else = await juki.verify_my_number(other.my_number, person.info)
    assert not someone_else.authentic and set(someone_else.differing) >= {"name", "birth_date"}
    unknown = _my_number(random.Random(99))
    assert not (await juki.verify_my_number(unknown, person.info)).known
    raw = await juki.http.post("/verify", json={"my_number": person.my_number, **person.info.wire()})
    assert person.my_number not in raw.text  # the answer never echoes the number
    malformed = await juki.http.post("/verify", json={"my_number": person.my_number, "name": person.name})
    assert malformed.status_code == 422 and person.my_number not in malformed.text  # nor an error


async def test_identity_by_basic_info_and_by_my_number(clients: dict[str, ChukanServer | JukiNet]) -> None:
    juki = _juki(clients, CITY)
    person = PEOPLE["moved"]
    # 全角 spaces and another notation of the 住所 find the same person.
    spelled = BasicInfo(person.name.replace(" ", "　"), person.birth_date, person.sex, None)
    (found,) = await juki.find_by_basic_info(spelled)
    assert found.resident_code == person.resident_code and found.my_number == person.my_number
    assert [a.municipality_code for a in found.addresses] == [OTHER, CITY]
    by_number = await juki.find_by_my_number(person.my_number)
    assert by_number is not None and by_number.resident_code == person.resident_code
    assert await juki.find_by_basic_info(BasicInfo("無名 太郎", person.birth_date, person.sex)) == []


async def test_address_on_the_reference_day_is_the_previous_municipality(
    clients: dict[str, ChukanServer | JukiNet],
) -> None:
    juki = _juki(clients, CITY)
    person = PEOPLE["moved"]
    before = await juki.address_on(REFERENCE_DAY, my_number=person.my_number)
    assert before is not None and before.municipality_code == OTHER and before.to_date < MOVED_IN
    after = await juki.address_on(MOVED_IN, resident_code=person.resident_code)
    assert after is not None and after.municipality_code == CITY and after.to_date is None
    assert await juki.address_on(dt.date(1990, 1, 1), my_number=person.my_number) is None


async def test_only_a_municipality_with_its_key_is_answered(network: NationalNetwork) -> None:
    person = PEOPLE["stayed"]
    body = {"my_number": person.my_number}
    async with httpx.AsyncClient(base_url=network.urls["juki-net"]) as http:
        assert (await http.post("/persons/search", json=body)).status_code == 401
        guessed = {"Authorization": "Bearer guess"}
        assert (await http.post("/persons/search", json=body, headers=guessed)).status_code == 401
    other_chukan = ChukanServer(network.chukan(OTHER), network.keys[CITY])  # the city's key, not its own
    with pytest.raises(NationalSystemError) as refused:
        await other_chukan.records()
    assert refused.value.status == 403
    await other_chukan.aclose()


# --- 符号取得 -----------------------------------------------------------------------------------------


async def test_code_is_obtained_across_four_processes_and_stays_inside(
    network: NationalNetwork, clients: dict[str, ChukanServer | JukiNet]
) -> None:
    person = PEOPLE["stayed"]
    process_number = await _link(clients, person, CITY)
    status = await _chukan(clients, CITY).code_status(process_number)
    assert status.integrated_number == person.integrated[CITY] and status.linked
    await _link(clients, person, OTHER)
    codes = {}
    for organisation in (CITY, OTHER):
        engine = sa.create_engine(network.databases[f"chukan-{organisation}"])
        with engine.connect() as db:
            codes[organisation] = db.execute(
                sa.text("SELECT code FROM code_links WHERE integrated_number = :n"),
                {"n": person.integrated[organisation]},
            ).scalar_one()
        engine.dispose()
    # Organisation-specific, and neither the 個人番号 nor the 住民票コード in any form one could read.
    assert codes[CITY] != codes[OTHER]
    assert not any(person.my_number in c or person.resident_code in c for c in codes.values())
    with pytest.raises(NationalSystemError) as unknown:
        await _juki(clients, CITY).send_code_step("00000000000000000000", person.resident_code)
    assert unknown.value.reason == "nws_refused"


# --- 副本 and 情報照会 --------------------------------------------------------------------------------


async def test_inquiry_is_answered_from_the_other_municipality_s_duplicate(
    clients: dict[str, ChukanServer | JukiNet],
) -> None:
    person = PEOPLE["moved"]
    await _both_linked(clients, person)
    other, city = _chukan(clients, OTHER), _chukan(clients, CITY)
    integrated = person.integrated[OTHER]
    assert not await other.register_duplicate(integrated, TAX, "2025", {"所得": 2_800_000})
    assert await other.register_duplicate(integrated, TAX, "2025", {"所得": 3_100_000})  # kept current
    process_number = await city.ask(person.integrated[CITY], OTHER, CHILD_ALLOWANCE, TAX, "2025")
    answer = await city.wait_answer(process_number, within=10, interval=0.05)
    assert answer.status is InquiryStatus.PROVIDED and answer.data == {"所得": 3_100_000}
    (asked,) = await city.records(person.integrated[CITY])
    (provided,) = await other.records(integrated)
    for record in (asked, provided):
        assert (record.requester, record.provider, record.affair, record.information) == (
            CITY, OTHER, CHILD_ALLOWANCE, TAX,
        )  # fmt: skip
        assert record.result == "provided" and record.provided_at is not None
    assert (asked.side, provided.side) == ("requester", "provider")
    assert asked.inquiry_id == provided.inquiry_id
    nothing = await city.ask(person.integrated[CITY], OTHER, CHILD_ALLOWANCE, TAX, "2019")
    assert (await city.wait_answer(nothing, within=10, interval=0.05)).status is InquiryStatus.NOT_FOUND


async def test_no_automatic_answer_waits_for_the_operator(clients: dict[str, ChukanServer | JukiNet]) -> None:
    person = PEOPLE["withheld"]
    await _both_linked(clients, person)
    other, city = _chukan(clients, OTHER), _chukan(clients, CITY)
    await other.register_duplicate(person.integrated[OTHER], TAX, "2025", {"所得": 1}, no_auto_answer=True)
    process_number = await city.ask(person.integrated[CITY], OTHER, CHILD_ALLOWANCE, TAX, "2025")
    assert (await city.wait_answer(process_number, within=10, interval=0.05)).status is InquiryStatus.PENDING
    (record,) = await city.records(person.integrated[CITY])
    assert record.result == "pending" and record.provided_at is None
    pending = await other.pending_provisions()
    (waiting,) = [p for p in pending if p.integrated_number == person.integrated[OTHER]]
    await other.register_duplicate(person.integrated[OTHER], TAX, "2025", {"所得": 2}, no_auto_answer=True)
    assert await other.release(waiting.inquiry_id) is InquiryStatus.PROVIDED
    answer = await city.answer(process_number)
    assert answer.status is InquiryStatus.PROVIDED and answer.data == {"所得": 2}  # as released
    for chukan, integrated in ((city, person.integrated[CITY]), (other, person.integrated[OTHER])):
        (record,) = await chukan.records(integrated)
        assert record.result == "provided" and record.provided_at is not None
    with pytest.raises(NationalSystemError):
        await other.release(waiting.inquiry_id)  # released once


async def test_undisclosed_is_answered_as_such(clients: dict[str, ChukanServer | JukiNet]) -> None:
    person = PEOPLE["undisclosed"]
    await _both_linked(clients, person)
    other, city = _chukan(clients, OTHER), _chukan(clients, CITY)
    await other.register_duplicate(person.integrated[OTHER], TAX, "2025", {"所得": 9}, undisclosed=True)
    process_number = await city.ask(person.integrated[CITY], OTHER, CHILD_ALLOWANCE, TAX, "2025")
    answer = await city.wait_answer(process_number, within=10, interval=0.05)
    assert answer.status is InquiryStatus.UNDISCLOSED and answer.data is None
    (record,) = await other.records(person.integrated[OTHER])
    assert record.result == "undisclosed" and record.provided_at is None


async def test_a_pair_the_table_does_not_list_is_refused(clients: dict[str, ChukanServer | JukiNet]) -> None:
    person = PEOPLE["moved"]
    city = _chukan(clients, CITY)
    await _link(clients, person, CITY)
    before = len(await city.records(person.integrated[CITY]))
    process_number = await city.ask(person.integrated[CITY], OTHER, "KOH-001", TAX, "2025")  # 広報 ≠ 別表
    answer = await city.wait_answer(process_number, within=10, interval=0.05)
    assert answer.status is InquiryStatus.REFUSED and answer.reason == "not_allowed"
    assert len(await city.records(person.integrated[CITY])) == before  # nothing went to a provider
    with pytest.raises(NationalSystemError) as unlinked:
        await city.ask("C99999999999999", OTHER, CHILD_ALLOWANCE, TAX, "2025")
    assert unlinked.value.reason == "no_code"


def test_mock_national_refuses_an_unknown_name(tmp_path: Path) -> None:
    config = tmp_path / "network.json"
    config.write_text("{}")
    result = CliRunner().invoke(app, ["mock-national", "juki", "--port", "1", "--config", str(config)])
    assert result.exit_code == 2, result.output
    result = CliRunner().invoke(app, ["mock-national", "chukan", "--port", "1", "--config", str(config)])
    assert result.exit_code == 2 and "--organisation" in result.output, result.output


# --- in-process: what needs no network --------------------------------------------------------------


def _config(directory: Path) -> Path:
    config = directory / "network.yaml"
    organisation = {"name": "デモ市", "chukan_url": "http://127.0.0.1:9", "key": "city-key"}
    config.write_text(
        yaml.safe_dump(
            {
                "juki_net": {"url": "http://127.0.0.1:9", "key": "juki-key"},
                "nws": {"url": "http://127.0.0.1:9", "key": "nws-key"},
                "code_secret": "s" * 32,
                "organisations": {CITY: organisation},
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    return config


async def test_juki_net_loads_its_persons_from_a_seed_file(tmp_path: Path) -> None:
    person = PEOPLE["stayed"]
    seed = tmp_path / "persons.yaml"
    seed.write_text(yaml.safe_dump({"persons": [_seed_person(person)]}, allow_unicode=True), encoding="utf-8")
    options = NationalOptions(
        config=_config(tmp_path),
        database_url=f"sqlite:///{tmp_path / 'juki.db'}",
        port=0,
        key_file=tmp_path / "keys.json",
        seed_file=seed,
    )
    transport = httpx.ASGITransport(app=build("juki-net", options))
    async with httpx.AsyncClient(transport=transport, base_url="http://juki-net") as client:
        found = await client.post(
            "/persons/search",
            json={"my_number": person.my_number},
            headers={"Authorization": "Bearer city-key"},
        )
    assert [p["resident_code"] for p in found.json()["persons"]] == [person.resident_code]
    with sa.create_engine(f"sqlite:///{tmp_path / 'juki.db'}").connect() as db:
        stored = db.execute(sa.text("SELECT * FROM persons")).one()
    assert person.my_number not in repr(stored)  # sealed, and found by a keyed hash


def test_records_older_than_the_retention_period_are_purged(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'chukan.db'}"
    chukan = Chukan(load_network(_config(tmp_path)), database, CITY)
    chukan.app()
    old, recent = (dt.datetime.now(dt.UTC) - dt.timedelta(days=days) for days in (8 * 365, 6 * 365))
    with chukan.engine.begin() as db:
        for serial, at in enumerate((old, recent)):
            db.execute(
                chukan_records.insert().values(
                    side="requester", inquiry_id=f"i{serial}", requester=CITY, provider=OTHER,
                    integrated_number="C1", affair=CHILD_ALLOWANCE, information=TAX, period="2018",
                    result="provided", requested_at=at, provided_at=at,
                )
            )  # fmt: skip
    assert chukan.purge_records() == 1
    with chukan.engine.connect() as db:
        assert db.execute(sa.select(chukan_records.c.inquiry_id)).scalars().all() == ["i1"]


async def test_the_hub_is_connected_only_when_its_settings_say_where() -> None:
    assert ChukanServer.from_settings(Settings()) is None
    assert JukiNet.from_settings(Settings(juki_net_url="http://127.0.0.1:9")) is None  # no key
    settings = Settings(chukan_url="http://127.0.0.1:9/", chukan_key="k", national_timeout_seconds=2)
    chukan = ChukanServer.from_settings(settings)
    assert chukan is not None and str(chukan.http.base_url) == "http://127.0.0.1:9"
    with pytest.raises(NationalSystemError) as unreachable:
        await chukan.code_status("1")
    assert unreachable.value.reason == "ConnectError"
    await chukan.aclose()
