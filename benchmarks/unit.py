"""A business unit in its own process for the benchmarks: answers 地方税関係情報照会, takes 住民異動
and batches, and tells how many messages (and batch records) it has received (``GET /count``).

python -m benchmarks.unit --port 8102
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.helpers import NS
from tests.units import TestUnit, zei_answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
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
