"""A standard SOAP toolkit (zeep) reads the hub's WSDL and queries a unit through the hub."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests
import zeep
import zeep.exceptions
from zeep.transports import Transport

from tests.helpers import LK, YAMADA, HubClient, serve_in_thread
from tests.units import TestUnit, zei_answer

JST = timezone(timedelta(hours=9))


def zeep_client(hub: HubClient, session: requests.Session) -> zeep.Client:
    """A zeep client of the hub's WSDL (fetched, like every call, with the session's bearer token)."""
    transport = Transport(session=session)  # type: ignore[no-untyped-call]  # zeep is untyped
    wsdl = f"{hub.http.base_url}/linkage/wsdl"
    return zeep.Client(wsdl, transport=transport)  # type: ignore[no-untyped-call]


def zei_call(client: zeep.Client, source: str = "011") -> Any:
    """Call IF_ZEI_0001 with typed values (KazeiNendo is an xs:gYear: zeep's (year, tzinfo))."""
    return client.service.IF_ZEI_0001(
        MessageHeader={
            "MSGID": uuid.uuid4().hex,
            "MSGTypeID": "IF_ZEI_0001_R01",
            "MSGMode": "0",
            "SourceSystemID": source,
            "PurposeCode": "JDT-001",
            "SendDateTime": datetime.now(JST),
        },
        MessageBody={
            "RequestSourceUnitCode": "KODOMO-1",
            "RequestSourceUserID": "u0123",
            "Payload": {"AtenaNo": "000000000000019", "KazeiNendo": (2026, None)},
        },
    )


@pytest.fixture
def sender(hub: HubClient) -> Iterator[zeep.Client]:
    """Unit 002 (a real TestUnit on loopback) answers; unit 011 asks through zeep."""
    with serve_in_thread(TestUnit(answer=zei_answer).app()) as url, requests.Session() as session:
        hub.register("002", url)
        session.headers["Authorization"] = hub.unit_headers(hub.register("011"))["Authorization"]
        hub.enroll({"011": YAMADA["011"], "002": YAMADA["002"]})
        yield zeep_client(hub, session)


def test_zeep_queries_through_the_hub(sender: zeep.Client) -> None:
    answer = zei_call(sender)
    assert answer.MessageHeader.MSGTypeID == "IF_ZEI_0001_S01"
    assert answer.MessageHeader.MSGResult == "0"
    assert answer.MessageHeader.ReceptionNumber
    assert answer.MessageBody.Payload.SoshotokuKingaku == "4200000"
    assert answer.MessageBody.Payload.KazeiNendo == (2026, None)


def test_zeep_raises_the_hubs_fault(hub: HubClient, sender: zeep.Client) -> None:
    hub.register("051")  # a known unit, so the hub refuses the forgery (E2002), not the stranger (E1003)
    with pytest.raises(zeep.exceptions.Fault) as raised:
        zei_call(sender, source="051")  # 011's token cannot speak for 051
    assert raised.value.code == "soap:Client"
    assert raised.value.detail is not None
    assert raised.value.detail.findtext(f"{{{LK}}}ErrorCode") == "E2002"
