"""Counters that only go up, and their one writer."""

from __future__ import annotations

from sqlalchemy import BigInteger, String, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from platform_hub.models.base import Base


class RegistryCounter(Base):
    """Counters that only go up: integrated numbers (never reused), the configuration's generation, the
    sealer's rounds."""

    __tablename__ = "registry_counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


async def advance(session: AsyncSession, name: str, by: int = 1) -> int:
    """Add ``by`` to the counter and return its new value, in the caller's transaction (the row lock
    serialises writers)."""
    result = await session.execute(
        update(RegistryCounter)
        .where(RegistryCounter.name == name)
        .values(value=RegistryCounter.value + by)
        .returning(RegistryCounter.value)
    )
    value = result.scalar_one_or_none()
    if value is None:  # the migrations seed the rows; a bare schema may lack one
        session.add(RegistryCounter(name=name, value=by))
        await session.flush()
        value = by
    return value
