"""What the WeChat channels remember across requests, restarts and worker processes.

One SQLite file (WAL) shared by every worker:

- **claims**: a key (an Official Account `MsgId`, a WeCom kf `msgid`) is claimed once; a
  WeChat retry or a message pulled twice finds it claimed and is not run again. Claims older
  than `keep` seconds are pruned (WeChat retries within seconds; kf messages are pulled within
  days).
- **cursors**: the WeCom `sync_msg` cursor per customer-service account, saved after each page.
- **values**: small facts per customer (e.g. the WeCom service state we last set or saw).
- **leases**: "only one worker pulls this account now", with an expiry so a crashed worker's
  lease lapses.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from bot.stores.sqlite_executor import MEMORY, SQLiteExecutor

KEEP_CLAIMS = 7 * 24 * 3600.0
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS wechat_claims (
        scope TEXT NOT NULL, key TEXT NOT NULL, claimed_at REAL NOT NULL,
        PRIMARY KEY (scope, key))""",
    "CREATE INDEX IF NOT EXISTS wechat_claims_age ON wechat_claims (claimed_at)",
    """CREATE TABLE IF NOT EXISTS wechat_cursors (
        scope TEXT PRIMARY KEY, cursor TEXT NOT NULL, saved_at REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS wechat_values (
        scope TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, saved_at REAL NOT NULL,
        PRIMARY KEY (scope, key))""",
    """CREATE TABLE IF NOT EXISTS wechat_leases (
        name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at REAL NOT NULL)""",
)


def _schema(conn: sqlite3.Connection) -> None:
    for statement in _SCHEMA:
        conn.execute(statement)


class ChannelState:
    def __init__(
        self,
        path: Path | None,
        keep: float = KEEP_CLAIMS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`path` None keeps the state in memory (one process, gone on close)."""
        self.db = SQLiteExecutor(path or MEMORY, _schema, name="zhike-wechat")
        self.keep = keep
        self.clock = clock
        self._pruned_at = 0.0

    async def claim(self, scope: str, key: str) -> bool:
        """True the first time `key` is seen in `scope`, False every time after."""
        now = self.clock()
        prune = now - self._pruned_at > 3600
        if prune:
            self._pruned_at = now

        def body(conn: sqlite3.Connection) -> bool:
            if prune:
                conn.execute("DELETE FROM wechat_claims WHERE claimed_at < ?", (now - self.keep,))
            cursor = conn.execute(
                "INSERT OR IGNORE INTO wechat_claims (scope, key, claimed_at) VALUES (?, ?, ?)",
                (scope, key, now),
            )
            return cursor.rowcount == 1

        return await self.db.write(body)

    async def cursor(self, scope: str) -> str | None:
        def body(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT cursor FROM wechat_cursors WHERE scope = ?", (scope,)
            ).fetchone()
            return str(row[0]) if row else None

        return await self.db.run(body)

    async def save_cursor(self, scope: str, cursor: str) -> None:
        now = self.clock()
        await self.db.write(
            lambda conn: conn.execute(
                "INSERT INTO wechat_cursors (scope, cursor, saved_at) VALUES (?, ?, ?) "
                "ON CONFLICT (scope) DO UPDATE SET cursor = excluded.cursor, "
                "saved_at = excluded.saved_at",
                (scope, cursor, now),
            )
        )

    async def remember(self, scope: str, key: str, value: str | None) -> None:
        """Keep `value` under (scope, key); None forgets it."""
        now = self.clock()
        if value is None:
            sql, args = "DELETE FROM wechat_values WHERE scope = ? AND key = ?", (scope, key)
        else:
            sql = (
                "INSERT INTO wechat_values (scope, key, value, saved_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value, "
                "saved_at = excluded.saved_at"
            )
            args = (scope, key, value, now)  # type: ignore[assignment]
        await self.db.write(lambda conn: conn.execute(sql, args))

    async def recall(self, scope: str, key: str) -> str | None:
        def body(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT value FROM wechat_values WHERE scope = ? AND key = ?", (scope, key)
            ).fetchone()
            return str(row[0]) if row else None

        return await self.db.run(body)

    async def lease(self, name: str, owner: str, ttl: float) -> bool:
        """Take or renew `name` for `owner` for `ttl` seconds; False while another owner holds it."""
        now = self.clock()

        def body(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                "SELECT owner, expires_at FROM wechat_leases WHERE name = ?", (name,)
            ).fetchone()
            if row is not None and row[0] != owner and float(row[1]) > now:
                return False
            conn.execute(
                "INSERT INTO wechat_leases (name, owner, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, "
                "expires_at = excluded.expires_at",
                (name, owner, now + ttl),
            )
            return True

        return await self.db.write(body)

    async def release(self, name: str, owner: str) -> None:
        await self.db.write(
            lambda conn: conn.execute(
                "DELETE FROM wechat_leases WHERE name = ? AND owner = ?", (name, owner)
            )
        )

    async def close(self) -> None:
        await self.db.close()
