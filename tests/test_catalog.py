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
from platform_hub.protocol import characters
from platform_hub.protocol.catalog import load_catalog
from platform_hub.protocol.errors import SchemaViolation
from platform_hub.protocol.specs import SpecError
from tests.helpers import NS, HubClient, count_rows, fault_code, ido_notification, zei_query

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
            "IF_ZEI_0001.yaml: request → item 00201102 (KazeiNendo): type YEAR takes",
        ),
        ({"type": "Q"}, 0, "IF_ZEI_0001.yaml: request → item 00201101 (AtenaNo) → type: Input should be"),
        (
            {"id": "TOO-LONG-ID"},
            0,
            "IF_ZEI_0001.yaml: request → item TOO-LONG-ID (AtenaNo) → id: String should",
        ),
        ({"requirement": "条件付き必須"}, 1, "item 00201102 (KazeiNendo): condition is given"),
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


# Full width and within the 文字要件 (JIS X 0213 or MJ): the characters an N item may hold.
FULL_WIDTH = st.text(
    st.characters(min_codepoint=0x3000, max_codepoint=0x9FFF).filter(lambda c: not characters.refusals(c)),
    min_size=1,
    max_size=50,
)
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


# --- the catalog in the Digital Agency's terms (項目定義書) ---------------------------------------


@pytest.mark.parametrize(
    ("change", "item", "expected"),
    [
        ({"id": "ZEI01R01"}, 0, "request → item ZEI01R01 (AtenaNo) → id: String should match pattern"),
        ({"id": "0020110"}, 0, "request → item 0020110 (AtenaNo) → id: String should match pattern"),
        ({"id": "00101101"}, 0, "item 00101101 (AtenaNo): the ID does not begin with the 基幹業務コード 002"),
        ({"provider": "ZZZ"}, None, "provider ZZZ is not a 基幹業務コード: give business_code"),
        ({"business_code": "0021"}, None, "business_code: String should match pattern"),
        (
            {"type": "9", "length": 12, "my_number": True},
            1,
            "a my_number item is a 個人番号: type X, length 12",
        ),
        ({"type": "BLOB", "length": 9, "codes": {"1": "a"}}, 1, "a BLOB item has no code list"),
    ],
)
def test_da_item_rules_are_checked_on_loading(
    tmp_path: Path, change: dict[str, object], item: int | None, expected: str
) -> None:
    problems = _broken_catalog(tmp_path, change, item)
    assert any(expected in problem for problem in problems), problems


def test_an_explicit_business_code_is_the_prefix_of_the_ids(tmp_path: Path) -> None:
    problems = _broken_catalog(tmp_path, {"provider": "ZZZ", "business_code": "003"})
    assert any(
        "item 00201101 (AtenaNo): the ID does not begin with the 基幹業務コード 003" in p for p in problems
    )
    assert not any("give business_code" in p for p in problems), problems


def test_all_bundled_ids_are_eight_digits_under_their_business_code() -> None:
    for spec in CATALOG.specs():
        for item in spec.all_items():
            assert len(item.id) == 8 and item.id.isdigit() and item.id[:3] == spec.provider, item


def _with_response_item(tmp_path: Path, interface: str, index: int, change: dict[str, object]) -> list[str]:
    folder = tmp_path / "specs"
    shutil.copytree(SPECS, folder)
    path = folder / f"{interface}.yaml"
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    spec["response"][index].update(change)
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    with pytest.raises(SpecError) as raised:
        load_catalog(folder)
    return raised.value.problems


def test_a_condition_names_an_item_of_its_own_level(tmp_path: Path) -> None:
    unknown = _with_response_item(
        tmp_path / "a", "IF_ZEI_0001", 3, {"condition": {"when": "Nanika", "equals": "0"}}
    )
    assert any(
        "item 00201204 (KazeiKubunCode): condition names Nanika, not another item of response" in p
        for p in unknown
    ), unknown
    # SetaiShokaiKubun is the request's: the response's group cannot be checked against it
    other_level = _with_response_item(
        tmp_path / "b", "IF_JUK_0002", 10, {"condition": {"when": "SetaiShokaiKubun", "equals": "1"}}
    )
    assert any("condition names SetaiShokaiKubun, not another item of response" in p for p in other_level)
    two_tests = _with_response_item(
        tmp_path / "c",
        "IF_ZEI_0001",
        3,
        {"condition": {"when": "ShokaiKekkaCode", "equals": "0", "present": True}},
    )
    assert any("a condition has one of equals, in, present" in p for p in two_tests), two_tests


def test_a_my_number_is_x12_of_twelve_digits() -> None:
    spec = CATALOG.interfaces["IF_JUK_0001"].spec
    (kojin,) = [i for i in spec.all_items() if i.my_number]
    assert (kojin.type, kojin.length) == ("X", 12)
    _validate_ido(KojinBango="123456789018")
    for wrong in ("12345678901", "1234567890123", "12345678901A", "１２３４５６７８９０１８"):
        with pytest.raises(SchemaViolation) as caught:
            _validate_ido(KojinBango=wrong)
        assert "KojinBango (00101119 個人番号): not a valid 個人番号 (12 digits)" in caught.value.details[0]
        assert wrong not in " ".join(caught.value.details)


def test_a_blob_is_base64_of_at_most_its_length_in_bytes() -> None:
    import base64

    from platform_hub.protocol.catalog import compile_interface
    from platform_hub.protocol.specs import InterfaceSpec

    raw = yaml.safe_load((SPECS / "IF_ZEI_0001.yaml").read_text(encoding="utf-8"))
    raw["request"].append(
        {
            "id": "00201103",
            "name": "添付書類",
            "romaji": "Tenpu",
            "type": "BLOB",
            "length": 10,
            "requirement": "任意",
        }
    )
    compiled = compile_interface(InterfaceSpec.model_validate(raw), SPECS / "IF_ZEI_0001.yaml")
    assert b'base="xs:base64Binary"' in compiled.xsd

    def validate(text: str) -> None:
        body = zei_query().replace(b"</lk:Payload>", f"<lk:Tenpu>{text}</lk:Tenpu></lk:Payload>".encode())
        message = etree.fromstring(body).find("soap:Body/lk:IF_ZEI_0001_R01", NS)
        assert message is not None
        compiled.validate(message)

    validate(base64.b64encode(b"0123456789").decode())
    for wrong in (base64.b64encode(b"0123456789A").decode(), "not base64!"):
        with pytest.raises(SchemaViolation) as caught:
            validate(wrong)
        assert "Tenpu (00201103 添付書類)" in caught.value.details[0]


def test_a_conditional_item_is_required_when_its_condition_holds() -> None:
    _validate_ido(IdoJiyuCode="03")  # 転居: none of the 転出 items
    with pytest.raises(SchemaViolation) as caught:
        _validate_ido(IdoJiyuCode="02")  # 転出 without 転出先住所 and 転出予定日
    assert caught.value.message == "IF_JUK_0001_R01 fails the IF_JUK_0001 item rules (2 errors)"
    why = "missing, required when IdoJiyuCode = '02' (異動事由が転出のとき必須)"
    assert caught.value.details == [
        f"TenshutsusakiJusho (00101117 転出先住所): {why}",
        f"TenshutsuYoteiDate (00101118 転出予定日): {why}",
    ]
    _validate_ido(IdoJiyuCode="02", TenshutsusakiJusho="大阪府", TenshutsuYoteiDate="2026-11-30")


def test_in_and_present_conditions() -> None:
    from platform_hub.protocol.specs import Condition

    among = Condition.model_validate({"when": "IdoJiyuCode", "in": ["01", "04"]})
    assert among.holds("04") and not among.holds("02") and not among.holds(None)
    present = Condition.model_validate({"when": "SetaiNo", "present": True})
    assert present.holds("") and not present.holds(None)
    assert present.describe() == "SetaiNo is present"
    with pytest.raises(ValueError, match="names its item"):
        Condition.model_validate({})


def _record(**changes: str) -> etree._Element:
    items = {
        "RecordNo": "1",
        "IdoJiyuCode": "01",
        "IdoDate": "2026-11-01",
        "AtenaNo": "000000000000019",
        "SetaiNo": "000000000000027",
        "ZokugaraCode": "01",
        "Shimei": "山田　太郎",
        "ShimeiKana": "ヤマダ　タロウ",
        "SeinengappiDate": "1985-04-01",
        "SeibetsuCode": "1",
        "ShikuchosonCode": "131016",
        "Jusho": "東京都千代田区千代田一丁目１番１号",
        "JuminJotaiCode": "1",
        **changes,
    }
    spec = CATALOG.interfaces["IF_JUK_0101"].spec
    order = [i.romaji for i in spec.record.items or ()]
    inner = "".join(f"<lk:{k}>{items[k]}</lk:{k}>" for k in order if k in items)
    return etree.fromstring(f'<lk:Jumin xmlns:lk="{NS["lk"]}">{inner}</lk:Jumin>')


def test_a_batch_record_is_refused_when_its_condition_holds_and_the_item_is_missing() -> None:
    compiled = CATALOG.interfaces["IF_JUK_0101"]
    compiled.validate_record(_record(TennyumaeJusho="大阪府"))
    with pytest.raises(SchemaViolation) as caught:
        compiled.validate_record(_record())
    why = "missing, required when IdoJiyuCode = '01' (異動事由が転入のとき必須)"
    assert caught.value.details == [f"TennyumaeJusho (00111116 転入前住所): {why}"]


def test_the_hub_refuses_a_message_missing_a_conditional_item(hub: HubClient, database_url: str) -> None:
    juki = hub.unit_headers(hub.register("001"))
    response = hub.send(ido_notification(jiyu="06"), juki)  # 氏名変更 without 旧氏名
    assert response.status_code == 400 and fault_code(response) == "E1002", response.text
    assert "KyuShimei (00101115 旧氏名): missing, required when IdoJiyuCode = '06'" in response.text
    assert count_rows(database_url, "messages") == 0


def _response(interface_id: str, payload: str) -> etree._Element:
    lk = NS["lk"]
    message = etree.fromstring(
        f"""<lk:{interface_id}_S01 xmlns:lk="{lk}"><lk:MessageHeader><lk:MSGID>m1</lk:MSGID>
        <lk:MSGTypeID>{interface_id}_S01</lk:MSGTypeID><lk:MSGMode>0</lk:MSGMode>
        <lk:SourceSystemID>001</lk:SourceSystemID><lk:PurposeCode>JDT-001</lk:PurposeCode>
        <lk:SendDateTime>2026-11-26T10:00:00+09:00</lk:SendDateTime></lk:MessageHeader>
        <lk:MessageBody><lk:Payload>{payload}</lk:Payload></lk:MessageBody></lk:{interface_id}_S01>"""
    )
    return message


def _household(*members: str) -> str:
    found = (
        "<lk:ShokaiKekkaCode>0</lk:ShokaiKekkaCode><lk:AtenaNo>000000000000019</lk:AtenaNo>"
        "<lk:Shimei>山田　太郎</lk:Shimei><lk:SeinengappiDate>1985-04-01</lk:SeinengappiDate>"
        "<lk:SeibetsuCode>1</lk:SeibetsuCode><lk:Jusho>東京都千代田区</lk:Jusho>"
        "<lk:JuminJotaiCode>1</lk:JuminJotaiCode>"
    )
    return found + "".join(
        f"<lk:SetaiIn><lk:AtenaNo>{m}</lk:AtenaNo><lk:Shimei>山田　花子</lk:Shimei>"
        "<lk:ZokugaraCode>02</lk:ZokugaraCode><lk:SeinengappiDate>1987-01-01</lk:SeinengappiDate></lk:SetaiIn>"
        for m in members
    )


def test_a_group_key_is_unique_across_its_repetitions() -> None:
    compiled = CATALOG.interfaces["IF_JUK_0002"]
    assert compiled.spec.response[10].keys == ("AtenaNo",)
    compiled.validate(_response("IF_JUK_0002", _household("000000000000027", "000000000000035")))
    with pytest.raises(SchemaViolation) as caught:
        compiled.validate(_response("IF_JUK_0002", _household("000000000000027", "000000000000027")))
    assert caught.value.details == ["SetaiIn (00102211 世帯員): 主キー AtenaNo='000000000000027' repeated"]


def test_a_key_names_a_plain_item_of_its_group(tmp_path: Path) -> None:
    problems = _with_response_item(tmp_path, "IF_JUK_0002", 10, {"keys": ["Jusho"]})
    assert any("key Jusho is not a single, plain item of the group" in p for p in problems), problems


def test_versions_of_an_interface() -> None:
    assert CATALOG.versions("IF_ZEI_0001") == [1, 2] and CATALOG.versions("IF_JUK_0001") == [1]
    assert CATALOG.versions("IF_NOP_0001") == []
    v1, v2 = CATALOG.get("IF_ZEI_0001"), CATALOG.get("IF_ZEI_0001", 2)
    assert v1 is not None and v2 is not None and CATALOG.get("IF_ZEI_0001", 3) is None
    assert (v1.spec.version, v2.spec.version) == (1, 2)
    assert [i.romaji for i in v2.spec.response][-1] == "GokeiShotokuKingaku"
    assert "GokeiShotokuKingaku" not in [i.romaji for i in v1.spec.response]
    assert sorted(CATALOG.interfaces) == sorted(s.id for s in CATALOG.specs())  # SOAP sees v1 only
    answer = (
        "<lk:ShokaiKekkaCode>0</lk:ShokaiKekkaCode><lk:AtenaNo>000000000000019</lk:AtenaNo>"
        "<lk:KazeiNendo>2026</lk:KazeiNendo><lk:KazeiKubunCode>1</lk:KazeiKubunCode>"
        "<lk:SoshotokuKingaku>3000000</lk:SoshotokuKingaku><lk:ShotokuwariGaku>100000</lk:ShotokuwariGaku>"
        "<lk:FuyoNinzu>1</lk:FuyoNinzu>"
    )
    v1.validate(_response("IF_ZEI_0001", answer))
    with pytest.raises(SchemaViolation) as caught:  # version 2 requires its new item
        v2.validate(_response("IF_ZEI_0001", answer))
    assert "GokeiShotokuKingaku (00201211 合計所得金額): missing" in caught.value.details[0]
    with_total = answer + "<lk:GokeiShotokuKingaku>3200000</lk:GokeiShotokuKingaku>"
    v2.validate(_response("IF_ZEI_0001", with_total))
    with pytest.raises(SchemaViolation):  # version 1 does not know it
        v1.validate(_response("IF_ZEI_0001", with_total))


def test_a_version_file_is_named_after_its_version_and_needs_version_1(tmp_path: Path) -> None:
    folder = tmp_path / "specs"
    shutil.copytree(SPECS, folder)
    (folder / "IF_ZEI_0001.v2.yaml").rename(folder / "IF_ZEI_0001.v3.yaml")
    (folder / "IF_JDT_0001.yaml").rename(folder / "IF_JDT_0001.v2.yaml")
    with pytest.raises(SpecError) as raised:
        load_catalog(folder)
    problems = raised.value.problems
    assert any(
        "IF_ZEI_0001.v3.yaml: the file must be named after its interface ID and version (IF_ZEI_0001.v2" in p
        for p in problems
    )
    assert any("IF_JDT_0001.v2.yaml: the file must be named" in p for p in problems), problems


def test_cli_validate_names_every_problem_of_every_file(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from platform_hub.cli import app

    folder = tmp_path / "specs"
    shutil.copytree(SPECS, folder)
    for name, index, change in (
        ("IF_ZEI_0001.yaml", 0, {"id": "00301101"}),
        ("IF_ZEI_0001.yaml", 1, {"id": "00301102"}),
        ("IF_JDT_0001.yaml", 0, {"length": 0}),
    ):
        spec = yaml.safe_load((folder / name).read_text(encoding="utf-8"))
        spec["request"][index].update(change)
        (folder / name).write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    broken = CliRunner().invoke(app, ["interfaces", "validate", str(folder)])
    assert broken.exit_code == 1
    lines = [line for line in broken.output.splitlines() if line.startswith("✗")]
    ids = [line for line in lines if "the ID does not begin" in line]  # one problem a line
    why = "the ID does not begin with the 基幹業務コード 002"
    assert ids == [
        f"✗ IF_ZEI_0001.yaml: spec: item 00301101 (AtenaNo): {why}",
        f"✗ IF_ZEI_0001.yaml: spec: item 00301102 (KazeiNendo): {why}",
    ], broken.output
    assert any(
        line.startswith("✗ IF_JDT_0001.yaml: request → item 01101101 (AtenaNo) → length") for line in lines
    )
