"""The console's 記録の検証: when both records were last verified and what that found, a verification
started in the background (one at a time, whichever replica), its progress, and the signed
checkpoints to keep outside the hub.

Starting one is recorded as ``audit.verify`` (as ``GET /audit/verify`` is), reading the checkpoints as
``audit.checkpoints``; the progress the page polls is of a run already recorded, and is not.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.audit import runs, service, verification
from platform_hub.audit.ledgers import OPERATIONS
from platform_hub.audit.schemas import Checkpoints
from platform_hub.console.pages import PREFIX, city_time, page
from platform_hub.console.signing import CsrfField, SignedIn, check_csrf, may_open
from platform_hub.kit.database import unit_of_work
from platform_hub.models import OperationOutcome, VerificationRun, VerificationState

router = APIRouter(prefix=PREFIX, include_in_schema=False)
Verifying = Annotated[SignedIn, may_open("verification")]
ALREADY = "検証はすでに実行中です。終わるまでお待ちください"
NO_KEY = "マイナンバーの鍵ファイルがないため、検証を始められません"


@router.get("/verification")
async def verification_page(person: Verifying) -> Response:
    return await _page(person)


async def _page(person: SignedIn, *, notice: str | None = None, status_code: int = 200) -> Response:
    async with unit_of_work(person.hub.sessions) as session:
        current = await runs.running(session)
        last = await runs.latest(session)
        kept = await _checkpoints(person, session)
        await person.record(session, "audit.checkpoints", detail="記録の検証")
    context = {
        "current": current,
        "last": last,
        "states": {state.value: state.ja for state in VerificationState},
        "checkpoints": kept,
        "notice": notice,
    }
    return page("verification.html", person.context(**context), status_code=status_code)


async def _checkpoints(person: SignedIn, session: AsyncSession) -> Checkpoints:
    key = runs.signing_key(person.hub.settings)
    return Checkpoints(
        public_key_pem=key.public_pem if key else None,
        key_id=key.key_id if key else None,
        checkpoints=await service.checkpoints(session),
        operation_checkpoints=await service.checkpoints(session, OPERATIONS),
    )


@router.post("/verification")
async def start(person: Verifying, csrf: CsrfField = None) -> Response:
    """Start verifying both records in the background; the page then shows its progress."""
    await check_csrf(person, csrf, "audit.verify")
    hub = person.hub
    if hub.vault is None:
        raise await person.refuse("audit.verify", NO_KEY, 503)
    async with unit_of_work(hub.sessions) as session:
        run = await runs.begin(session, person.actor.client_id)
        if run is None:
            await person.record(session, "audit.verify", outcome=OperationOutcome.REFUSED, detail=ALREADY)
        else:
            await person.record(session, "audit.verify", detail=f"run {run.id}")
    if run is None:
        return await _page(person, notice=ALREADY, status_code=409)
    key = runs.signing_key(hub.settings)
    work = runs.carry_out(
        hub.sessions,
        run.id,
        key.public_pem if key else None,
        record_key=hub.vault.record_key,
        overdue=verification.checkpoints_overdue(hub.settings.checkpoint_interval_seconds),
    )
    hub.start(work, f"verification {run.id}")
    return RedirectResponse(f"{PREFIX}/verification", status_code=303)


@router.get("/verification/progress")
async def progress(person: Verifying) -> JSONResponse:
    """How far the running verification is (or what the last one said), for the page's script."""
    async with unit_of_work(person.hub.sessions) as session:
        run = await runs.running(session) or await runs.latest(session)
    return JSONResponse(_progress(run))


def _progress(run: VerificationRun | None) -> dict[str, object]:
    if run is None:
        return {"state": None}
    return {
        "id": run.id,
        "state": run.state.value,
        "state_ja": run.state.ja,
        "checked": run.entries_checked,
        "total": max(run.entries_total, run.entries_checked),
        "started_at": city_time(run.started_at),
        "finished_at": city_time(run.finished_at),
        "problems": (run.problems or "").splitlines(),
    }


@router.get("/verification/checkpoints.json")
async def checkpoints_json(person: Verifying) -> Response:
    """Both records' checkpoints and the public key, as ``GET /audit/checkpoints`` answers: the file
    ``platform-hub audit verify --checkpoint FILE`` checks the hub with, kept outside it."""
    async with unit_of_work(person.hub.sessions) as session:
        kept = await _checkpoints(person, session)
        await person.record(session, "audit.checkpoints")
    return Response(
        kept.model_dump_json(indent=2),
        media_type="application/json",
        headers={"Content-Disposition": 'attachment; filename="checkpoints.json"'},
    )
