"""The console's 配送 page: the delivery queue as operators watch it (what waits for each subscriber,
since when), the dead letters with their last error, and the two things the command line does with
them (``platform-hub deliveries retry`` / ``replay``): a dead letter retried, a delivered
notification sent again — each with the operator's reason, in the operations record under the
command's own action (``deliveries.retry``, ``deliveries.replay``).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from platform_hub.console.pages import PREFIX, page
from platform_hub.console.signing import CsrfField, SignedIn, check_csrf, may_open
from platform_hub.kit.database import unit_of_work
from platform_hub.linkage import delivery_queue
from platform_hub.models import DeliveryStatus
from platform_hub.protocol.errors import AlreadyExists, HubError

router = APIRouter(prefix=PREFIX, include_in_schema=False)
Operating = Annotated[SignedIn, may_open("deliveries")]
LISTED = 50  # dead letters and delivered notifications shown, newest first
REASON_LENGTH = 500
DONE = {
    "retry": "配送不能の通知を配送待ちに戻しました",
    "replay": "配送済みの通知をもう一度配送待ちにしました",
}
ACTIONS = {"retry": "deliveries.retry", "replay": "deliveries.replay"}
WANTED = {"retry": DeliveryStatus.DEAD, "replay": DeliveryStatus.DELIVERED}


def duration(age: dt.timedelta | None) -> str:
    """An age as people read it: 3日4時間, 2時間5分, 40秒."""
    if age is None:
        return ""
    seconds = int(age.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}日{hours}時間"
    if hours:
        return f"{hours}時間{minutes}分"
    return f"{minutes}分{seconds}秒" if minutes else f"{seconds}秒"


@router.get("/deliveries")
async def deliveries(request: Request, person: Operating) -> Response:
    done = request.query_params.get("done")
    return await _page(person, notice=DONE.get(done or ""))


async def _page(
    person: SignedIn, *, notice: str | None = None, error: str | None = None, status_code: int = 200
) -> Response:
    async with unit_of_work(person.hub.sessions) as session:
        state = await delivery_queue.queue_state(session, limit=LISTED)
        await person.record(session, "deliveries.list", detail=f"{state.dead_count} dead letters")
    context: dict[str, Any] = {
        "queue": state,
        "ages": {queue.unit: duration(queue.oldest_age(state.at)) for queue in state.subscribers},
        "oldest": duration(state.oldest_age),
        "notice": notice,
        "error": error,
        "reason_length": REASON_LENGTH,
    }
    return page("deliveries.html", person.context(**context), status_code=status_code)


@router.post("/deliveries/{delivery_id}/retry")
async def retry(
    delivery_id: int,
    person: Operating,
    csrf: CsrfField = None,
    reason: Annotated[str, Form(max_length=REASON_LENGTH)] = "",
) -> Response:
    """A dead letter back in the queue, with a fresh set of attempts (the reason is optional)."""
    return await _enqueue_again(person, "retry", delivery_id, csrf, reason.strip(), reason_needed=False)


@router.post("/deliveries/{delivery_id}/replay")
async def replay(
    delivery_id: int,
    person: Operating,
    csrf: CsrfField = None,
    reason: Annotated[str, Form(max_length=REASON_LENGTH)] = "",
) -> Response:
    """A delivered notification sent again (a subscriber lost it): only with a reason."""
    return await _enqueue_again(person, "replay", delivery_id, csrf, reason.strip(), reason_needed=True)


async def _enqueue_again(
    person: SignedIn, what: str, delivery_id: int, csrf: str | None, reason: str, *, reason_needed: bool
) -> Response:
    action = ACTIONS[what]
    await check_csrf(person, csrf, action)
    if reason_needed and not reason:
        said = "もう一度配送する理由を入れてください"
        await person.refuse(action, said, 400, detail=f"delivery {delivery_id}: no reason given")
        return await _page(person, error=said, status_code=400)
    try:
        async with unit_of_work(person.hub.sessions) as session:
            again = await delivery_queue.enqueue_again(
                session, statuses=[WANTED[what]], ids=[delivery_id], reception=None, unit=None
            )
            if not again:  # the latest of its message and subscriber is a later one: queued already
                raise AlreadyExists(f"delivery {delivery_id} was queued again already")
            await person.record(
                session,
                action,
                detail=f"{len(again)} queued again" + (f": {reason}" if reason else ""),
                parameters={"ids": str(delivery_id), "reason": reason or None},
            )
    except HubError as error:
        said = f"配送 {delivery_id} はもう一度配送できません（{error.message}）"
        await person.refuse(action, said, 409, detail=f"{error.code}: {error.message}")
        return await _page(person, error=said, status_code=409)
    return RedirectResponse(f"{PREFIX}/deliveries?done={what}", status_code=303)
