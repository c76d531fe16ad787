"""The shared SQLite plumbing: lazy connection on its own thread, write transactions, and
several workers opening one new file at once (switching to WAL used to fail as "locked")."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.stores.sqlite_executor import SQLiteExecutor


def schema(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY)")


def insert(key: str) -> object:
    return lambda conn: conn.execute("INSERT OR IGNORE INTO t VALUES (?)", (key,)).rowcount


async def test_workers_opening_a_new_file_at_once(tmp_path: Path) -> None:
    for attempt in range(15):
        path = tmp_path / f"new-{attempt}.db"
        stores = [SQLiteExecutor(path, schema) for _ in range(3)]
        counts = await asyncio.gather(*(s.write(insert("same")) for s in stores))  # type: ignore[arg-type]
        assert sorted(counts) == [0, 0, 1]  # one insert won, under SQLite's write lock
        mode = await stores[0].run(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0])
        assert mode == "wal"
        for store in stores:
            await store.close()


async def test_closed_store_refuses_calls() -> None:
    store = SQLiteExecutor(":memory:", schema)
    assert await store.write(insert("a")) == 1  # type: ignore[arg-type]
    await store.close()
    with pytest.raises(RuntimeError):
        await store.run(lambda c: None)
