"""The console's 業務ユニット page: the registered units with their heartbeats (how long since the last)
and their last traffic in the transfer record, and the hub's interface catalog — each interface's
items with their データ項目ID, type, length and whether required (and when). Read-only; each reading is
in the operations record (``unit.list``, ``interface.read``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response

from platform_hub.audit import service as audit
from platform_hub.console.deliveries import duration
from platform_hub.console.pages import PREFIX, page
from platform_hub.console.signing import Refused, SignedIn, may_open
from platform_hub.kit.clock import utcnow
from platform_hub.kit.database import unit_of_work
from platform_hub.units import heartbeats
from platform_hub.units import repository as units

router = APIRouter(prefix=PREFIX, include_in_schema=False)
Watching = Annotated[SignedIn, may_open("units")]
PATTERNS = {"query": "照会", "notification": "通知", "batch": "一括"}
MODES = {"production": "本番", "test": "テスト"}


@router.get("/units")
async def unit_list(person: Watching) -> Response:
    now = utcnow()
    async with unit_of_work(person.hub.sessions) as session:
        registered = list(await units.list_units(session))
        traffic = await audit.unit_traffic(session, [unit.code for unit in registered])
        await person.record(session, "unit.list", detail=f"{len(registered)} units")
    rows = [
        {
            "unit": unit,
            "heartbeat_age": duration(heartbeats.heartbeat_age(unit, now)),
            "traffic": traffic[unit.code],
        }
        for unit in registered
    ]
    context = {
        "units": rows,
        "interfaces": person.hub.catalog.specs(),
        "patterns": PATTERNS,
        "modes": MODES,
    }
    return page("units.html", person.context(**context))


@router.get("/units/interfaces/{interface_id}")
async def interface(interface_id: str, request: Request, person: Watching) -> Response:
    """One interface of the catalog, every item (groups' items nested), as ``GET /interfaces/{id}``."""
    asked = request.query_params.get("version", "1")
    version = int(asked) if asked.isascii() and asked.isdigit() and len(asked) <= 2 else 0
    compiled = person.hub.catalog.get(interface_id, version) if version else None
    if compiled is None:
        raise Refused("そのインターフェイスはカタログにありません", 404)
    async with unit_of_work(person.hub.sessions) as session:
        await person.record(
            session, "interface.read", parameters={"interface": interface_id, "version": version}
        )
    context = {
        "spec": compiled.spec,
        "versions": person.hub.catalog.versions(interface_id),
        "patterns": PATTERNS,
        "purposes": person.hub.catalog.purposes,
    }
    return page("interface.html", person.context(**context))
