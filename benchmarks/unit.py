"""A business unit in its own process for the benchmarks: answers 地方税関係情報照会, takes 住民異動
and batches, and tells how many messages (and batch records) it has received (``GET /count``).
With ``--noop`` it answers every request 200 at once and reads nothing: what the load generator
manages against it is the most any path can show on this machine.

python -m benchmarks.unit --port 8102 [--noop]
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from tests.helpers import NS
from tests.units import TestUnit, zei_answer


async def noop(scope: Scope, receive: Receive, send: Send) -> None:
    """The plainest ASGI answer: the body is drained, then 200 with nothing in it."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--noop", action="store_true", help="answer 200 to everything, at once")
    args = parser.parse_args()
    port = args.port
    if args.noop:
        uvicorn.run(noop, host="127.0.0.1", port=port, log_level="warning")
        return
    unit = TestUnit(answer=zei_answer)
    app = unit.app()
    total, records = 0, 0

    async def count(_: Request) -> JSONResponse:
        nonlocal total, records
        total += len(unit.received)
        records += sum(len(message.findall(".//lk:Shotoku", NS)) for message in unit.received)
        unit.received.clear()  # memory stays flat over a long run
        return JSONResponse({"received": total, "records": records})

    app.router.routes.append(Route("/count", count))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
