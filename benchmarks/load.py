"""A load generator in its own process: POSTs linkage queries with N concurrent clients, prints JSON.

python -m benchmarks.load --url http://127.0.0.1:8000 --token … --count 2000 --concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid

import httpx

from benchmarks.common import percentiles

QUERY = """<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
<lk:IF_ZEI_0001_R01 xmlns:lk="urn:platform-hub:linkage:1"><lk:MessageHeader><lk:MSGID>{msgid}</lk:MSGID>
<lk:MSGTypeID>IF_ZEI_0001_R01</lk:MSGTypeID><lk:MSGMode>0</lk:MSGMode><lk:SourceSystemID>011</lk:SourceSystemID>
<lk:PurposeCode>JDT-001</lk:PurposeCode><lk:SendDateTime>2026-11-26T10:00:00+09:00</lk:SendDateTime>
</lk:MessageHeader><lk:MessageBody><lk:RequestSourceUnitCode>KODOMO-1</lk:RequestSourceUnitCode>
<lk:RequestSourceUserID>u0123</lk:RequestSourceUserID><lk:Payload><lk:AtenaNo>{atena}</lk:AtenaNo>
<lk:KazeiNendo>2026</lk:KazeiNendo></lk:Payload></lk:MessageBody></lk:IF_ZEI_0001_R01></soap:Body></soap:Envelope>"""


async def run(url: str, token: str, atena: str, count: int, concurrency: int) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/xml; charset=utf-8"}
    latencies: list[float] = []
    failures = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal failures
        while not queue.empty():
            queue.get_nowait()
            body = QUERY.format(msgid=uuid.uuid4().hex, atena=atena).encode()
            started = time.perf_counter()
            response = await http.post(f"{url}/linkage/messages", content=body, headers=headers)
            latencies.append(time.perf_counter() - started)
            failures += response.status_code != 200

    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=concurrency)) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"messages_per_s": round(count / elapsed, 1), "failures": failures, **percentiles(latencies)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("url", "token", "atena"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.url, args.token, args.atena, args.count, args.concurrency))))


if __name__ == "__main__":
    main()
