"""Small real business units for tests: HTTP services on loopback that answer and record messages."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lxml import etree
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.helpers import LK, NS, SOAP

Answer = Callable[[etree._Element], str]  # request message element -> Payload inner XML


def answer_envelope(request: etree._Element, payload: str) -> bytes:
    header = request.find("lk:MessageHeader", NS)
    assert header is not None
    message_type = header.findtext("lk:MSGTypeID", namespaces=NS).replace("_R01", "_S01")  # type: ignore[union-attr]
    source = header.findtext("lk:SourceSystemID", namespaces=NS)
    destination = header.findtext("lk:DestinationSystemID", namespaces=NS)
    return f"""<soap:Envelope xmlns:soap="{SOAP}"><soap:Body><lk:{message_type} xmlns:lk="{LK}">
<lk:MessageHeader><lk:MSGID>{uuid.uuid4().hex}</lk:MSGID><lk:MSGTypeID>{message_type}</lk:MSGTypeID>
<lk:MSGMode>{header.findtext("lk:MSGMode", namespaces=NS)}</lk:MSGMode>
<lk:SourceSystemID>{destination}</lk:SourceSystemID><lk:DestinationSystemID>{source}</lk:DestinationSystemID>
<lk:PurposeCode>{header.findtext("lk:PurposeCode", namespaces=NS)}</lk:PurposeCode>
<lk:SendDateTime>{datetime.now(UTC).isoformat(timespec="seconds")}</lk:SendDateTime>
<lk:RelatesToMSGID>{header.findtext("lk:MSGID", namespaces=NS)}</lk:RelatesToMSGID>
</lk:MessageHeader><lk:MessageBody><lk:Payload>{payload}</lk:Payload></lk:MessageBody>
</lk:{message_type}></soap:Body></soap:Envelope>""".encode()


def zei_answer(request: etree._Element) -> str:
    atena = request.findtext(".//lk:Payload/lk:AtenaNo", namespaces=NS)
    year = request.findtext(".//lk:Payload/lk:KazeiNendo", namespaces=NS)
    return (
        f"<lk:ShokaiKekkaCode>0</lk:ShokaiKekkaCode><lk:AtenaNo>{atena}</lk:AtenaNo>"
        f"<lk:KazeiNendo>{year}</lk:KazeiNendo><lk:KazeiKubunCode>1</lk:KazeiKubunCode>"
        "<lk:SoshotokuKingaku>4200000</lk:SoshotokuKingaku><lk:ShotokuwariGaku>210000</lk:ShotokuwariGaku>"
        "<lk:FuyoNinzu>2</lk:FuyoNinzu>"
    )


@dataclass
class TestUnit:
    """A unit that answers queries with ``answer`` and keeps every message it received."""

    answer: Answer | None = None
    raw_answer: Callable[[etree._Element], bytes] | None = None  # the whole answer envelope, for odd units
    delay: float = 0.0
    status_code: int = 200
    received: list[etree._Element] = field(default_factory=list)

    __test__ = False  # not a pytest class

    async def handle(self, request: Request) -> Response:
        root = etree.fromstring(await request.body())
        message = root.find("soap:Body/*", NS)
        assert message is not None
        self.received.append(message)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.status_code != 200:
            return Response("unit failure", status_code=self.status_code)
        if self.raw_answer is not None:
            return Response(self.raw_answer(message), media_type="text/xml")
        payload = self.answer(message) if self.answer else ""
        return Response(answer_envelope(message, payload), media_type="text/xml")

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/linkage/messages", self.handle, methods=["POST"])])

    def header(self, index: int, name: str) -> str | None:
        return self.received[index].findtext(f"lk:MessageHeader/lk:{name}", namespaces=NS)
