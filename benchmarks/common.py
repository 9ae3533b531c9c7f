"""What the benchmarks share: a database of their own on PostgreSQL, and percentiles."""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from platform_hub.kit.migrations import upgrade

RESULTS = Path(__file__).parent / "results"


@contextmanager
def fresh_database(name: str, *, keep: bool = False) -> Iterator[str]:
    """A new migrated database on ``PLATFORM_HUB_BENCH_DATABASE_URL``'s server, dropped afterwards
    unless ``keep`` (then ``kept_database`` measures it again without writing it anew)."""
    admin = _admin()
    with admin.connect() as connection:
        connection.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        connection.execute(sa.text(f"CREATE DATABASE {name}"))
    url = _url(name)
    try:
        upgrade(url)
        yield url
    finally:
        if not keep:
            with admin.connect() as connection:
                connection.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def kept_database(name: str) -> str:
    """The URL of a database an earlier run kept (``--keep``)."""
    return _url(name)


def _admin_url() -> str:
    return os.environ.get(
        "PLATFORM_HUB_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )


def _admin() -> sa.Engine:
    return sa.create_engine(_admin_url(), isolation_level="AUTOCOMMIT")


def _url(name: str) -> str:
    return sa.make_url(_admin_url()).set(database=name).render_as_string(hide_password=False)


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50 and p99 in milliseconds; the p99 by nearest rank (of 20 samples, the slowest)."""
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(ordered[max(0, math.ceil(len(ordered) * 0.99) - 1)] * 1000, 3),
        "n": len(ordered),
    }
