"""SQLite's writers of one process take turns (kit/database): nobody waits on a turn never given back,
and readers never wait for one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from platform_hub.kit.database import create_engine, create_sessionmaker, unit_of_work


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/turns.db")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        await connection.execute(text("INSERT INTO counter VALUES (0)"))
    yield create_sessionmaker(engine)
    await engine.dispose()


async def _add_one(sessions: async_sessionmaker[AsyncSession], fail: bool = False) -> None:
    async with unit_of_work(sessions) as session:
        await session.execute(text("UPDATE counter SET n = n + 1"))
        await asyncio.sleep(0.01)  # hold the turn while the others queue
        if fail:
            raise RuntimeError("the work failed after its first write")


async def test_writers_take_turns_and_a_failed_one_gives_its_turn_back(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    outcomes = await asyncio.wait_for(
        asyncio.gather(*(_add_one(sessions, fail=n % 3 == 0) for n in range(30)), return_exceptions=True),
        timeout=20,  # a turn not given back would hold every later writer for SQLite's 30 s
    )
    failed = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    assert len(failed) == 10 and all(isinstance(f, RuntimeError) for f in failed)
    async with sessions() as session:
        assert await session.scalar(text("SELECT n FROM counter")) == 20  # the failed ones rolled back


async def test_a_reader_does_not_wait_for_a_writer(sessions: async_sessionmaker[AsyncSession]) -> None:
    writing, reread = asyncio.Event(), asyncio.Event()

    async def writer() -> None:
        async with unit_of_work(sessions) as session:
            await session.execute(text("UPDATE counter SET n = 41"))
            writing.set()
            await asyncio.wait_for(reread.wait(), timeout=10)  # the turn is held until the reader is done

    async def reader() -> int | None:
        await writing.wait()
        async with sessions() as session:
            value = await session.scalar(text("SELECT n FROM counter"))
        reread.set()
        return value

    _, seen = await asyncio.wait_for(asyncio.gather(writer(), reader()), timeout=15)
    assert seen == 0  # the committed value, read beside the writer (WAL), not after it
