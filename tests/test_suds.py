"""suds (suds-community), a SOAP toolkit that reads a fault only on HTTP 500 (WS-I Basic Profile
R1126), gets the hub's error code from a unit registered for WS-I faults; zeep reads it either way."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests
import zeep
import zeep.exceptions
from suds import WebFault
from suds.client import Client

from tests.helpers import LK, YAMADA, HubClient, serve_in_thread, zei_query
from tests.test_zeep import zeep_client, zei_call
from tests.units import TestUnit, zei_answer

JST = timezone(timedelta(hours=9))


def suds_client(hub: HubClient, headers: dict[str, str], tmp_path: Path) -> Client:
    """A suds client of the hub's WSDL (saved to a file: suds fetches it without the bearer token)."""
    wsdl = tmp_path / "linkage.wsdl"
    wsdl.write_bytes(hub.http.get("/linkage/wsdl", headers=headers).content)
    return Client(wsdl.as_uri(), headers=headers, cache=None)


def suds_call(client: Client, source: str) -> Any:
    header = client.factory.create("ns0:RequestHeader")
    header.MSGID, header.MSGTypeID, header.MSGMode = uuid.uuid4().hex, "IF_ZEI_0001_R01", "0"
    header.SourceSystemID, header.PurposeCode = source, "JDT-001"
    header.SendDateTime = datetime.now(JST)
    body = {
        "RequestSourceUnitCode": "KODOMO-1",
        "RequestSourceUserID": "u0123",
        "Payload": {"AtenaNo": YAMADA["011"], "KazeiNendo": "2026"},
    }
    return client.service.IF_ZEI_0001(MessageHeader=header, MessageBody=body)


@pytest.fixture
def zeimu(hub: HubClient) -> Iterator[None]:
    with serve_in_thread(TestUnit(answer=zei_answer).app()) as url:
        hub.register("002", url)
        hub.register("051")  # a known unit 011 cannot speak for (E2002)
        yield


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # suds' own imports
def test_suds_reads_the_code_of_a_fault_from_a_wsi_unit(hub: HubClient, zeimu: None, tmp_path: Path) -> None:
    wsi = hub.unit_headers(hub.register("011", soap_faults="wsi"))
    hub.enroll({"011": YAMADA["011"], "002": YAMADA["002"]})
    client = suds_client(hub, wsi, tmp_path)
    answer = suds_call(client, "011")
    assert answer.MessageHeader.MSGResult == "0" and answer.MessageBody.Payload.SoshotokuKingaku == "4200000"
    with pytest.raises(WebFault) as raised:
        suds_call(client, "051")
    assert raised.value.fault.faultcode == "soap:Client"
    assert raised.value.fault.detail.ErrorCode == "E2002"
    # The same fault is HTTP 500 for this unit, the contract's 403 for the others.
    forged = hub.send(zei_query(source="051"), wsi)
    assert forged.status_code == 500 and b"E2002" in forged.content


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_contract_unit_keeps_the_contracts_statuses(hub: HubClient, zeimu: None, tmp_path: Path) -> None:
    contract = hub.unit_headers(hub.register("011"))
    forged = hub.send(zei_query(source="051"), contract)
    assert forged.status_code == 403 and b"E2002" in forged.content
    with requests.Session() as session:  # zeep reads the code on any status
        session.headers["Authorization"] = contract["Authorization"]
        with pytest.raises(zeep.exceptions.Fault) as raised:
            zei_call(zeep_client(hub, session), source="051")
    assert raised.value.detail is not None
    assert raised.value.detail.findtext(f"{{{LK}}}ErrorCode") == "E2002"
