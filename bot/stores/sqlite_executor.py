"""One SQLite connection on its own single-thread executor: the plumbing every SQLite store shares.

No SQLite call runs on the event loop, the calls of one store are serialised, and the
connection is opened lazily on the executor thread (WAL, a busy timeout, the store's schema).
Several processes may open the same file; `write_transaction` takes SQLite's write lock.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from bot.stores.sqlite import enable_wal, write_transaction

T = TypeVar("T")
MEMORY = ":memory:"


class SQLiteExecutor:
    def __init__(
        self,
        path: str | Path,
        schema: Callable[[sqlite3.Connection], None],
        name: str = "zhike-sqlite",
        busy_timeout: float = 10.0,
    ) -> None:
        """`path` may be ":memory:" (one private database, gone on close)."""
        self.path = str(path)
        self.schema = schema
        self.busy_timeout = busy_timeout
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._conn: sqlite3.Connection | None = None  # touched only on the executor thread
        self.closed = False

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self.closed:
            raise RuntimeError(f"SQLite store {self.path} is closed")
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
        return conn

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True  # calls already queued still run, before the disconnect
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._disconnect)
        finally:
            self._executor.shutdown(wait=False)
