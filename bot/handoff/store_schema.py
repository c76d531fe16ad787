"""Tables of the handoff store, their migrations and the row <-> dataclass codecs.

The schema version and the store-wide revision live in `handoff_meta` (one row each), like the
other Zhike stores keep theirs, so the tables may share a file with them.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from typing import Any

from bot.errors import ZhikeError
from bot.handoff.types import (
    ACTIVE_STATES,
    AgentPresence,
    Customer,
    Handoff,
    Rating,
    State,
    Ticket,
)
from bot.stores.sqlite_executor import write_transaction


class HandoffStoreError(ZhikeError):
    """The handoff store refused or failed an operation; `code` names the kind."""

    def __init__(self, code: str, zh: str, en: str) -> None:
        self.code, self.zh, self.en = code, zh, en
        super().__init__(f"{zh} / {en}")


class HandoffConflict(HandoffStoreError):
    """Someone else changed the record first, or the conversation already has a handoff."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__("conflict", zh, en)


ACTIVE_SQL = "(" + ", ".join(f"'{s.value}'" for s in sorted(ACTIVE_STATES)) + ")"

# Each entry upgrades the schema by one version; append new entries, never edit old ones.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE handoffs (
            handoff_id TEXT PRIMARY KEY,
            conversation_id TEXT NOT NULL,
            channel TEXT NOT NULL,
            sender_id TEXT NOT NULL,
            customer_id TEXT NOT NULL,
            reason TEXT NOT NULL,
            skill_group TEXT NOT NULL,
            state TEXT NOT NULL,
            priority INTEGER NOT NULL,
            created_at REAL NOT NULL,
            queued_at REAL NOT NULL,
            assigned_at REAL,
            accepted_at REAL,
            ended_at REAL,
            agent_id TEXT,
            attempts INTEGER NOT NULL,
            ticket_no TEXT,
            ended_by TEXT,
            survey_pending INTEGER NOT NULL,
            survey_score INTEGER,
            context TEXT NOT NULL,
            version INTEGER NOT NULL
        )""",
        "CREATE UNIQUE INDEX handoffs_active_conversation ON handoffs (conversation_id)"
        f" WHERE state IN {ACTIVE_SQL}",
        "CREATE INDEX handoffs_conversation ON handoffs (conversation_id, created_at)",
        "CREATE INDEX handoffs_queue ON handoffs"
        " (state, skill_group, priority DESC, queued_at, created_at, handoff_id)",
        "CREATE INDEX handoffs_agent ON handoffs (agent_id, state)",
        "CREATE INDEX handoffs_customer ON handoffs (customer_id, created_at)",
        "CREATE INDEX handoffs_created ON handoffs (created_at)",
        "CREATE INDEX handoffs_queued_at ON handoffs (queued_at)",
        """CREATE TABLE handoff_customers (
            customer_id TEXT PRIMARY KEY,
            name TEXT,
            phone TEXT,
            vip_level TEXT,
            difficult INTEGER NOT NULL,
            attributes TEXT NOT NULL
        )""",
        """CREATE TABLE handoff_ratings (
            handoff_id TEXT NOT NULL,
            agent_id TEXT NOT NULL,
            customer_id TEXT NOT NULL,
            satisfaction INTEGER,
            difficulty INTEGER,
            created_at REAL NOT NULL,
            PRIMARY KEY (handoff_id, agent_id)
        )""",
        "CREATE INDEX handoff_ratings_customer ON handoff_ratings (customer_id, created_at)",
        """CREATE TABLE handoff_tickets (
            ticket_no TEXT PRIMARY KEY,
            day TEXT NOT NULL,
            seq INTEGER NOT NULL,
            handoff_id TEXT NOT NULL,
            conversation_id TEXT NOT NULL,
            customer_id TEXT NOT NULL,
            reason TEXT NOT NULL,
            skill_group TEXT NOT NULL,
            note TEXT NOT NULL,
            created_at REAL NOT NULL,
            status TEXT NOT NULL,
            UNIQUE (day, seq)
        )""",
        "CREATE INDEX handoff_tickets_status ON handoff_tickets (status, created_at)",
        "CREATE INDEX handoff_tickets_created ON handoff_tickets (created_at)",
        """CREATE TABLE handoff_presence (
            agent_id TEXT PRIMARY KEY,
            online INTEGER NOT NULL,
            idle_since REAL NOT NULL,
            last_seen REAL NOT NULL
        )""",
        """CREATE TABLE handoff_sessions (
            token_hash TEXT PRIMARY KEY,
            agent_id TEXT NOT NULL,
            expires_at REAL NOT NULL
        )""",
        "CREATE INDEX handoff_sessions_expiry ON handoff_sessions (expires_at)",
        "INSERT INTO handoff_meta (key, value) VALUES ('revision', 0)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> None:
    with write_transaction(conn):
        conn.execute("CREATE TABLE IF NOT EXISTS handoff_meta (key TEXT PRIMARY KEY, value)")
        row = conn.execute("SELECT value FROM handoff_meta WHERE key = 'schema_version'").fetchone()
        current = int(row[0]) if row else 0
        if current > SCHEMA_VERSION:
            raise HandoffStoreError(
                "schema",
                f"人工转接数据库结构版本 {current} 高于当前程序支持的 {SCHEMA_VERSION}，"
                "请升级知客。",
                f"handoff store schema version {current} is newer than supported "
                f"({SCHEMA_VERSION}); upgrade Zhike.",
            )
        for statements in MIGRATIONS[current:]:
            for statement in statements:
                conn.execute(statement)
        conn.execute(
            "INSERT OR REPLACE INTO handoff_meta (key, value) VALUES ('schema_version', ?)",
            (max(current, SCHEMA_VERSION),),
        )


def revision(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM handoff_meta WHERE key = 'revision'").fetchone()
    return int(row[0])


def bump(conn: sqlite3.Connection) -> None:
    """Advance the store-wide revision; call inside the write transaction that changed data."""
    conn.execute("UPDATE handoff_meta SET value = value + 1 WHERE key = 'revision'")


# -- codecs -----------------------------------------------------------------------------------

# Same order as the fields of `Handoff` (a test keeps them in step), so rows decode positionally.
HANDOFF_COLUMNS = (
    "handoff_id", "conversation_id", "channel", "sender_id", "customer_id", "reason",
    "skill_group", "state", "priority", "created_at", "queued_at", "assigned_at", "accepted_at",
    "ended_at", "agent_id", "attempts", "ticket_no", "ended_by", "survey_pending",
    "survey_score", "context", "version",
)  # fmt: skip
HANDOFF_SELECT = f"SELECT {', '.join(HANDOFF_COLUMNS)} FROM handoffs"
HANDOFF_INSERT = (
    f"INSERT INTO handoffs ({', '.join(HANDOFF_COLUMNS)})"
    f" VALUES ({', '.join('?' * len(HANDOFF_COLUMNS))})"
)
HANDOFF_UPDATE = (
    "UPDATE handoffs SET "
    + ", ".join(f"{c} = ?" for c in HANDOFF_COLUMNS[1:-1])
    + ", version = version + 1 WHERE handoff_id = ? AND version = ?"
)
_STATE, _PENDING, _CONTEXT = 7, 18, 20


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def handoff_row(h: Handoff) -> list[Any]:
    """The values of `HANDOFF_COLUMNS` for `h`."""
    row: list[Any] = [getattr(h, c) for c in HANDOFF_COLUMNS]
    row[_STATE] = State(h.state).value
    row[_PENDING] = int(h.survey_pending)
    row[_CONTEXT] = _json(h.context)
    return row


def handoff_from_row(row: tuple[Any, ...]) -> Handoff:
    values = list(row)
    values[_STATE] = State(values[_STATE])
    values[_PENDING] = bool(values[_PENDING])
    values[_CONTEXT] = json.loads(values[_CONTEXT])
    return Handoff(*values)


def customer_row(c: Customer) -> tuple[Any, ...]:
    return (c.customer_id, c.name, c.phone, c.vip_level, int(c.difficult), _json(c.attributes))


def customer_from_row(row: tuple[Any, ...]) -> Customer:
    cid, name, phone, vip, difficult, attributes = row
    return Customer(cid, name, phone, vip, bool(difficult), json.loads(attributes))


CUSTOMER_COLUMNS = "customer_id, name, phone, vip_level, difficult, attributes"
RATING_COLUMNS = "handoff_id, customer_id, agent_id, satisfaction, difficulty, created_at"
TICKET_COLUMNS = (
    "ticket_no, handoff_id, conversation_id, customer_id, reason, skill_group, note,"
    " created_at, status"
)
PRESENCE_COLUMNS = "agent_id, online, idle_since, last_seen"


def rating_row(r: Rating) -> tuple[Any, ...]:
    return (r.handoff_id, r.customer_id, r.agent_id, r.satisfaction, r.difficulty, r.created_at)


def ticket_from_row(row: tuple[Any, ...]) -> Ticket:
    return Ticket(*row)


def presence_from_row(row: tuple[Any, ...]) -> AgentPresence:
    agent_id, online, idle_since, last_seen = row
    return AgentPresence(agent_id, bool(online), idle_since, last_seen)


CHINA = timezone(timedelta(hours=8))  # Asia/Shanghai has had no daylight saving since 1991


def ticket_day(created_at: float) -> str:
    """The ticket's day in Beijing time, as in its number: 20261123."""
    return datetime.fromtimestamp(created_at, CHINA).strftime("%Y%m%d")


def ticket_number(day: str, seq: int) -> str:
    return f"GD{day}-{seq:04d}"
