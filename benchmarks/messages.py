"""The bodies the load generator sends, as templates with ``@MSGID@`` and ``@ATENA@`` that
``benchmarks/wrk/linkage.lua`` fills in for every request."""

from __future__ import annotations

MSGID, ATENA = "@MSGID@", "@ATENA@"

QUERY = f"""<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
<lk:IF_ZEI_0001_R01 xmlns:lk="urn:platform-hub:linkage:1"><lk:MessageHeader><lk:MSGID>{MSGID}</lk:MSGID>
<lk:MSGTypeID>IF_ZEI_0001_R01</lk:MSGTypeID><lk:MSGMode>0</lk:MSGMode><lk:SourceSystemID>011</lk:SourceSystemID>
<lk:PurposeCode>JDT-001</lk:PurposeCode><lk:SendDateTime>2026-11-26T10:00:00+09:00</lk:SendDateTime>
</lk:MessageHeader><lk:MessageBody><lk:RequestSourceUnitCode>KODOMO-1</lk:RequestSourceUnitCode>
<lk:RequestSourceUserID>u0123</lk:RequestSourceUserID><lk:Payload><lk:AtenaNo>{ATENA}</lk:AtenaNo>
<lk:KazeiNendo>2026</lk:KazeiNendo></lk:Payload></lk:MessageBody></lk:IF_ZEI_0001_R01></soap:Body></soap:Envelope>"""


def notification() -> bytes:
    """The suite's own 住民異動 (a 転居 from 001, ``tests.helpers.ido_notification``) as a template."""
    from tests.helpers import ido_notification

    body = ido_notification(ATENA, msgid=MSGID)
    assert body.count(MSGID.encode()) == 1 and body.count(ATENA.encode()) == 1, body
    return body
