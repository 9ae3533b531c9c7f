"""All queries of the ordinance domain."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.models import OrdinanceRule, OrdinanceVersion


async def by_version(session: AsyncSession, version: str) -> OrdinanceVersion | None:
    return (
        await session.scalars(select(OrdinanceVersion).where(OrdinanceVersion.version == version))
    ).first()


async def in_force(session: AsyncSession, on: dt.date) -> OrdinanceVersion | None:
    """The version in force on a day: the one that took effect last, on or before it."""
    query = (
        select(OrdinanceVersion)
        .where(OrdinanceVersion.effective_on <= on)
        .order_by(OrdinanceVersion.effective_on.desc(), OrdinanceVersion.id.desc())
        .limit(1)
    )
    return (await session.scalars(query)).first()


async def all_versions(session: AsyncSession) -> Sequence[OrdinanceVersion]:
    return (await session.scalars(select(OrdinanceVersion).order_by(OrdinanceVersion.effective_on))).all()


async def matching_rules(
    session: AsyncSession,
    version_id: int,
    receiving_organ: str,
    purposes: Sequence[str],
    category: str,
    holding_organ: str,
    holding_unit: str,
) -> Sequence[OrdinanceRule]:
    query = (
        select(OrdinanceRule)
        .where(
            OrdinanceRule.version_id == version_id,
            OrdinanceRule.receiving_organ == receiving_organ,
            OrdinanceRule.purpose_code.in_(list(purposes)),
            OrdinanceRule.category == category,
            OrdinanceRule.holding_organ == holding_organ,
            (OrdinanceRule.holding_unit.is_(None)) | (OrdinanceRule.holding_unit == holding_unit),
        )
        .order_by(OrdinanceRule.id)
    )
    return (await session.scalars(query)).all()
