"""The interface catalog: spec files checked by file and item, XSDs derived from them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from platform_hub.kit.settings import BUNDLED_SPECS
from platform_hub.protocol.catalog import load_catalog
from platform_hub.protocol.errors import SchemaViolation
from platform_hub.protocol.specs import SpecError
from tests.helpers import NS, HubClient, ido_notification

SPECS = BUNDLED_SPECS
CATALOG = load_catalog(SPECS)


def test_the_initial_catalog() -> None:
    specs = {spec.id: spec for spec in CATALOG.specs()}
    assert {i: (s.pattern, s.provider, s.category) for i, s in specs.items()} == {
        "IF_JUK_0001": ("notification", "001", "住民票関係情報"),
        "IF_JUK_0002": ("query", "001", "住民票関係情報"),
        "IF_JUK_0101": ("batch", "001", "住民票関係情報"),
        "IF_ZEI_0001": ("query", "002", "地方税関係情報"),
        "IF_ZEI_0101": ("batch", "002", "地方税関係情報"),
        "IF_JDT_0001": ("query", "011", "児童手当関係情報"),
    }
    ido = {item.name for item in specs["IF_JUK_0001"].all_items()}
    assert {"異動事由コード", "異動日", "氏名", "生年月日", "性別", "住所", "世帯番号"} <= ido
    zei = {item.name for item in specs["IF_ZEI_0001"].response}
    assert {"課税区分", "総所得金額", "所得割額", "扶養人数"} <= zei
    assert specs["IF_ZEI_0001"].consumers == ("011", "051")


def _broken_catalog(tmp_path: Path, change: dict[str, object], item: int | None = None) -> list[str]:
    folder = tmp_path / "specs"
    shutil.copytree(SPECS, folder)
    path = folder / "IF_ZEI_0001.yaml"
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    (spec["request"][item] if item is not None else spec).update(change)
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    with pytest.raises(SpecError) as raised:
        load_catalog(folder)
    return raised.value.problems


@pytest.mark.parametrize(
    ("change", "item", "expected"),
    [
        (
            {"length": 4},
            1,
            "IF_ZEI_0001.yaml: request → item 00201102 (KazeiNendo): Value error, type YEAR takes",
        ),
        ({"type": "Q"}, 0, "IF_ZEI_0001.yaml: request → item 00201101 (AtenaNo) → type: Input should be"),
        (
            {"id": "TOO-LONG-ID"},
            0,
            "IF_ZEI_0001.yaml: request → item TOO-LONG-ID (AtenaNo) → id: String should",
        ),
        ({"requirement": "条件付き必須"}, 1, "item 00201102 (KazeiNendo): Value error, condition is given"),
        ({"romaji": "KazeiNendo"}, 0, "romaji names used twice in request: KazeiNendo"),
        ({"pattern": "stream"}, None, "IF_ZEI_0001.yaml: pattern: Input should be 'query', 'notification'"),
        ({"id": "IF_ZEI_0002"}, None, "IF_ZEI_0001.yaml: the file must be named after its interface ID"),
    ],
)
def test_broken_specs_are_reported_by_file_and_item(
    tmp_path: Path, change: dict[str, object], item: int | None, expected: str
) -> None:
    problems = _broken_catalog(tmp_path, change, item)
    assert any(expected in problem for problem in problems), problems


def test_cli_validate(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from platform_hub.cli import app

    runner = CliRunner()
    ok = runner.invoke(app, ["interfaces", "validate", str(SPECS)])
    assert ok.exit_code == 0, ok.output
    assert "IF_ZEI_0001 地方税関係情報照会" in ok.output
    _broken_catalog(tmp_path, {"length": 0}, 0)
    broken = runner.invoke(app, ["interfaces", "validate", str(tmp_path / "specs")])
    assert broken.exit_code == 1, broken.output
    assert "IF_ZEI_0001.yaml: request → item 00201101 (AtenaNo) → length" in broken.output


def _validate_ido(**items: str) -> None:
    root = etree.fromstring(ido_notification(changes=items))
    message = root.find("soap:Body/lk:IF_JUK_0001_R01", NS)
    compiled = CATALOG.get("IF_JUK_0001")
    assert compiled is not None and message is not None
    compiled.validate(message)


@pytest.mark.parametrize(
    "items",
    [
        {"Shimei": "Yamada Taro"},  # N is full-width
        {"Shimei": "山" * 51},  # N(50)
        {"SetaiNo": "０００"},  # X is half-width
        {"IdoJiyuCode": "99"},  # not in the code list
        {"IdoDate": "2026/11/01"},
        {"IdoDate": "2026-11-01+09:00"},  # a DATE carries no zone
        {"IdoDate": "2026-02-30"},
        {"SeibetsuCode": "3"},
        {"AtenaNo": "00000000000001"},  # a 宛名番号 is all 15 characters
    ],
)
def test_item_types_are_enforced(items: dict[str, str]) -> None:
    with pytest.raises(SchemaViolation):
        _validate_ido(**items)


FULL_WIDTH = st.text(st.characters(min_codepoint=0x3000, max_codepoint=0x9FFF), min_size=1, max_size=50)
HALF_WIDTH = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=60)


@given(FULL_WIDTH)
def test_any_full_width_name_up_to_its_length_is_valid(name: str) -> None:
    _validate_ido(Shimei=name)


@given(HALF_WIDTH)
def test_half_width_text_is_never_a_valid_n_item(text: str) -> None:
    with pytest.raises(SchemaViolation):
        _validate_ido(Shimei=text)


@given(st.integers(min_value=1, max_value=9999), st.integers(1, 12), st.integers(1, 28))
def test_dates(year: int, month: int, day: int) -> None:
    _validate_ido(IdoDate=f"{year:04d}-{month:02d}-{day:02d}")


def test_catalog_endpoints(hub: HubClient) -> None:
    headers = hub.admin()
    listed = hub.http.get("/interfaces", headers=headers).json()
    assert [i["id"] for i in listed] == sorted(CATALOG.interfaces)
    spec = hub.http.get("/interfaces/IF_ZEI_0001", headers=headers).json()
    assert spec["request"][0] == {
        **spec["request"][0],
        "id": "00201101",
        "name": "宛名番号",
        "romaji": "AtenaNo",
        "type": "X",
        "length": 15,
        "requirement": "必須",
        "addressee": True,
    }
    xsd = hub.http.get("/interfaces/IF_ZEI_0001/xsd", headers=headers)
    assert xsd.headers["content-type"].startswith("application/xml")
    etree.XMLSchema(etree.fromstring(xsd.content))  # compiles on its own: no imports to fetch
    wsdl = hub.http.get("/linkage/wsdl", headers=headers)
    operations = etree.fromstring(wsdl.content).findall(
        "{http://schemas.xmlsoap.org/wsdl/}portType/{http://schemas.xmlsoap.org/wsdl/}operation"
    )
    assert sorted(o.get("name") for o in operations) == sorted(CATALOG.interfaces)
    assert hub.http.get("/interfaces/IF_NOP_0001", headers=headers).json()["error"]["code"] == "E1003"
    assert hub.http.get("/interfaces").status_code == 401


def test_a_schema_violation_names_its_first_20_errors_and_counts_the_rest() -> None:
    attributes = " ".join(f'a{i}="x"' for i in range(30)).encode()
    body = ido_notification()
    for item in (b"Shimei", b"Jusho"):
        body = body.replace(b"<lk:" + item + b">", b"<lk:" + item + b" " + attributes + b">", 1)
    message = etree.fromstring(body).find("soap:Body/lk:IF_JUK_0001_R01", NS)
    compiled = CATALOG.get("IF_JUK_0001")
    assert compiled is not None and message is not None
    with pytest.raises(SchemaViolation) as caught:
        compiled.validate(message)
    assert caught.value.message == "IF_JUK_0001_R01 fails the IF_JUK_0001 XSD (60 errors)"
    assert len(caught.value.details) == 21 and caught.value.details[-1] == "… and 40 more"
    assert "Shimei (00101107 氏名)" in caught.value.details[0]
