"""All queries of the ordinance domain."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from platform_hub.models import OrdinanceRule, OrdinanceVersion


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


async def versions_with_rule_counts(session: AsyncSession) -> Sequence[tuple[OrdinanceVersion, int]]:
    """Every version, by effective day, with how many rules it has (the rules themselves not read)."""
    query = (
        select(OrdinanceVersion, func.count(OrdinanceRule.id))
        .outerjoin(OrdinanceRule, OrdinanceRule.version_id == OrdinanceVersion.id)
        .group_by(OrdinanceVersion.id)
        .order_by(OrdinanceVersion.effective_on, OrdinanceVersion.id)
    )
    return [(version, count) for version, count in await session.execute(query)]
