"""The plaintext My Number exists nowhere but in the encrypted column: not in the database file, the
logs, the stored messages, the transfer record, or any API response a test run produced."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from lxml import etree

from platform_hub.protocol.numbers import atena_number
from tests.helpers import PERSON, YAMADA, HubClient, ido_notification, serve_in_thread, wait_until, zei_query
from tests.units import TestUnit, zei_answer

RESIDENT, NON_RESIDENT = "123456789018", "987654321093"


def _database_text(database_url: str) -> bytes:
    """Everything the database holds, as bytes: the SQLite files, or every row of every table."""
    url = sa.make_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            tables = (
                connection.execute(sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
                .scalars()
                .all()
            )
            return "\n".join(
                str(row[0])
                for table in tables
                for row in connection.execute(sa.text(f'SELECT t::text FROM "{table}" t'))
            ).encode()
    finally:
        engine.dispose()


def test_my_numbers_appear_nowhere_in_plaintext(
    hub: HubClient, database_url: str, capfd: pytest.CaptureFixture[str]
) -> None:
    assert RESIDENT.isdigit() and NON_RESIDENT.isdigit()
    responses: list[httpx.Response] = []
    hub.http.event_hooks["response"].append(lambda response: responses.append(response))
    zeimu = TestUnit(answer=zei_answer)
    with serve_in_thread(zeimu.app()) as url:
        hub.register("002", url)
        juki = hub.unit_headers(hub.register("001"))
        jidou = hub.register("011")
        # A 転入 carrying the 個人番号, a 住登外者 registered with one, searches by both, a query.
        hub.send(ido_notification(jiyu="01", my_number=RESIDENT, changes={"TennyumaeJusho": "大阪府"}), juki)
        registry_only = hub.unit_headers(jidou, scope="011:addressees 011:IF_ZEI_0001:send")
        number_use = hub.unit_headers(jidou)  # may register with a My Number; is never shown one here
        registered = hub.http.post(
            "/addressees",
            headers=number_use,
            json={
                **PERSON,
                "unit_code": "011",
                "atena_number": atena_number(900),
                "my_number": NON_RESIDENT,
                "reason": "住登外者",
                "purpose_code": "JDT-001",
            },
        )
        assert registered.status_code == 201, registered.text
        hub.http.post(
            "/addressees",
            headers=number_use,
            json={
                **PERSON,
                "unit_code": "011",
                "atena_number": atena_number(901),
                "my_number": NON_RESIDENT,
                "reason": "二重登録",
                "purpose_code": "JDT-001",
            },
        )  # refused: the number is known — and not repeated in the error
        auditor = hub.admin_auditor()
        for number in (RESIDENT, NON_RESIDENT):
            asked = {"my_number": number, "purpose_code": "JDT-001"}
            hub.http.post("/addressees/search", json=asked, headers=registry_only)  # 403
            # typed into an auditor's filter, or as a client id: refused, and not kept as it came
            spelled = (number, number.translate(str.maketrans("0123456789", "０１２３４５６７８９")))
            spelled += (f"{number[:4]}-{number[4:8]}-{number[8:]}",)
            for filters in (
                {"integrated_number": number},
                {"atena_number": number},
                *({"organ": written} for written in spelled),
            ):
                hub.http.get("/audit/transfers", params=filters, headers=auditor)
            hub.http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(number, "x"))
            hub.http.post("/addressees/search", json={"my_number": number}, headers=hub.admin())
        hub.http.post("/addressees/search", json={"my_number": RESIDENT[:-1] + "0"}, headers=hub.admin())
        integrated = hub.http.post(
            "/addressees/search", json={"my_number": RESIDENT}, headers=hub.admin()
        ).json()[0]["person_id"]
        for unit, atena in (("002", YAMADA["002"]), ("011", YAMADA["011"])):
            hub.http.post(
                f"/addressees/{integrated}/links",
                headers=hub.admin(),
                json={"unit_code": unit, "atena_number": atena, "reason": "照合"},
            )
        hub.send(zei_query(), registry_only)
        hub.send(ido_notification(jiyu="03", changes={"Jusho": "東京都港区芝公園四丁目２番８号"}), juki)
        wait_until(lambda: len(zeimu.received) == 2)
    assert len(responses) > 15
    logs = capfd.readouterr()
    places = {
        "database": _database_text(database_url),
        "logs": (logs.out + logs.err).encode(),
        "responses": b"\n".join(r.read() for r in responses),
        "messages the units received": b"".join(etree.tostring(m) for m in zeimu.received),
    }
    for where, content in places.items():
        for number in (RESIDENT, NON_RESIDENT):
            for written in (number, number.translate(str.maketrans("0123456789", "０１２３４５６７８９"))):
                assert written.encode() not in content, f"a My Number in plaintext in the {where}"
            assert f"{number[:4]}-{number[4:8]}-{number[8:]}".encode() not in content, where
    assert b"has_my_number" in places["responses"]  # the registry did answer about them


def _default_namespace(body: bytes) -> bytes:
    return body.replace(b"xmlns:lk=", b"xmlns=").replace(b"lk:", b"")


def _prefixed(body: bytes, prefix: bytes) -> bytes:
    return body.replace(b"xmlns:lk=", b"xmlns:" + prefix + b"=").replace(b"lk:", prefix + b":")


@pytest.mark.parametrize(
    ("number", "spelled"),
    [
        ("12345678901A", _default_namespace),  # a letter in it
        ("1234567890189", _default_namespace),  # 13 digits
        ("123456789O18", lambda body: _prefixed(body, b"jukinet")),  # a letter O among the digits
        ("9876543210", lambda body: _prefixed(body, b"x")),  # too short
    ],
)
def test_an_xsd_error_never_quotes_a_my_number(
    hub: HubClient, capfd: pytest.CaptureFixture[str], number: str, spelled: Any
) -> None:
    """Whatever the namespace prefix (none, with a default namespace), the rejected 個人番号 is not
    repeated in the fault nor logged."""
    juki = hub.unit_headers(hub.register("001"))
    response = hub.send(spelled(ido_notification(jiyu="01", my_number=number)), juki)
    assert response.status_code == 400 and b"E1002" in response.content, response.text
    assert "KojinBango" in response.text  # the item is named
    logs = capfd.readouterr()
    for content in (response.text, logs.out + logs.err):
        assert number not in content


@pytest.mark.parametrize("spelled", [_default_namespace, lambda body: _prefixed(body, b"x")])
@pytest.mark.parametrize("item", ["Shimei", "AtenaNo", "SeinengappiDate", "IdoJiyuCode"])
def test_a_my_number_in_the_wrong_item_is_not_quoted_either(
    hub: HubClient, capfd: pytest.CaptureFixture[str], item: str, spelled: Any
) -> None:
    """A valid-looking 個人番号 sent where another item belongs: its XSD error names the item, not it."""
    juki = hub.unit_headers(hub.register("001"))
    response = hub.send(spelled(ido_notification(changes={item: RESIDENT})), juki)
    assert response.status_code == 400 and b"E1002" in response.content, response.text
    assert item in response.text
    logs = capfd.readouterr()
    for content in (response.text, logs.out + logs.err):
        assert RESIDENT not in content
