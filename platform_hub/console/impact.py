"""The console's 条例改正の影響 page: the My Number office uploads a draft version of the ordinance (or
pastes it), names a past period, and reads what the draft would have changed — the replay
``POST /ordinance/impact`` answers (``audit.impact``), in Japanese. The draft is neither stored nor in
force. Each replay, and each refusal, is in the operations record as ``ordinance.impact``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import Response

from platform_hub.audit.impact import ordinance_impact
from platform_hub.console.pages import PREFIX, day_of, page
from platform_hub.console.signing import CsrfField, SignedIn, check_csrf, may_open
from platform_hub.kit.database import unit_of_work
from platform_hub.models import RuleKind
from platform_hub.ordinance.impact import ChangeKind, recorded_detail
from platform_hub.ordinance.schemas import OrdinanceIn
from platform_hub.ordinance.service import parse_ordinance
from platform_hub.protocol.errors import SchemaViolation
from platform_hub.units import repository as units

router = APIRouter(prefix=PREFIX, include_in_schema=False)
Office = Annotated[SignedIn, may_open("impact")]
ACTION = "ordinance.impact"
MAX_DETAILS = 20  # of a draft's problems, shown on the page

CHANGES = {kind.value: kind.ja for kind in ChangeKind}
RULE_CHANGES = {"added": "追加", "removed": "削除", "changed": "改正"}
KINDS = {kind.value: kind.ja for kind in RuleKind}


@router.get("/impact")
async def impact_form(person: Office) -> Response:
    return page("impact.html", person.context(**_context(person, {})))


@router.post("/impact")
async def impact(
    person: Office,
    csrf: CsrfField = None,
    start: Annotated[str, Form(max_length=10)] = "",
    end: Annotated[str, Form(max_length=10)] = "",
    text: Annotated[str, Form()] = "",
    draft: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Replay the draft — the file if one was chosen, else the text — over the period."""
    await check_csrf(person, csrf, ACTION)
    asked = {"start": start.strip(), "end": end.strip(), "text": text}
    first, last = day_of(asked["start"]), day_of(asked["end"])
    source = (await draft.read()) if draft is not None and draft.filename else text.encode()
    problems: list[str] = []
    if first is None or last is None:
        problems.append("期間（から・まで）を YYYY-MM-DD で入れてください")
    elif last < first:
        problems.append("期間の「まで」が「から」より前です")
    if not source.strip():
        problems.append("改正案のファイルを選ぶか、内容を貼り付けてください")
    parsed: OrdinanceIn | None = None
    if not problems:
        try:
            parsed = parse_ordinance(source, person.hub.catalog)
        except SchemaViolation as problem:
            problems.append(f"改正案を読めません（{problem.code}）: {problem.message}")
            problems += problem.details[:MAX_DETAILS]
    if problems or parsed is None or first is None or last is None:
        await person.refuse(ACTION, "、".join(problems), 400)
        return page(
            "impact.html", person.context(**_context(person, asked, problems=problems)), status_code=400
        )
    async with unit_of_work(person.hub.sessions) as session:
        report = await ordinance_impact(session, person.hub.catalog, parsed, first, last)
        names = {unit.code: unit.name for unit in await units.list_units(session)}
        await person.record(
            session,
            ACTION,
            detail=recorded_detail(report),
            parameters={"start": first.isoformat(), "end": last.isoformat(), "version": parsed.version},
        )
    return page("impact.html", person.context(**_context(person, asked, report=report, unit_names=names)))


def _context(person: SignedIn, asked: dict[str, str], **more: Any) -> dict[str, Any]:
    return {
        "asked": asked,
        "purposes": person.hub.catalog.purposes,
        # The form is capped as every form is (the request guard): a larger draft goes by API or CLI.
        "form_kib": person.hub.settings.max_form_bytes // 1024,
        "problems": [],
        "report": None,
        "unit_names": {},
        "changes": CHANGES,
        "rule_changes": RULE_CHANGES,
        "kinds": KINDS,
        **more,
    }
