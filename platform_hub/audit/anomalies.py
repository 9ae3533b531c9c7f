"""What in the operations record an operator should hear of: bursts of refused or failed operations
(failed sign-ins above all — ``console.signin`` and ``token.refuse`` refused), people at work at
night. ``/metrics`` gives the first to Prometheus; the daily report (``audit.daily``) lists them for a day."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.audit import repository
from platform_hub.kit.clock import utcnow

RECENT = dt.timedelta(minutes=15)
SIGN_IN_ACTIONS = ("console.signin", "token.refuse", "token.issue")
UNIT_ROLE = "unit"  # units' clients work at night by design: their traffic is no anomaly
# Night in the city, when nobody's work needs the records: from 22:00 to 06:00.
NIGHT_FROM, NIGHT_UNTIL = dt.time(22), dt.time(6)


async def recently_refused(session: AsyncSession, window: dt.timedelta = RECENT) -> dict[str, int]:
    """The operations refused or failed within the last ``window``, by action."""
    return await repository.operations_not_ok_by_action(session, utcnow() - window)


def at_night(moment: dt.time) -> bool:
    """Whether a time of day (in the city) is night."""
    return moment >= NIGHT_FROM or moment < NIGHT_UNTIL
