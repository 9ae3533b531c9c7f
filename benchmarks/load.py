"""A load generator in its own process: POSTs linkage queries (or 住民異動 notifications) with N
concurrent clients, round robin over the given 宛名番号, and prints JSON.

python -m benchmarks.load --url URL[,URL…] --token … --atena A[,B…] --count 2000 --concurrency 16
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


def message(kind: str, atena: str) -> bytes:
    msgid = uuid.uuid4().hex
    if kind == "notification":
        from tests.helpers import ido_notification  # the suite's own 住民異動 (a 転居)

        return ido_notification(atena, msgid=msgid)
    return QUERY.format(msgid=msgid, atena=atena).encode()


async def run(
    url: str, token: str, atenas: list[str], count: int, concurrency: int, kind: str = "query"
) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/xml; charset=utf-8"}
    latencies: list[float] = []
    failures = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)

    urls = url.split(",")  # several replicas: the clients are spread over them, as a load balancer would

    async def client(http: httpx.AsyncClient, url: str) -> None:
        nonlocal failures
        while not queue.empty():
            n = queue.get_nowait()
            body = message(kind, atenas[n % len(atenas)])
            started = time.perf_counter()
            try:
                response = await http.post(f"{url}/linkage/messages", content=body, headers=headers)
                failures += response.status_code != 200
            except httpx.TimeoutException:  # a failure to count, not the end of the run
                failures += 1
            latencies.append(time.perf_counter() - started)

    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=concurrency)) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http, urls[k % len(urls)]) for k in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"messages_per_s": round(count / elapsed, 1), "failures": failures, **percentiles(latencies)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("url", "token", "atena"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--kind", choices=["query", "notification"], default="query")
    args = parser.parse_args()
    atenas = args.atena.split(",")
    print(json.dumps(asyncio.run(run(args.url, args.token, atenas, args.count, args.concurrency, args.kind))))


if __name__ == "__main__":
    main()
