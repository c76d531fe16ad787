"""A tracker store in one SQLite file, safe for several processes sharing it.

Every store owns one connection that lives on its own single-thread executor
(`bot.stores.sqlite_executor`), so no SQLite call ever runs on the event loop and calls of one
store are serialised. Writes run in `BEGIN
IMMEDIATE` transactions: the version check and the insert happen under SQLite's write lock, which
makes optimistic concurrency hold across processes too. WAL mode lets readers proceed while one
process writes.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from bot.stores.base import (
    ConcurrencyConflict,
    ConversationInfo,
    ConversationMeta,
    EncodedEvent,
    Event,
    StoredTracker,
    StoreError,
    TrackerStore,
    check_page,
    closed_error,
    decode_event,
    encode_events,
    new_epoch,
)
from bot.stores.sqlite_executor import SQLiteExecutor, read_transaction, write_transaction

T = TypeVar("T")

# Each entry upgrades the schema by one version; append new entries, never edit old ones.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE zhike_conversations (
            conversation_id TEXT PRIMARY KEY,
            version INTEGER NOT NULL,
            sender_id TEXT,
            channel TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )""",
        """CREATE TABLE zhike_events (
            conversation_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            type TEXT NOT NULL,
            timestamp REAL NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (conversation_id, seq)
        )""",
        "CREATE INDEX zhike_events_timestamp ON zhike_events (timestamp)",
        "CREATE INDEX zhike_conversations_updated ON zhike_conversations (updated_at)",
    ),
    # 2: an epoch per conversation, changed when its events are rewritten (see load_tail)
    ("ALTER TABLE zhike_conversations ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0",),
)
SCHEMA_VERSION = len(MIGRATIONS)

_UPSERT = """
INSERT INTO zhike_conversations
    (conversation_id, version, sender_id, channel, created_at, updated_at, epoch)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (conversation_id) DO UPDATE SET
    version = excluded.version,
    sender_id = COALESCE(excluded.sender_id, sender_id),
    channel = COALESCE(excluded.channel, channel),
    updated_at = excluded.updated_at
"""
_INSERT_EVENT = (
    "INSERT INTO zhike_events (conversation_id, seq, type, timestamp, data) VALUES (?, ?, ?, ?, ?)"
)


def _migrate(conn: sqlite3.Connection) -> None:
    with write_transaction(conn):
        conn.execute("CREATE TABLE IF NOT EXISTS zhike_schema (version INTEGER NOT NULL)")
        row = conn.execute("SELECT MAX(version) FROM zhike_schema").fetchone()
        current = int(row[0] or 0)
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"数据库结构版本 {current} 高于当前程序支持的 {SCHEMA_VERSION}，请升级知客。",
                f"database schema version {current} is newer than supported "
                f"({SCHEMA_VERSION}); upgrade Zhike.",
            )
        for statements in MIGRATIONS[current:]:
            for statement in statements:
                conn.execute(statement)
        if current < SCHEMA_VERSION:
            conn.execute("DELETE FROM zhike_schema")
            conn.execute("INSERT INTO zhike_schema (version) VALUES (?)", (SCHEMA_VERSION,))


class SQLiteTrackerStore(TrackerStore):
    def __init__(self, path: str | Path, busy_timeout: float = 10.0) -> None:
        """`path` may be ":memory:" (one private database, gone on close)."""
        self.path = str(path)
        self.busy_timeout = busy_timeout
        self._db = SQLiteExecutor(path, _migrate, "zhike-sqlite", busy_timeout, closed_error)

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._db.run(fn)

    # -- synchronous bodies (executor thread) -----------------------------------------------

    @staticmethod
    def _version(conn: sqlite3.Connection, conversation_id: str) -> int:
        row = conn.execute(
            "SELECT version FROM zhike_conversations WHERE conversation_id = ?", (conversation_id,)
        ).fetchone()
        return int(row[0]) if row else 0

    @classmethod
    def _check(cls, conn: sqlite3.Connection, conversation_id: str, expected: int | None) -> int:
        actual = cls._version(conn, conversation_id)
        if expected is not None and actual != expected:
            raise ConcurrencyConflict(conversation_id, expected, actual)
        return actual

    @staticmethod
    def _write(
        conn: sqlite3.Connection,
        conversation_id: str,
        encoded: list[EncodedEvent],
        first_seq: int,
        meta: ConversationMeta | None,
    ) -> int:
        rows = (
            (conversation_id, first_seq + i, item.type, item.timestamp, item.data)
            for i, item in enumerate(encoded)
        )
        conn.executemany(_INSERT_EVENT, rows)
        version = first_seq + len(encoded)
        meta = meta or ConversationMeta()
        now = time.time()
        row = (conversation_id, version, meta.sender_id, meta.channel, now, now, new_epoch())
        conn.execute(_UPSERT, row)
        return version

    # -- public API -------------------------------------------------------------------------

    async def load(self, conversation_id: str) -> StoredTracker | None:
        return await self.load_tail(conversation_id, 0, 0)

    async def load_tail(self, conversation_id: str, after: int, epoch: int) -> StoredTracker | None:
        def body(conn: sqlite3.Connection) -> StoredTracker | None:
            with read_transaction(conn):
                row = conn.execute(
                    "SELECT version, epoch FROM zhike_conversations WHERE conversation_id = ?",
                    (conversation_id,),
                ).fetchone()
                if row is None:
                    return None
                version, stored_epoch = int(row[0]), int(row[1])
                start = after if stored_epoch == epoch and 0 <= after <= version else 0
                rows = conn.execute(
                    "SELECT data FROM zhike_events WHERE conversation_id = ? AND seq >= ?"
                    " ORDER BY seq",
                    (conversation_id, start),
                ).fetchall()
            events = [decode_event(data) for (data,) in rows]
            return StoredTracker(conversation_id, events, version, start, stored_epoch)

        return await self._run(body)

    async def append(
        self,
        conversation_id: str,
        events: Sequence[Event],
        expected_version: int,
        meta: ConversationMeta | None = None,
    ) -> int:
        snapshot = list(events)

        def body(conn: sqlite3.Connection) -> int:
            encoded = encode_events(snapshot)
            with write_transaction(conn):
                actual = self._check(conn, conversation_id, expected_version)
                if not encoded:
                    return actual
                return self._write(conn, conversation_id, encoded, actual, meta)

        return await self._run(body)

    async def replace(
        self,
        conversation_id: str,
        events: Sequence[Event],
        meta: ConversationMeta | None = None,
        expected_version: int | None = None,
    ) -> int:
        snapshot = list(events)

        def body(conn: sqlite3.Connection) -> int:
            encoded = encode_events(snapshot)
            with write_transaction(conn):
                self._check(conn, conversation_id, expected_version)
                conn.execute(
                    "DELETE FROM zhike_events WHERE conversation_id = ?", (conversation_id,)
                )
                version = self._write(conn, conversation_id, encoded, 0, meta)
                conn.execute(
                    "UPDATE zhike_conversations SET epoch = ? WHERE conversation_id = ?",
                    (new_epoch(), conversation_id),
                )
                return version

        return await self._run(body)

    async def delete(self, conversation_id: str) -> None:
        def body(conn: sqlite3.Connection) -> None:
            with write_transaction(conn):
                for table in ("zhike_events", "zhike_conversations"):
                    conn.execute(
                        f"DELETE FROM {table} WHERE conversation_id = ?", (conversation_id,)
                    )

        await self._run(body)

    @staticmethod
    def _info(conn: sqlite3.Connection, conversation_id: str) -> ConversationInfo | None:
        row = conn.execute(
            "SELECT version, sender_id, channel, created_at, updated_at"
            " FROM zhike_conversations WHERE conversation_id = ?",
            (conversation_id,),
        ).fetchone()
        return ConversationInfo(conversation_id, *row) if row else None

    async def info(self, conversation_id: str) -> ConversationInfo | None:
        return await self._run(lambda conn: self._info(conn, conversation_id))

    async def conversation_ids(self, limit: int = 100, offset: int = 0) -> list[str]:
        check_page(limit, offset)

        def body(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "SELECT conversation_id FROM zhike_conversations"
                " ORDER BY conversation_id LIMIT ? OFFSET ?",
                (limit, offset),
            ).fetchall()
            return [str(row[0]) for row in rows]

        return await self._run(body)

    async def close(self) -> None:
        await self._db.close()
