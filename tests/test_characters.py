"""文字要件: the check against the published tables, the 異体字 folds, the JIS X 0213 fallback."""

from __future__ import annotations

import importlib.util
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from lxml import etree

import platform_hub
from platform_hub.protocol import characters, normalize
from platform_hub.protocol.numbers import atena_number
from tests.helpers import (
    NS,
    YAMADA,
    HubClient,
    count_rows,
    execute,
    fault_code,
    ido_notification,
    rows,
    serve_in_thread,
    wait_until,
)
from tests.units import TestUnit

KATSURA_IVS = "葛\U000e0102"  # 葛 with a Moji_Joho selector (MJ000000-style glyph of 葛飾)
ADOBE_IVS = "葛\U000e0100"  # registered in the IVD, but for Adobe-Japan1, not Moji_Joho


def test_jis_x_0208_and_0213_and_mj_characters_pass() -> None:
    assert characters.refusals("山田　太郎") == []
    assert characters.refusals("ヤマダ　タロウ") == []
    assert characters.refusals("山﨑") == []  # 﨑 U+FA11 is in JIS X 0213, not in JIS X 0208
    assert characters.refusals("髙橋𠮷野") == []  # MJ characters JIS X 0213 lacks
    assert characters.refusals("\u3401") == []  # 㐁, an MJ ideograph beyond JIS X 0213
    assert characters.refusals(KATSURA_IVS + "飾区") == []


def test_each_refused_character_is_named_once_with_its_reason() -> None:
    assert characters.refusals("山田😀😀") == ["U+1F600 is an emoji or symbol outside JIS X 0213"]
    assert characters.refusals("a\x01b") == ["U+0001 is a control character"]
    (private,) = characters.refusals("\ue000")
    assert private.startswith("U+E000 is a private-use character (外字)")
    assert characters.refusals(ADOBE_IVS) == ["U+845B U+E0100 is not a registered Moji_Joho IVS"]
    assert characters.refusals("한글") == [
        "U+D55C is neither in JIS X 0213 nor among the 行政事務標準文字 (MJ)",
        "U+AE00 is neither in JIS X 0213 nor among the 行政事務標準文字 (MJ)",
    ]


def test_the_table_holds_the_moji_joho_collection() -> None:
    sequences = characters._mj_sequences()
    assert len(sequences) > 5_000 and sum(map(len, sequences.values())) > 11_000
    assert "\U000e0102" in sequences["葛"] and "\U000e0100" not in sequences["葛"]


def test_search_keys_fold_itaiji_and_drop_selectors() -> None:
    assert normalize.name_key("髙橋　邊") == normalize.name_key("高橋　辺")
    assert normalize.name_key("渡邉") == normalize.name_key("渡辺") == normalize.name_key("渡邊")
    assert normalize.name_key("山﨑") == normalize.name_key("山崎")
    assert normalize.name_key("齋藤") == normalize.name_key("斎藤")
    assert normalize.name_key(KATSURA_IVS + "西") == normalize.name_key("葛西")
    assert normalize.name_key("高橋") != normalize.name_key("高梁")
    assert normalize.address_key("千代田区霞ヶ関一丁目２番３号") == normalize.address_key(
        "千代田区霞が関1-2-3"
    )
    assert normalize.address_key("霞ケ関") == normalize.address_key("霞が関")


def test_fallback_keeps_jis_x_0213_and_replaces_what_it_lacks() -> None:
    assert characters.fall_back("山﨑") == "山﨑"  # inside JIS X 0213 already
    assert characters.fall_back("髙橋") == "高橋"  # 髙 is MJ, not JIS X 0213
    assert characters.fall_back(KATSURA_IVS + "飾") == "葛飾"
    assert characters.fall_back("\u3400") == "丘"  # 㐀, whose variant in the table is 丘
    assert characters.fall_back("\u3401") == characters.GETA  # 㐁 has none within JIS X 0213
    assert characters.fall_back("😀") == characters.GETA


def test_an_emoji_in_a_notification_is_refused_naming_item_and_code_point(
    hub: HubClient, database_url: str
) -> None:
    juki = hub.unit_headers(hub.register("001"))
    response = hub.send(ido_notification(changes={"Shimei": "山田　太郎😀"}), juki)
    assert response.status_code == 400 and fault_code(response) == "E1002"
    details = [e.text for e in etree.fromstring(response.content).iterfind(".//lk:ErrorDetail", NS)]
    assert details == ["Shimei (00101107 氏名): U+1F600 is an emoji or symbol outside JIS X 0213"]
    assert count_rows(database_url, "messages") == 0
    moved_in = ido_notification(
        jiyu="01",
        my_number="123456789018",
        changes={"Shimei": KATSURA_IVS + "山　花子", "TennyumaeJusho": "霞ヶ関"},
    )
    assert hub.send(moved_in, juki).status_code == 200  # a Moji_Joho IVS is allowed


def _search(hub: HubClient, **body: Any) -> list[str]:
    response = hub.http.post("/addressees/search", json=body, headers=hub.admin())
    assert response.status_code == 200, response.text
    return [found["person_id"] for found in response.json()]


def test_the_registry_finds_itaiji_and_ivs_written_either_way(hub: HubClient) -> None:
    hub.register("011")
    born = {"birth_date": "1970-01-02", "sex": "1", "name_kana": "タカハシ　ヘン"}
    takahashi = hub.enroll(
        {"011": atena_number(41)}, name="髙橋　邊", address="千代田区霞ヶ関一丁目１番", **born
    )
    plain = hub.enroll({"011": atena_number(42)}, name="高橋　辺", address="千代田区霞が関二丁目２番", **born)
    katsura = hub.enroll({"011": atena_number(43)}, name=KATSURA_IVS + "西　一郎", **born)
    assert set(_search(hub, name="高橋辺", birth_date="1970-01-02")) == {takahashi, plain}
    assert set(_search(hub, name="髙橋邊", birth_date="1970-01-02")) == {takahashi, plain}
    assert _search(hub, name="葛西一郎", birth_date="1970-01-02") == [katsura]
    assert set(
        _search(
            hub, name_kana="タカハシヘン", birth_date="1970-01-02", address="千代田区霞が関", match="partial"
        )
    ) == {takahashi, plain}
    assert set(
        _search(
            hub, name_kana="タカハシヘン", birth_date="1970-01-02", address="千代田区霞ケ関", match="partial"
        )
    ) == {takahashi, plain}


def test_migration_0015_recomputes_the_stored_keys(hub: HubClient, database_url: str) -> None:
    """Keys stored before the fold (as the earlier code wrote them) are folded by the data step."""
    hub.register("011")
    born = {"birth_date": "1970-01-02", "sex": "1", "name_kana": "ワタナベ"}
    integrated = hub.enroll(
        {"011": atena_number(44)}, name="渡邊　" + KATSURA_IVS, address="霞ヶ関一丁目", **born
    )
    execute(database_url, "UPDATE person_versions SET name_key = name, address_key = address")
    assert _search(hub, name="渡辺葛", birth_date="1970-01-02") == []
    script = Path(platform_hub.__file__).parent / "migrations/versions/0015_characters.py"
    spec = importlib.util.spec_from_file_location("m0015", script)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as connection:
            migration.recompute_keys(connection)
    finally:
        engine.dispose()
    assert _search(hub, name="渡辺葛", birth_date="1970-01-02") == [integrated]
    ((name_key, address_key),) = rows(database_url, "SELECT name_key, address_key FROM person_versions")
    assert (name_key, address_key) == (normalize.name_key("渡辺葛"), "霞が関1丁目")


def test_a_jisx0213_unit_gets_each_n_item_fallen_back(hub: HubClient, database_url: str) -> None:
    """002 holds JIS X 0213 only: its copy of a notification has 髙 as 高, the IVS as its base; 011
    (MJ) gets the characters as sent."""
    units = {code: TestUnit() for code in ("002", "011")}
    with ExitStack() as stack:
        for code, unit in units.items():
            extra = {"characters": "jisx0213"} if code == "002" else {}
            registered = hub.register(code, stack.enter_context(serve_in_thread(unit.app())), **extra)
            assert registered["characters"] == extra.get("characters", "mj")
        hub.enroll({code: YAMADA[code] for code in ("001", "002", "011")})
        juki = hub.unit_headers(hub.register("001"))
        address = f"東京都千代田区髙田{KATSURA_IVS}一丁目１番１号"
        assert hub.send(ido_notification(changes={"Jusho": address}), juki).status_code == 200
        wait_until(lambda: all(unit.received for unit in units.values()))
    jusho = {code: unit.received[0].findtext(".//lk:Jusho", namespaces=NS) for code, unit in units.items()}
    assert jusho == {"002": "東京都千代田区高田葛一丁目１番１号", "011": address}


def test_a_selector_needs_its_registered_base() -> None:
    assert characters.refusals("\U000e0102葛") == ["U+E0102 is a variation selector on no base character"]
    assert characters.refusals("葛\U000e0102\U000e0102") == [
        "U+E0102 is a variation selector on no base character"
    ]
    assert characters.refusals("☀\ufe0f") == ["U+FE0F asks for emoji presentation"]
