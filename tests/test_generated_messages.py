"""Generated messages against the parser and validator (hypothesis): whatever arrives is answered with a
code, never a 5xx; nothing is stored for a message refused before its policy checks; the hub stays up."""

from __future__ import annotations

from xml.sax.saxutils import escape

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import HubClient, count_rows, fault_code, serve_in_thread, zei_query
from tests.units import TestUnit, zei_answer

VALID = zei_query()
ITEMS = (
    "MSGID",
    "MSGTypeID",
    "MSGMode",
    "SourceSystemID",
    "PurposeCode",
    "SendDateTime",
    "AtenaNo",
    "KazeiNendo",
)
# Refused before anything is kept: XML, envelope, XSD (E1…), identity and scope (E2…).
EARLY = ("E1", "E2")


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    """A valid 地方税関係情報照会 damaged one way: bytes flipped, cut short, or an item's text replaced."""
    how = draw(st.sampled_from(["flip", "cut", "item"]))
    body = bytearray(VALID)
    if how == "flip":
        for _ in range(draw(st.integers(1, 8))):
            body[draw(st.integers(0, len(body) - 1))] = draw(st.integers(0, 255))
        return bytes(body)
    if how == "cut":
        return bytes(body[: draw(st.integers(0, len(body) - 1))])
    item = draw(st.sampled_from(ITEMS))
    text = escape(draw(st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)))
    start = VALID.index(f"<lk:{item}>".encode()) + len(item) + 5
    end = VALID.index(f"</lk:{item}>".encode())
    return VALID[:start] + text.encode() + VALID[end:]


def test_generated_messages_are_answered_with_a_code(hub: HubClient, database_url: str) -> None:
    unit = TestUnit(answer=zei_answer)
    answered: list[str] = []
    with serve_in_thread(unit.app()) as url:
        hub.register("002", url)
        headers = hub.unit_headers(hub.register("011"))

        @given(body=messages())
        @settings(
            max_examples=150,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,
        )
        def send(body: bytes) -> None:
            response = hub.send(body, headers)
            assert response.status_code < 500, response.text[:300]
            code = "ok" if response.status_code == 200 else fault_code(response)
            assert code == "ok" or (code or "").startswith(("E1", "E2", "E3", "E4")), response.text[:300]
            answered.append(code or "")

        send()
    kept = sum(1 for code in answered if not code.startswith(EARLY))
    assert count_rows(database_url, "messages") <= kept
    assert {code[:2] for code in answered} >= {"E1"}  # the generator reaches the parser's refusals
    assert hub.http.get("/healthz").status_code == 200
