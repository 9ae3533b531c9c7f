"""A unit's own SQLite database: its hub credentials, the MSGIDs it has handled, and the unit's
business tables beside them (one file per unit).

Transactions are synchronous blocks (``with store.transaction()``): nothing awaits inside one, so
coroutines of the same unit never interleave their writes.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from platform_hub.kit.database import create_database_file
from platform_hub_sdk.auth import Credentials

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sdk_credentials (
    unit_code TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    client_secret TEXT NOT NULL,
    registered_at REAL NOT NULL
);
-- Every message received, by sender and MSGID: a repeated delivery is answered from here.
CREATE TABLE IF NOT EXISTS sdk_inbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    msgid TEXT NOT NULL,
    interface_id TEXT NOT NULL,
    answer BLOB,
    received_at REAL NOT NULL,
    UNIQUE (source, msgid)
);
"""
# A claim whose handler never finished (the process died) is taken anew after this long.
STALE_CLAIM_SECONDS = 120.0


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming a MSGID: new (handle it), a replay of the first answer, or busy."""

    replay: bytes | None = None
    busy: bool = False


class UnitStore:
    def __init__(self, path: Path | str) -> None:
        create_database_file(path)  # it holds the unit's hub credentials: for its owner's eyes only
        # The server thread uses what the main thread opened; one event loop at a time uses it.
        self.connection = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.connection.row_factory = sqlite3.Row
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA synchronous=NORMAL")
        self.connection.execute("PRAGMA foreign_keys=ON")
        self.connection.executescript(_SCHEMA)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            yield self.connection
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    def rows(self, sql: str, parameters: tuple[object, ...] | dict[str, object] = ()) -> list[sqlite3.Row]:
        return self.connection.execute(sql, parameters).fetchall()

    def row(self, sql: str, parameters: tuple[object, ...] | dict[str, object] = ()) -> sqlite3.Row | None:
        found: sqlite3.Row | None = self.connection.execute(sql, parameters).fetchone()
        return found

    def close(self) -> None:
        self.connection.close()

    # --- credentials ---------------------------------------------------------------------------

    def credentials(self, unit_code: str) -> Credentials | None:
        found = self.row(
            "SELECT client_id, client_secret FROM sdk_credentials WHERE unit_code = ?", (unit_code,)
        )
        return Credentials(found["client_id"], found["client_secret"]) if found else None

    def save_credentials(self, unit_code: str, credentials: Credentials) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO sdk_credentials VALUES (?, ?, ?, ?)",
                (unit_code, credentials.client_id, credentials.client_secret, time.time()),
            )

    def forget_credentials(self, unit_code: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM sdk_credentials WHERE unit_code = ?", (unit_code,))

    # --- idempotent receiving ------------------------------------------------------------------

    def claim(self, source: str, msgid: str, interface_id: str) -> Claim:
        """Take a MSGID for handling, unless it was handled (replay) or is being handled (busy).

        The MSGID alone decides: the hub has checked at intake that a resent MSGID carries the same
        body, and a redelivery may legitimately differ (a newcomer's 宛名番号, 未採番 the first time,
        is ours by the next attempt).
        """
        now = time.time()
        with self.transaction() as db:
            earlier = db.execute(
                "SELECT answer, received_at FROM sdk_inbox WHERE source = ? AND msgid = ?", (source, msgid)
            ).fetchone()
            if earlier is None:
                db.execute(
                    "INSERT INTO sdk_inbox (source, msgid, interface_id, received_at) VALUES (?, ?, ?, ?)",
                    (source, msgid, interface_id, now),
                )
                return Claim()
            if earlier["answer"] is not None:
                return Claim(replay=bytes(earlier["answer"]))
            if now - earlier["received_at"] < STALE_CLAIM_SECONDS:
                return Claim(busy=True)
            db.execute(
                "UPDATE sdk_inbox SET received_at = ? WHERE source = ? AND msgid = ?", (now, source, msgid)
            )
            return Claim()

    def finish(self, source: str, msgid: str, answer: bytes) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE sdk_inbox SET answer = ? WHERE source = ? AND msgid = ?", (answer, source, msgid)
            )

    def release(self, source: str, msgid: str) -> None:
        """Forget a claim whose handler failed: the hub's retry is handled afresh."""
        with self.transaction() as db:
            db.execute(
                "DELETE FROM sdk_inbox WHERE source = ? AND msgid = ? AND answer IS NULL", (source, msgid)
            )
