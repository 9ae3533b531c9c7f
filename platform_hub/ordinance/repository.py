"""All queries of the ordinance domain."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from platform_hub.models import OrdinanceVersion


async def by_version(session: AsyncSession, version: str) -> OrdinanceVersion | None:
    return (
        await session.scalars(select(OrdinanceVersion).where(OrdinanceVersion.version == version))
    ).first()


async def in_force(
    session: AsyncSession, on: dt.date, *, with_rules: bool = False
) -> OrdinanceVersion | None:
    """The version in force on a day: the one that took effect last, on or before it (what
    ``GET /ordinance/rules`` shows; decisions are ``service.decide``'s)."""
    query = (
        select(OrdinanceVersion)
        .where(OrdinanceVersion.effective_on <= on)
        .order_by(OrdinanceVersion.effective_on.desc(), OrdinanceVersion.id.desc())
        .limit(1)
    )
    if with_rules:
        query = query.options(selectinload(OrdinanceVersion.rules))
    return (await session.scalars(query)).first()


async def all_versions(session: AsyncSession) -> Sequence[OrdinanceVersion]:
    query = select(OrdinanceVersion).options(selectinload(OrdinanceVersion.rules))
    return (await session.scalars(query.order_by(OrdinanceVersion.effective_on))).all()
