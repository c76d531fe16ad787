"""The persistent store of the human handoff, in one SQLite file (WAL) shared by every worker.

Like the tracker store, each `HandoffStore` owns one connection living on its own single-thread
executor: no SQLite call runs on the event loop and the calls of one store are serialised.
Every compare-and-set (a handoff's version, one active handoff per conversation, the next
ticket number of the day) happens inside one `BEGIN IMMEDIATE` transaction, so it holds across
processes too. Each write transaction also advances a store-wide `revision()`, which other
workers poll to learn that something changed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from bot.handoff import store_schema as schema
from bot.handoff.store_schema import (
    ACTIVE_SQL,
    HANDOFF_INSERT,
    HANDOFF_SELECT,
    HANDOFF_UPDATE,
    PRESENCE_COLUMNS,
    RATING_COLUMNS,
    TICKET_COLUMNS,
    HandoffConflict,
    HandoffStoreError,
    handoff_from_row,
    handoff_row,
)
from bot.handoff.types import AgentPresence, Customer, Handoff, Rating, State, Ticket
from bot.stores.base import check_page
from bot.stores.sqlite_executor import SQLiteExecutor, read_transaction, write_transaction

__all__ = ["HandoffConflict", "HandoffStore", "HandoffStoreError", "WaitStats"]

T = TypeVar("T")

ANSWERED_WITHIN = 30.0  # seconds: the service-level threshold of `WaitStats`
_QUEUE_ORDER = "ORDER BY priority DESC, queued_at, created_at, handoff_id"
_NEWEST_FIRST = "ORDER BY created_at DESC, handoff_id DESC"
_AHEAD_OF = """SELECT
    (SELECT COUNT(*) FROM handoffs WHERE state = 'queued' AND skill_group = ?1
        AND priority > ?2)
  + (SELECT COUNT(*) FROM handoffs WHERE state = 'queued' AND skill_group = ?1
        AND priority = ?2 AND (queued_at, created_at, handoff_id) < (?3, ?4, ?5))"""
_WAIT_STATS = f"""SELECT COUNT(*), COUNT(accepted_at),
    COALESCE(SUM(accepted_at - queued_at <= {ANSWERED_WITHIN}), 0),
    COALESCE(SUM(state = 'cancelled' AND accepted_at IS NULL), 0),
    COALESCE(SUM(state = 'ticket'), 0),
    COALESCE(AVG(accepted_at - queued_at), 0.0), COALESCE(MAX(accepted_at - queued_at), 0.0)
FROM handoffs WHERE queued_at >= ?"""


@dataclass(frozen=True, slots=True)
class WaitStats:
    """How the queue served the handoffs that entered it since a moment (supervisor view).

    `abandoned` counts handoffs cancelled before any agent accepted them; the waits are seconds
    from `queued_at` to `accepted_at` over the answered ones (0.0 when none was answered).
    """

    offered: int = 0
    answered: int = 0
    answered_within_30s: int = 0
    abandoned: int = 0
    to_ticket: int = 0
    avg_wait: float = 0.0
    max_wait: float = 0.0

    @property
    def service_level(self) -> float:
        """Share of the offered handoffs answered within 30 seconds (0.0 when none offered)."""
        return self.answered_within_30s / self.offered if self.offered else 0.0


def _closed() -> HandoffStoreError:
    return HandoffStoreError(
        "closed", "人工转接存储已关闭，无法继续使用。", "the handoff store is closed."
    )


def _stale(handoff_id: str, expected: int) -> HandoffConflict:
    return HandoffConflict(
        f"转人工记录 {handoff_id} 已被其他操作更新（期望版本 {expected}），请重新读取后再试。",
        f"handoff {handoff_id!r} was changed concurrently (expected version {expected});"
        " reload and retry.",
    )


def _already_active(h: Handoff) -> HandoffConflict:
    return HandoffConflict(
        f"会话 {h.conversation_id} 已有进行中的转人工，不能再创建一个。",
        f"conversation {h.conversation_id!r} already has an active handoff.",
    )


class HandoffStore:
    def __init__(self, path: str | Path, busy_timeout: float = 10.0) -> None:
        """`path` may be ":memory:" (one private database, gone on close)."""
        self.path = str(path)
        self.busy_timeout = busy_timeout
        self.db = SQLiteExecutor(path, schema.migrate, "zhike-handoff", busy_timeout)

    # -- plumbing ---------------------------------------------------------------------------

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self.db.closed:
            raise _closed()
        return await self.db.run(fn)

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` in one write transaction that also advances the revision."""

        def body(conn: sqlite3.Connection) -> T:
            with write_transaction(conn):
                result = fn(conn)
                schema.bump(conn)
                return result

        return await self._run(body)

    async def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return await self._run(lambda conn: conn.execute(sql, args).fetchall())

    async def _row(self, sql: str, args: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        return await self._run(lambda conn: conn.execute(sql, args).fetchone())

    async def _handoffs(self, where: str, args: tuple[Any, ...] = ()) -> list[Handoff]:
        return [handoff_from_row(r) for r in await self._rows(f"{HANDOFF_SELECT} {where}", args)]

    async def close(self) -> None:
        await self.db.close()  # calls already queued still run, before the disconnect

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- handoffs ---------------------------------------------------------------------------

    async def create(self, h: Handoff) -> Handoff:
        """Insert `h` at version 1; a conflict when its conversation already has an active one."""
        new = replace(h, version=1)
        row = handoff_row(new)

        def body(conn: sqlite3.Connection) -> Handoff:
            try:
                conn.execute(HANDOFF_INSERT, row)
            except sqlite3.IntegrityError:
                if self._exists(conn, h.handoff_id):
                    raise HandoffConflict(
                        f"转人工记录 {h.handoff_id} 已存在。",
                        f"handoff {h.handoff_id!r} already exists.",
                    ) from None
                raise _already_active(h) from None
            return new

        return await self._write(body)

    @staticmethod
    def _exists(conn: sqlite3.Connection, handoff_id: str) -> bool:
        sql = "SELECT 1 FROM handoffs WHERE handoff_id = ?"
        return conn.execute(sql, (handoff_id,)).fetchone() is not None

    async def get(self, handoff_id: str) -> Handoff | None:
        found = await self._handoffs("WHERE handoff_id = ?", (handoff_id,))
        return found[0] if found else None

    async def active_for(self, conversation_id: str) -> Handoff | None:
        where = f"WHERE conversation_id = ? AND state IN {ACTIVE_SQL}"
        found = await self._handoffs(where, (conversation_id,))
        return found[0] if found else None

    async def latest_for(self, conversation_id: str) -> Handoff | None:
        where = f"WHERE conversation_id = ? {_NEWEST_FIRST} LIMIT 1"
        found = await self._handoffs(where, (conversation_id,))
        return found[0] if found else None

    async def update(self, h: Handoff) -> Handoff:
        """Write every field of `h` if the stored version is still `h.version`; returns the
        stored copy (version + 1). A conflict when someone else changed it first."""
        args = (*handoff_row(h)[1:-1], h.handoff_id, h.version)

        def body(conn: sqlite3.Connection) -> Handoff:
            try:
                changed = conn.execute(HANDOFF_UPDATE, args).rowcount
            except sqlite3.IntegrityError:
                raise _already_active(h) from None
            if changed:
                return replace(h, version=h.version + 1)
            if self._exists(conn, h.handoff_id):
                raise _stale(h.handoff_id, h.version)
            raise HandoffStoreError(
                "not_found",
                f"找不到转人工记录 {h.handoff_id}。",
                f"no handoff {h.handoff_id!r}.",
            )

        return await self._write(body)

    async def find(
        self,
        *,
        states: Collection[State] | None = None,
        group: str | None = None,
        conversation_id: str | None = None,
        agent_id: str | None = None,
        customer_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Handoff]:
        """Handoffs matching every given filter, newest first."""
        check_page(limit, offset)
        clauses: list[str] = []
        args: list[Any] = []
        if states is not None:
            if not states:
                return []
            clauses.append(f"state IN ({', '.join('?' * len(states))})")
            args.extend(State(s).value for s in states)
        equal = {
            "skill_group": group,
            "conversation_id": conversation_id,
            "agent_id": agent_id,
            "customer_id": customer_id,
        }
        for column, value in equal.items():
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        return await self._handoffs(
            f"{where} {_NEWEST_FIRST} LIMIT ? OFFSET ?", (*args, limit, offset)
        )

    async def queue(self, group: str | None = None, limit: int = -1) -> list[Handoff]:
        """Queued handoffs in queue order (priority, then who entered first); all groups if
        None; the first `limit` only when given (-1: all)."""
        if group is None:
            return await self._handoffs(f"WHERE state = 'queued' {_QUEUE_ORDER} LIMIT ?", (limit,))
        return await self._handoffs(
            f"WHERE state = 'queued' AND skill_group = ? {_QUEUE_ORDER} LIMIT ?", (group, limit)
        )

    async def queued_groups(self) -> list[str]:
        """Skill groups with at least one queued handoff."""
        rows = await self._rows("SELECT DISTINCT skill_group FROM handoffs WHERE state = 'queued'")
        return [str(r[0]) for r in rows]

    async def position(self, h: Handoff) -> int:
        """1-based place of `h` in its group's queue as stored now; 0 when it is not queued."""

        def body(conn: sqlite3.Connection) -> int:
            with read_transaction(conn):
                row = conn.execute(
                    "SELECT skill_group, priority, queued_at, created_at FROM handoffs"
                    " WHERE handoff_id = ? AND state = 'queued'",
                    (h.handoff_id,),
                ).fetchone()
                if row is None:
                    return 0
                return int(conn.execute(_AHEAD_OF, (*row, h.handoff_id)).fetchone()[0]) + 1

        return await self._run(body)

    async def active(self) -> list[Handoff]:
        """Every queued, assigned or with-agent handoff, oldest first."""
        return await self._handoffs(f"WHERE state IN {ACTIVE_SQL} ORDER BY created_at, handoff_id")

    async def load_of(self, agent_id: str) -> int:
        sql = "SELECT COUNT(*) FROM handoffs WHERE agent_id = ? AND state IN (?, ?)"
        row = await self._row(sql, (agent_id, State.ASSIGNED.value, State.WITH_AGENT.value))
        return int(row[0]) if row else 0

    async def counts(self) -> dict[str, int]:
        """Active handoffs per state (every active state present, 0 when none)."""
        sql = f"SELECT state, COUNT(*) FROM handoffs WHERE state IN {ACTIVE_SQL} GROUP BY state"
        found = dict(await self._rows(sql))
        return {s.value: int(found.get(s.value, 0)) for s in schema.ACTIVE_STATES}

    async def revision(self) -> int:
        """Grows on every write to the store, from any process."""
        return await self._run(schema.revision)

    async def wait_stats(self, since: float) -> WaitStats:
        """Queue service figures of the handoffs whose `queued_at` is at or after `since`."""
        row = await self._row(_WAIT_STATS, (since,))
        assert row is not None  # an aggregate always yields one row
        offered, answered, within, abandoned, to_ticket, avg_wait, max_wait = row
        return WaitStats(
            int(offered), int(answered), int(within), int(abandoned), int(to_ticket),
            float(avg_wait), float(max_wait),
        )  # fmt: skip

    # -- customers and ratings --------------------------------------------------------------

    async def customer(self, customer_id: str) -> Customer | None:
        sql = f"SELECT {schema.CUSTOMER_COLUMNS} FROM handoff_customers WHERE customer_id = ?"
        row = await self._row(sql, (customer_id,))
        return schema.customer_from_row(row) if row else None

    async def difficult_customers(self) -> set[str]:
        rows = await self._rows("SELECT customer_id FROM handoff_customers WHERE difficult = 1")
        return {str(r[0]) for r in rows}

    async def save_customer(self, c: Customer) -> None:
        row = schema.customer_row(c)
        columns = schema.CUSTOMER_COLUMNS
        sql = f"INSERT OR REPLACE INTO handoff_customers ({columns}) VALUES (?, ?, ?, ?, ?, ?)"
        await self._write(lambda conn: conn.execute(sql, row))

    async def add_rating(self, r: Rating) -> None:
        """Store an agent's rating; a conflict when this agent already rated this handoff."""
        sql = f"INSERT INTO handoff_ratings ({RATING_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
        row = schema.rating_row(r)

        def body(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(sql, row)
            except sqlite3.IntegrityError:
                raise HandoffConflict(
                    f"坐席 {r.agent_id} 已评价过转人工 {r.handoff_id}。",
                    f"agent {r.agent_id!r} already rated handoff {r.handoff_id!r}.",
                ) from None

        await self._write(body)

    async def ratings_for(self, customer_id: str, since: float | None = None) -> list[Rating]:
        """A customer's ratings (at or after `since` when given), newest first."""
        sql = f"SELECT {RATING_COLUMNS} FROM handoff_ratings WHERE customer_id = ? AND created_at >= ?"
        rows = await self._rows(
            f"{sql} ORDER BY created_at DESC", (customer_id, since or float("-inf"))
        )
        return [Rating(*r) for r in rows]

    # -- tickets ----------------------------------------------------------------------------

    async def create_ticket(self, t: Ticket) -> Ticket:
        """Store `t` under the next number of its day (Beijing time); returns it numbered."""
        day = schema.ticket_day(t.created_at)

        def body(conn: sqlite3.Connection) -> Ticket:
            sql = "SELECT COALESCE(MAX(seq), 0) + 1 FROM handoff_tickets WHERE day = ?"
            seq = int(conn.execute(sql, (day,)).fetchone()[0])
            new = replace(t, ticket_no=schema.ticket_number(day, seq))
            conn.execute(
                f"INSERT INTO handoff_tickets ({TICKET_COLUMNS}, day, seq)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (new.ticket_no, new.handoff_id, new.conversation_id, new.customer_id, new.reason,
                 new.skill_group, new.note, new.created_at, new.status, day, seq),
            )  # fmt: skip
            return new

        return await self._write(body)

    async def tickets(
        self, *, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Ticket]:
        """Tickets (of one status when given), newest first."""
        check_page(limit, offset)
        where, args = ("WHERE status = ?", (status,)) if status is not None else ("", ())
        sql = f"SELECT {TICKET_COLUMNS} FROM handoff_tickets {where}"
        order = "ORDER BY created_at DESC, ticket_no DESC LIMIT ? OFFSET ?"
        rows = await self._rows(f"{sql} {order}", (*args, limit, offset))
        return [schema.ticket_from_row(r) for r in rows]

    async def ticket(self, ticket_no: str) -> Ticket | None:
        sql = f"SELECT {TICKET_COLUMNS} FROM handoff_tickets WHERE ticket_no = ?"
        row = await self._row(sql, (ticket_no,))
        return schema.ticket_from_row(row) if row else None

    # -- agent presence and sessions --------------------------------------------------------

    async def presence(self, agent_id: str) -> AgentPresence | None:
        sql = f"SELECT {PRESENCE_COLUMNS} FROM handoff_presence WHERE agent_id = ?"
        row = await self._row(sql, (agent_id,))
        return schema.presence_from_row(row) if row else None

    async def save_presence(self, p: AgentPresence) -> None:
        sql = f"INSERT OR REPLACE INTO handoff_presence ({PRESENCE_COLUMNS}) VALUES (?, ?, ?, ?)"
        row = (p.agent_id, int(p.online), p.idle_since, p.last_seen)
        await self._write(lambda conn: conn.execute(sql, row))

    async def presences(self) -> list[AgentPresence]:
        rows = await self._rows(
            f"SELECT {PRESENCE_COLUMNS} FROM handoff_presence ORDER BY agent_id"
        )
        return [schema.presence_from_row(r) for r in rows]

    async def create_session(self, token_hash: str, agent_id: str, expires_at: float) -> None:
        """Remember a login by the SHA-256 (hex) of its token; the token itself is never stored."""
        sql = (
            "INSERT OR REPLACE INTO handoff_sessions (token_hash, agent_id, expires_at)"
            " VALUES (?, ?, ?)"
        )
        await self._write(lambda conn: conn.execute(sql, (token_hash, agent_id, expires_at)))

    async def session(self, token_hash: str) -> tuple[str, float] | None:
        """(agent_id, expires_at) of a login, expired or not; None when unknown."""
        sql = "SELECT agent_id, expires_at FROM handoff_sessions WHERE token_hash = ?"
        row = await self._row(sql, (token_hash,))
        return (str(row[0]), float(row[1])) if row else None

    async def delete_session(self, token_hash: str) -> None:
        sql = "DELETE FROM handoff_sessions WHERE token_hash = ?"
        await self._write(lambda conn: conn.execute(sql, (token_hash,)))

    async def purge_sessions(self, now: float) -> int:
        """Forget logins expired at `now`; returns how many."""
        sql = "DELETE FROM handoff_sessions WHERE expires_at <= ?"
        return await self._write(lambda conn: int(conn.execute(sql, (now,)).rowcount))
