"""The demo city's four mock units by name, how to serve one, and how to seed the hub's registry.

A demo (or a test) starts each unit — ``platform-hub mock-unit NAME --hub URL --port N`` or
``serve(name, options)`` — then calls ``seed_city({"juki": url, "zeimu": url, …})``: 住民基本台帳
registers every resident in the registry first, then the other units link their own 宛名番号.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import httpx
import uvicorn

from platform_hub_demo.common import MockOptions, MockUnit
from platform_hub_demo.jidou_teate import JidouTeate
from platform_hub_demo.juki import Juki
from platform_hub_demo.shugaku_enjo import ShugakuEnjo
from platform_hub_demo.zeimu import Zeimu

MOCK_UNITS: dict[str, type[MockUnit]] = {
    "juki": Juki,
    "zeimu": Zeimu,
    "jidou-teate": JidouTeate,
    "shugaku-enjo": ShugakuEnjo,
}
FIRST = "juki"  # the registry learns the residents from 住民基本台帳 before anyone links to them


def build(name: str, options: MockOptions) -> MockUnit:
    try:
        return MOCK_UNITS[name](options)
    except KeyError:
        raise ValueError(f"unknown mock unit {name!r}: one of {', '.join(MOCK_UNITS)}") from None


def serve(name: str, options: MockOptions, log_level: str = "warning") -> None:
    """Serve one mock unit until interrupted; it registers with the hub as it starts."""
    logging.basicConfig(level=log_level.upper(), format=f"%(asctime)s {name} %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per hub call drowns the unit's own
    app = build(name, options).app()
    uvicorn.run(app, host=options.host, port=options.port, log_level=log_level)


async def seed_city(urls: Mapping[str, str]) -> dict[str, Any]:
    """Seed the registry through running units (``POST /seed`` each): 住民基本台帳 first, then the
    others at once. Returns each unit's counts."""
    async with httpx.AsyncClient(timeout=600.0) as http:  # a big city takes a while

        async def seed(name: str) -> Any:
            response = await http.post(f"{urls[name].rstrip('/')}/seed")
            response.raise_for_status()
            return response.json()

        seeded: dict[str, Any] = {}
        if FIRST in urls:
            seeded[FIRST] = await seed(FIRST)
        others = [name for name in urls if name != FIRST]
        seeded.update(zip(others, await asyncio.gather(*(seed(name) for name in others)), strict=True))
        return seeded
