from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.models import Unit, UnitInterface


async def get_unit(session: AsyncSession, code: str) -> Unit | None:
    return await session.get(Unit, code)


async def list_units(session: AsyncSession) -> Sequence[Unit]:
    return (await session.scalars(select(Unit).order_by(Unit.code))).all()


async def units_relating(session: AsyncSession, interface_id: str, relation: str) -> Sequence[Unit]:
    query = (
        select(Unit)
        .join(UnitInterface)
        .where(UnitInterface.interface_id == interface_id, UnitInterface.relation == relation)
        .order_by(Unit.code)
    )
    return (await session.scalars(query)).all()
