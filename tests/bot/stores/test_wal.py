"""WAL checkpoints off the turn path: the stores' connections leave them to one background
thread, which copies a grown WAL back into the database file and stops when nothing is
watched."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from bot.stores import wal
from bot.stores.sqlite_executor import SQLiteExecutor

ROW = "x" * 1000


def fill(path: Path, rows: int) -> sqlite3.Connection:
    """Write ~`rows` KB through a connection tuned like the stores' (no own checkpoints);
    it stays open (closing the last connection would checkpoint by itself)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    wal.tune(conn)
    conn.execute("CREATE TABLE IF NOT EXISTS t (v TEXT)")
    for _ in range(rows // 100):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO t VALUES (?)", [(ROW,)] * 100)
        conn.execute("COMMIT")
    return conn


def until(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_tuned_connection_leaves_the_wal_to_the_checkpointer(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    conn = fill(path, 2000)  # 2 MB: past SQLite's default 1000-page checkpoint
    assert path.stat().st_size < 100_000, "the writer checkpointed by itself"
    assert wal.wal_bytes(str(path)) > 1_000_000
    conn.close()


def test_the_checkpointer_copies_a_grown_wal_back(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    writer = fill(path, 2000)
    keeper = wal.Checkpointer(every=0.02, threshold=100_000)
    keeper.watch(str(path))
    try:
        assert until(lambda: path.stat().st_size > 1_000_000), "no checkpoint happened"
    finally:
        keeper.unwatch(str(path))
    reader = sqlite3.connect(path)
    assert reader.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 2000
    reader.close()
    writer.close()


def test_a_small_wal_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    writer = fill(path, 100)
    keeper = wal.Checkpointer(every=0.02, threshold=1_000_000)
    keeper.watch(str(path))
    time.sleep(0.2)
    keeper.unwatch(str(path))
    assert path.stat().st_size < 100_000
    writer.close()


def test_the_thread_stops_when_nothing_is_watched_and_restarts(tmp_path: Path) -> None:
    keeper = wal.Checkpointer(every=0.02)
    keeper.watch(str(tmp_path / "a.db"))
    keeper.watch(str(tmp_path / "a.db"))
    first = keeper._thread
    assert first is not None and first.is_alive()
    keeper.unwatch(str(tmp_path / "a.db"))
    time.sleep(0.1)
    assert first.is_alive(), "still watched once"
    keeper.unwatch(str(tmp_path / "a.db"))
    assert until(lambda: not first.is_alive(), 2.0)
    keeper.watch(str(tmp_path / "b.db"))
    assert keeper._thread is not None and keeper._thread is not first
    assert keeper._thread.is_alive()
    keeper.unwatch(str(tmp_path / "b.db"))


def test_a_missing_file_is_no_error(tmp_path: Path) -> None:
    keeper = wal.Checkpointer(every=0.02, threshold=0)
    keeper.watch(str(tmp_path / "gone" / "x.db"))
    time.sleep(0.1)
    assert keeper._thread is not None and keeper._thread.is_alive()
    keeper.unwatch(str(tmp_path / "gone" / "x.db"))


async def test_a_store_is_watched_while_open(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SQLiteExecutor(path, lambda c: c.execute("CREATE TABLE IF NOT EXISTS t (v TEXT)"))
    await store.write(lambda c: c.execute("INSERT INTO t VALUES ('a')"))
    assert str(path) in wal.checkpointer._watched()
    pages = await store.run(lambda c: c.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
    assert pages == wal.SAFETY_PAGES
    await store.close()
    assert str(path) not in wal.checkpointer._watched()
