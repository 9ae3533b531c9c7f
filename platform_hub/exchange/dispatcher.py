"""The background dispatcher: leases due deliveries from the database queue and delivers them.

Each delivery runs as a task of its own and the dispatcher leases more as soon as it has room, so a
subscriber that takes the connection and never answers holds back its own deliveries until their
timeout, never anyone else's. What is under way is bounded per hub process: in all
(``delivery_concurrency``) and per subscriber (``delivery_concurrency_per_unit``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from datetime import timedelta

import structlog

from platform_hub.exchange import delivery as deliverer
from platform_hub.kit.clock import utcnow
from platform_hub.kit.database import unit_of_work
from platform_hub.linkage import repository
from platform_hub.linkage.runtime import LinkageRuntime
from platform_hub.models import Delivery

log = structlog.get_logger()
GATHER_SECONDS = 0.002


class UnderWay:
    """The deliveries this dispatcher has started and not yet finished, by subscriber. A finished one
    wakes the dispatcher: its subscriber has room again, and the person's next notification is due."""

    def __init__(self, state: LinkageRuntime) -> None:
        self.state = state
        self.tasks: dict[asyncio.Task[None], str] = {}

    def room(self) -> int:
        return self.state.settings.delivery_concurrency - len(self.tasks)

    def by_subscriber(self) -> Counter[str]:
        return Counter(self.tasks.values())

    def start(self, delivery: Delivery, attempt: int) -> None:
        task = asyncio.create_task(
            deliverer.deliver(self.state, delivery, attempt), name=f"delivery {delivery.id}"
        )
        self.tasks[task] = delivery.subscriber_unit
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        del self.tasks[task]
        self.state.deliveries_waiting.set()
        if not task.cancelled() and (error := task.exception()) is not None:
            # Not even its retry could be scheduled (the database away): its lease runs out instead.
            log.error("delivery failed and was not rescheduled", task=task.get_name(), error=repr(error))

    async def cancel(self) -> None:
        """Stop every delivery under way and wait until each has: none records anything afterwards,
        and a cut-off one is due again when its lease runs out."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def dispatch_once(state: LinkageRuntime, under_way: UnderWay) -> int:
    """Lease what is due and fits the room left, and start delivering it; returns how many started."""
    room = under_way.room()
    if room <= 0:
        return 0
    now = utcnow()
    lease = now + timedelta(seconds=state.settings.delivery_timeout_seconds * 2 + 5)
    async with unit_of_work(state.sessions) as session:
        claimed = await repository.claim_due_deliveries(
            session,
            now,
            lease,
            room,
            per_subscriber=state.settings.delivery_concurrency_per_unit,
            busy=under_way.by_subscriber(),
        )
        leased = await repository.deliveries_by_id(session, [delivery_id for delivery_id, _ in claimed])
    for delivery_id, attempt in claimed:
        under_way.start(leased[delivery_id], attempt)
    return len(claimed)


async def run(state: LinkageRuntime) -> None:
    """Loop until cancelled; lease again on a new notification, a finished delivery or the poll."""
    under_way = UnderWay(state)
    try:
        while True:
            state.deliveries_waiting.clear()  # before leasing, so a wake-up meanwhile is not lost
            try:
                await dispatch_once(state, under_way)
            except Exception:
                # The database may be away for a while; keep the loop alive and try again.
                log.exception("dispatcher round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state.deliveries_waiting.wait(), state.settings.delivery_poll_seconds)
                # Wake-ups come in bursts (notifications accepted, deliveries finished): one round a
                # few milliseconds on leases what they all made due, instead of a round for each.
                await asyncio.sleep(GATHER_SECONDS)
    finally:
        await under_way.cancel()
