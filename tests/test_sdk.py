"""The adapter SDK on its own: payloads and envelopes, idempotent receiving, XSD checks, tokens."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest
from lxml import etree
from platform_hub_sdk import Credentials, InterfaceCatalog, LinkageError, Received, TokenSource, Unit
from platform_hub_sdk.messages import answer_message, read_message, request_message
from platform_hub_sdk.payload import from_element, to_element

from platform_hub.kit.settings import Settings
from platform_hub.protocol.envelope import read_envelope
from platform_hub.protocol.numbers import atena_number
from platform_hub.protocol.xml import parse_xml
from tests.helpers import CATALOG, NS, zei_query

HOUSEHOLD = {
    "ShokaiKekkaCode": "0",
    "AtenaNo": atena_number(7),
    "Shimei": "山田　花子",
    "SeinengappiDate": dt.date(1988, 2, 3),
    "SeibetsuCode": 2,
    "Jusho": "東京都千代田区千代田一丁目１番１号",
    "JuminJotaiCode": "1",
    "SetaiIn": [
        {
            "AtenaNo": atena_number(7),
            "Shimei": "山田　花子",
            "ZokugaraCode": "01",
            "SeinengappiDate": "1988-02-03",
        },
        {
            "AtenaNo": atena_number(8),
            "Shimei": "山田　一郎",
            "ZokugaraCode": "04",
            "SeinengappiDate": "2019-05-06",
        },
    ],
}


def as_text(value: object) -> object:
    """What comes back from XML: every value as text, repeated items as lists."""
    if isinstance(value, dict):
        return {key: as_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_text(item) for item in value]
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def test_payload_round_trip_in_spec_order() -> None:
    spec = CATALOG.interfaces["IF_JUK_0002"].spec
    shuffled = dict(reversed(list(HOUSEHOLD.items())))  # the dict's order does not matter
    element = to_element(spec.response, shuffled)
    names = [etree.QName(child).localname for child in element]
    head = ["ShokaiKekkaCode", "AtenaNo", "Shimei", "SeinengappiDate", "SeibetsuCode", "Jusho"]
    assert names == [*head, "JuminJotaiCode", "SetaiIn", "SetaiIn"]
    assert from_element(spec.response, element) == as_text(HOUSEHOLD)


def test_payload_refuses_unknown_items_and_scalars_for_lists() -> None:
    spec = CATALOG.interfaces["IF_JUK_0002"].spec
    with pytest.raises(ValueError, match="Shimie"):
        to_element(spec.response, {"Shimie": "山田"})
    with pytest.raises(TypeError, match="repeated"):
        to_element(spec.response, {"SetaiIn": {"AtenaNo": atena_number(7)}})


def test_envelope_round_trip_validates_against_the_xsd() -> None:
    compiled = CATALOG.interfaces["IF_JUK_0002"]
    request = request_message(
        compiled,
        {"AtenaNo": atena_number(7), "KijunDate": dt.date(2026, 1, 1), "SetaiShokaiKubun": "1"},
        source="011",
        destination="001",
        purpose="JDT-001",
        msgid="m-1",
        department="KODOMO-1",
        user="u0123",
    )
    compiled.validate(request.message)
    parsed = read_message(
        compiled, read_envelope(parse_xml(request.to_bytes(), max_bytes=10**6, limits=Settings().xml_limits))
    )
    assert (parsed.msgid, parsed.source, parsed.destination, parsed.purpose_code) == (
        "m-1",
        "011",
        "001",
        "JDT-001",
    )
    assert parsed.payload == {"AtenaNo": atena_number(7), "KijunDate": "2026-01-01", "SetaiShokaiKubun": "1"}
    answer = answer_message(compiled, parsed, "001", HOUSEHOLD)
    compiled.validate(answer.message)
    back = read_message(compiled, answer)
    assert back.message_type == "IF_JUK_0002_S01" and back.destination == "011"
    assert back.payload == as_text(HOUSEHOLD)


def local_unit(tmp_path: Path) -> tuple[Unit, list[Received]]:
    """A 002 unit with the hub's catalog preloaded: enough to receive without a hub."""
    unit = Unit(
        "002",
        "個人住民税",
        "市長",
        hub_url="http://127.0.0.1:9",
        base_url="http://127.0.0.1:9",
        database=tmp_path / "unit.db",
        purposes=["ZEI-001"],
        catalog=InterfaceCatalog.of(CATALOG),
    )
    calls: list[Received] = []

    @unit.on_query("IF_ZEI_0001")
    async def income(message: Received) -> dict[str, object]:
        calls.append(message)
        if message.payload["KazeiNendo"] == "1999":
            raise RuntimeError("the tax system is down")
        return {
            "ShokaiKekkaCode": "1",
            "AtenaNo": message.payload["AtenaNo"],
            "KazeiNendo": message.payload["KazeiNendo"],
        }

    return unit, calls


def fault_of(answer: bytes) -> str | None:
    return etree.fromstring(answer).findtext(".//lk:ErrorCode", namespaces=NS)


async def test_a_repeated_msgid_is_answered_the_same_without_calling_the_handler(tmp_path: Path) -> None:
    unit, calls = local_unit(tmp_path)
    query = zei_query(msgid="once", destination="002")
    first, again = await unit.receive(query), await unit.receive(query)
    assert first[0] == 200 and again == first
    assert len(calls) == 1
    assert etree.fromstring(first[1]).findtext(".//lk:RelatesToMSGID", namespaces=NS) == "once"
    # The MSGID decides (the hub checked the body at intake; its translation may differ on a redelivery).
    assert await unit.receive(zei_query(msgid="once", destination="002", atena=atena_number(99))) == first
    assert len(calls) == 1
    # The table survives a restart of the unit.
    restarted, restarted_calls = local_unit(tmp_path)
    assert await restarted.receive(query) == first and not restarted_calls


async def test_a_failed_handler_is_called_again_on_the_retry(tmp_path: Path) -> None:
    unit, calls = local_unit(tmp_path)
    failing = zei_query(msgid="down", destination="002", year="1999")
    assert [(await unit.receive(failing))[0] for _ in range(2)] == [500, 500]
    assert len(calls) == 2  # nothing was answered, so nothing is replayed


async def test_messages_failing_the_xsd_are_refused_both_ways(tmp_path: Path) -> None:
    unit, calls = local_unit(tmp_path)
    bad_year = zei_query(destination="002", year="20X6")
    status, answer = await unit.receive(bad_year)
    assert (status, fault_of(answer)) == (400, "E1002")
    assert "KazeiNendo" in etree.fromstring(answer).findtext(".//lk:ErrorDetail", namespaces=NS)  # type: ignore[operator]
    assert not calls
    with pytest.raises(LinkageError) as refused:  # refused before anything is sent
        await unit.query("IF_ZEI_0001", {"AtenaNo": "123", "KazeiNendo": 2026})
    assert refused.value.code == "E1002"
    status, answer = await unit.receive(zei_query(source="011").replace(b"IF_ZEI_0001", b"IF_ZEI_0009"))
    assert (status, fault_of(answer)) == (404, "E1003")


async def test_token_is_refreshed_before_it_expires_and_when_refused() -> None:
    issued: list[str] = []

    def hub(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/oauth/token"
        assert request.headers["authorization"].startswith("Basic ")
        issued.append(f"token-{len(issued) + 1}")
        return httpx.Response(
            200, json={"access_token": issued[-1], "token_type": "Bearer", "expires_in": 300}
        )

    now = [1000.0]
    async with httpx.AsyncClient(transport=httpx.MockTransport(hub), base_url="http://hub") as http:
        tokens = TokenSource(http, Credentials("unit002-x", "secret"), clock=lambda: now[0])
        assert await tokens.token() == "token-1"
        now[0] += 200  # well inside the lifetime: the same token
        assert await tokens.token() == "token-1"
        now[0] += 80  # inside the safety margin before expiry: a new one
        assert await tokens.token() == "token-2"
        tokens.invalidate()  # what a 401 from the hub does
        assert await tokens.token() == "token-3"
    assert issued == ["token-1", "token-2", "token-3"]


async def test_refused_credentials_raise_the_hubs_code() -> None:
    def hub(_: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": {"code": "E2001", "message": "invalid client credentials"}})

    async with httpx.AsyncClient(transport=httpx.MockTransport(hub), base_url="http://hub") as http:
        with pytest.raises(LinkageError) as refused:
            await TokenSource(http, Credentials("x", "y")).token()
    assert refused.value.code == "E2001" and refused.value.status_code == 401


def test_the_sdk_exports_the_check_digits_the_hub_checks() -> None:
    """A unit numbers its 宛名番号 and checks a 個人番号 with the SDK alone, as the hub will."""
    import platform_hub_sdk as sdk

    number = sdk.atena_number(19)
    assert len(number) == 15 and sdk.is_valid_atena_number(number)
    assert sdk.check_atena_number(number) == number
    assert not sdk.is_valid_my_number("123456789012")  # a wrong check digit
