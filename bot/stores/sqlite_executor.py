"""One SQLite connection on its own single-thread executor: the plumbing every SQLite store shares.

No SQLite call runs on the event loop, the calls of one store are serialised, and the
connection is opened lazily on the executor thread (WAL, a busy timeout, the store's schema).
Several processes may open the same file; `write_transaction` takes SQLite's write lock.
A file database's WAL is checkpointed by a background thread (`bot.stores.wal`), never
inside a store's commit.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from bot.stores import wal

T = TypeVar("T")
MEMORY = ":memory:"


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """Take SQLite's write lock up front (waiting up to the busy timeout), commit or roll back."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def read_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One consistent snapshot for several SELECTs."""
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


def enable_wal(conn: sqlite3.Connection, timeout: float = 10.0) -> None:
    """Switch a file database to WAL. The switch ignores SQLite's busy timeout, so when several
    workers open a new file at once it fails with "database is locked": retried until
    `timeout`. A file already in WAL mode (every open after the first) is left alone."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _closed_error() -> Exception:
    return RuntimeError("SQLite store is closed")


class SQLiteExecutor:
    def __init__(
        self,
        path: str | Path,
        schema: Callable[[sqlite3.Connection], None],
        name: str = "zhike-sqlite",
        busy_timeout: float = 10.0,
        closed_error: Callable[[], Exception] = _closed_error,
    ) -> None:
        """`path` may be ":memory:" (one private database, gone on close); `closed_error`
        makes the error raised by calls after `close()`."""
        self.path = str(path)
        self.schema = schema
        self.busy_timeout = busy_timeout
        self._closed_error = closed_error
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._conn: sqlite3.Connection | None = None  # touched only on the executor thread
        self.closed = False

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self.closed:
            raise self._closed_error()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, fn)

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` inside one `BEGIN IMMEDIATE` transaction."""

        def body(conn: sqlite3.Connection) -> T:
            with write_transaction(conn):
                return fn(conn)

        return await self.run(body)

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._conn is None:
            self._conn = self._connect()
        return fn(self._conn)

    def _connect(self) -> sqlite3.Connection:
        if self.path != MEMORY:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            enable_wal(conn, self.busy_timeout)
            conn.execute("PRAGMA synchronous = NORMAL")
            self.schema(conn)
        except BaseException:
            conn.close()
            raise
        if self.path != MEMORY:
            wal.tune(conn)
            wal.checkpointer.watch(self.path)
        return conn

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
            if self.path != MEMORY:
                wal.checkpointer.unwatch(self.path)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True  # calls already queued still run, before the disconnect
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._disconnect)
        finally:
            self._executor.shutdown(wait=False)
