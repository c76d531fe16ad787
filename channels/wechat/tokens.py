"""Access-token cache shared by the worker processes of one host.

WeChat and WeCom hand out access tokens valid for ~2 h, with a daily quota on the token
endpoint, and a new token may invalidate the previous one. So every worker must share one
token and only one of them may fetch a new one at a time:

- `MemoryTokenStore`: one process (an `asyncio.Lock` per key);
- `SQLiteTokenStore`: one SQLite file (WAL) shared by the workers of a host; the refresh lock
  is a lease row with an expiry, polled every ~50 ms, so a crashed holder never blocks the
  others for longer than the lease.

`AccessToken` does the double-checked refresh on top of either store.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CachedToken:
    value: str
    expires_at: float  # wall-clock seconds (time.time()), comparable across processes


class TokenStore(Protocol):
    async def get(self, key: str) -> CachedToken | None: ...

    async def put(self, key: str, token: CachedToken) -> None: ...

    async def invalidate(self, key: str, value: str) -> None:
        """Forget the token of `key` only if it is still `value`."""
        ...

    def lock(self, key: str) -> AbstractAsyncContextManager[None]:
        """The cross-worker refresh lock of `key`."""
        ...


class MemoryTokenStore:
    """Tokens of one process."""

    def __init__(self) -> None:
        self._tokens: dict[str, CachedToken] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, key: str) -> CachedToken | None:
        return self._tokens.get(key)

    async def put(self, key: str, token: CachedToken) -> None:
        self._tokens[key] = token

    async def invalidate(self, key: str, value: str) -> None:
        current = self._tokens.get(key)
        if current is not None and current.value == value:
            del self._tokens[key]

    def lock(self, key: str) -> AbstractAsyncContextManager[None]:
        return self._locks.setdefault(key, asyncio.Lock())


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS tokens "
    "(key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS token_leases "
    "(key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at REAL NOT NULL)",
)


class SQLiteTokenStore:
    """Tokens in a SQLite file shared by the worker processes of one host.

    All SQLite work runs on one private thread (never on the event loop). `lock()` first
    takes a per-process asyncio lock (so one coroutine per process polls), then a lease row
    in `token_leases`; the lease expires after `lease_ttl` seconds in case its holder died.
    """

    def __init__(
        self,
        path: Path,
        *,
        lease_ttl: float = 30.0,
        poll: float = 0.05,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self._lease_ttl, self._poll, self._clock = lease_ttl, poll, clock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zhike-tokens")
        self._conn: sqlite3.Connection | None = None
        self._local: dict[str, asyncio.Lock] = {}

    async def get(self, key: str) -> CachedToken | None:
        return await self._run(self._get, key)

    async def put(self, key: str, token: CachedToken) -> None:
        await self._run(self._put, key, token)

    async def invalidate(self, key: str, value: str) -> None:
        await self._run(self._invalidate, key, value)

    def lock(self, key: str) -> AbstractAsyncContextManager[None]:
        return self._lease(key)

    async def close(self) -> None:
        if self._conn is not None:
            await self._run(self._close)
        self._executor.shutdown(wait=False)

    @asynccontextmanager
    async def _lease(self, key: str) -> AsyncIterator[None]:
        owner = f"{os.getpid()}:{uuid.uuid4().hex}"
        async with self._local.setdefault(key, asyncio.Lock()):
            while not await self._run(self._try_acquire, key, owner):
                await asyncio.sleep(self._poll)
            try:
                yield
            finally:
                await asyncio.shield(self._run(self._release, key, owner))

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    # --- below: runs on the store's thread only ---

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=10.0, isolation_level=None, check_same_thread=False
            )
            _setup(conn)
            self._conn = conn
        return self._conn

    def _get(self, key: str) -> CachedToken | None:
        row = (
            self._db()
            .execute("SELECT value, expires_at FROM tokens WHERE key = ?", (key,))
            .fetchone()
        )
        return None if row is None else CachedToken(str(row[0]), float(row[1]))

    def _put(self, key: str, token: CachedToken) -> None:
        self._db().execute(
            "INSERT OR REPLACE INTO tokens (key, value, expires_at) VALUES (?, ?, ?)",
            (key, token.value, token.expires_at),
        )

    def _invalidate(self, key: str, value: str) -> None:
        self._db().execute("DELETE FROM tokens WHERE key = ? AND value = ?", (key, value))

    def _try_acquire(self, key: str, owner: str) -> bool:
        db, now = self._db(), self._clock()
        db.execute("BEGIN IMMEDIATE")  # waits (busy timeout) for other writers
        try:
            row = db.execute(
                "SELECT owner, expires_at FROM token_leases WHERE key = ?", (key,)
            ).fetchone()
            free = row is None or float(row[1]) <= now
            if free:
                db.execute(
                    "INSERT OR REPLACE INTO token_leases (key, owner, expires_at) VALUES (?, ?, ?)",
                    (key, owner, now + self._lease_ttl),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return free

    def _release(self, key: str, owner: str) -> None:
        self._db().execute("DELETE FROM token_leases WHERE key = ? AND owner = ?", (key, owner))

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _setup(conn: sqlite3.Connection, attempts: int = 200) -> None:
    """WAL and the schema. Switching to WAL ignores the busy timeout when several workers
    open a new file at once, so "database is locked" is retried here (on the store thread)."""
    for attempt in range(attempts):
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            for statement in _SCHEMA:
                conn.execute(statement)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05)


class AccessToken:
    """One access token (`key`) over a store: cached, refreshed once for all workers."""

    def __init__(
        self,
        key: str,
        fetch: Callable[[], Awaitable[tuple[str, int]]],
        store: TokenStore,
        clock: Callable[[], float] = time.time,
        margin: float = 300.0,
    ) -> None:
        self.key, self._fetch, self._store = key, fetch, store
        self._clock, self._margin = clock, margin

    async def get(self) -> str:
        """The cached token unless within `margin` seconds of expiry; else fetch it once."""
        cached = await self._store.get(self.key)
        if self._fresh(cached):
            assert cached is not None
            return cached.value
        async with self._store.lock(self.key):
            cached = await self._store.get(self.key)  # another worker may have refreshed it
            if self._fresh(cached):
                assert cached is not None
                return cached.value
            value, expires_in = await self._fetch()
            if expires_in <= self._margin:
                log.warning(
                    "access token %s lives %ss, not more than the %ss margin: it will be "
                    "refetched on every use",
                    self.key,
                    expires_in,
                    self._margin,
                )
            await self._store.put(self.key, CachedToken(value, self._clock() + expires_in))
            return value

    async def refresh(self, stale: str) -> str:
        """After 40001/42001/40014: drop `stale` (if still current) and get a token again.

        Concurrent callers holding the same stale token cause a single fetch.
        """
        await self._store.invalidate(self.key, stale)
        return await self.get()

    def _fresh(self, token: CachedToken | None) -> bool:
        return token is not None and self._clock() < token.expires_at - self._margin
