"""The knowledge base persisted in one SQLite file (WAL), shared by every server process.

Entries are rows (lists joined by U+001F, buttons/link/image as JSON). Every edit bumps a global
revision kept in `kb_meta`; `kb_changes` keeps, per entry id, the last revision that changed or
deleted it, so a worker that polls `changes_since(its_revision)` gets exactly the ids to reload
with one indexed query (and a single-row read when nothing changed). The log holds one row per
id ever seen, so it never grows with the number of edits.

The API is synchronous and thread-safe: each call borrows a connection from a small pool (a
file database) or holds the single connection's lock (":memory:"). Async callers wrap calls in
`asyncio.to_thread`. Writes run in `BEGIN IMMEDIATE` transactions, so writers in several
processes serialise on SQLite's lock and revisions stay strictly increasing.
"""

from __future__ import annotations

import gc
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from bot.kb.errors import KBStoreError
from bot.kb.types import FAQEntry, KBAnswer, KBButton
from bot.stores.sqlite_executor import enable_wal, read_transaction, write_transaction

DEFAULT_KB_PATH = Path(".zhike") / "kb.db"
FEEDBACK_KINDS = ("unsolved", "thumbs_down", "thumbs_up")

# Entry content as stored: lists joined by U+001F, the rich part of the answer (buttons, link,
# image) as compact JSON; NULL when empty, so reading 100k entries decodes as little as possible.
CONTENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("question", "TEXT NOT NULL"),
    ("answer", "TEXT NOT NULL"),
    ("answer_extra", "TEXT"),
    ("similar", "TEXT"),
    ("voice_answer", "TEXT"),
    ("category", "TEXT"),
    ("tags", "TEXT"),
    ("valid_from", "TEXT"),
    ("valid_to", "TEXT"),
    ("channels", "TEXT"),
    ("enabled", "INTEGER NOT NULL"),
)
Content = tuple[object, ...]

# Each entry upgrades the schema by one version; append new entries, never edit old ones.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        f"""CREATE TABLE kb_entries (
            id TEXT PRIMARY KEY,
            {", ".join(f"{c} {t}" for c, t in CONTENT_COLUMNS)},
            pos INTEGER NOT NULL,
            updated_at REAL NOT NULL
        )""",
        "CREATE INDEX kb_entries_pos ON kb_entries (pos)",
        "CREATE TABLE kb_changes (entry_id TEXT PRIMARY KEY, revision INTEGER NOT NULL)",
        "CREATE INDEX kb_changes_revision ON kb_changes (revision)",
        """CREATE TABLE kb_feedback (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            entry_id TEXT,
            conversation_id TEXT NOT NULL,
            query TEXT NOT NULL,
            kind TEXT NOT NULL,
            created_at REAL NOT NULL
        )""",
        "CREATE INDEX kb_feedback_entry ON kb_feedback (entry_id, id)",
        "INSERT INTO kb_meta (key, value) VALUES ('revision', 0)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)

_NAMES = ", ".join(c for c, _ in CONTENT_COLUMNS)
_SELECT = f"SELECT id, {_NAMES}, updated_at FROM kb_entries"
_UPSERT = (
    f"INSERT INTO kb_entries (id, {_NAMES}, pos, updated_at)"
    f" VALUES ({', '.join('?' * (len(CONTENT_COLUMNS) + 3))})"
    f" ON CONFLICT (id) DO UPDATE SET"
    f" {', '.join(f'{c} = excluded.{c}' for c, _ in CONTENT_COLUMNS)},"
    " pos = excluded.pos, updated_at = excluded.updated_at"
)
_LOG = (
    "INSERT INTO kb_changes (entry_id, revision) VALUES (?, ?)"
    " ON CONFLICT (entry_id) DO UPDATE SET revision = excluded.revision"
)


@dataclass(frozen=True, slots=True)
class KBFeedback:
    """One customer reaction to a KB answer (or an unsolved query when `entry_id` is None)."""

    id: int
    entry_id: str | None
    conversation_id: str
    query: str
    kind: str
    created_at: float


_SEP = "\x1f"  # ASCII unit separator: splitting is ~7x faster than json.loads


def _join(items: list[str] | tuple[str, ...]) -> str | None:
    if any(_SEP in item for item in items):
        raise KBStoreError(
            "条目文字里不能包含控制字符 \\x1f。", "entry text must not contain the \\x1f character."
        )
    return _SEP.join(items) if items else None


def _split(text: str | None) -> list[str]:
    return text.split(_SEP) if text else []


def _answer_extra(answer: KBAnswer) -> str | None:
    extra: dict[str, Any] = {}
    if answer.buttons:
        extra["buttons"] = [[b.title, b.payload] for b in answer.buttons]
    for key in ("link", "link_title", "image"):
        if getattr(answer, key) is not None:
            extra[key] = getattr(answer, key)
    return json.dumps(extra, ensure_ascii=False, separators=(",", ":")) if extra else None


def _answer(text: str, extra: str | None) -> KBAnswer:
    if not extra:
        return KBAnswer(text)
    d = json.loads(extra)
    buttons = [KBButton(t, p) for t, p in d.get("buttons", ())]
    return KBAnswer(text, buttons, d.get("link"), d.get("link_title"), d.get("image"))


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d is not None else None


def _date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def row_from_entry(e: FAQEntry) -> Content:
    """The entry's content columns, in `CONTENT_COLUMNS` order (id and timestamps apart)."""
    return (
        e.question,
        e.answer.text,
        _answer_extra(e.answer),
        _join(e.similar),
        e.voice_answer,
        _join(e.category),
        _join(e.tags),
        _iso(e.valid_from),
        _iso(e.valid_to),
        _join(e.channels),
        int(e.enabled),
    )


def entry_from_row(row: tuple[Any, ...]) -> FAQEntry:
    """Inverse of `row_from_entry`, for a row of `_SELECT` (id, content..., updated_at)."""
    (id_, question, text, extra, similar, voice, category, tags, vfrom, vto, channels, enabled,
     updated_at) = row  # fmt: skip
    return FAQEntry(  # positional: three times faster than keywords for a slots dataclass
        id_,
        question,
        _answer(text, extra),
        _split(similar),
        voice,
        tuple(_split(category)),
        _split(tags),
        _date(vfrom),
        _date(vto),
        _split(channels),
        bool(enabled),
        updated_at,
    )


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Bulk decoding creates 100k+ container objects; the cyclic GC would otherwise walk them
    again and again (it triples the time of `all()`). Nothing made here forms cycles."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _migrate(conn: sqlite3.Connection) -> None:
    with write_transaction(conn):
        conn.execute("CREATE TABLE IF NOT EXISTS kb_meta (key TEXT PRIMARY KEY, value)")
        row = conn.execute("SELECT value FROM kb_meta WHERE key = 'schema_version'").fetchone()
        current = int(row[0]) if row else 0
        if current > SCHEMA_VERSION:
            raise KBStoreError(
                f"知识库数据库结构版本 {current} 高于当前程序支持的 {SCHEMA_VERSION}，请升级知客。",
                f"knowledge base schema version {current} is newer than supported "
                f"({SCHEMA_VERSION}); upgrade Zhike.",
            )
        for statements in MIGRATIONS[current:]:
            for statement in statements:
                conn.execute(statement)
        conn.execute(
            "INSERT OR REPLACE INTO kb_meta (key, value) VALUES ('schema_version', ?)",
            (max(current, SCHEMA_VERSION),),
        )


def _revision(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT value FROM kb_meta WHERE key = 'revision'").fetchone()[0])


def _bump(conn: sqlite3.Connection, ids: Iterable[str]) -> int:
    """Allocate the next revision (inside a write transaction) and log `ids` under it."""
    rev = _revision(conn) + 1
    conn.execute("UPDATE kb_meta SET value = ? WHERE key = 'revision'", (rev,))
    conn.executemany(_LOG, ((i, rev) for i in ids))
    return rev


class KBStore:
    def __init__(self, path: str | Path = DEFAULT_KB_PATH, busy_timeout: float = 10.0) -> None:
        """Open (creating when missing) the store; `path` may be ":memory:" for tests."""
        self.path = str(path)
        self.busy_timeout = busy_timeout
        self._lock = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._opened: list[sqlite3.Connection] = []
        self._closed = False
        self._memory = self.path == ":memory:"
        if not self._memory:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        first = self._open()
        try:
            enable_wal(first)
            _migrate(first)
        except BaseException:
            first.close()
            raise
        self._opened.append(first)
        self._idle.append(first)

    # -- connections ------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        if self._memory:
            with self._lock:
                self._check_open()
                yield self._opened[0]
            return
        conn = self._borrow()
        try:
            yield conn
        finally:
            with self._lock:
                if self._closed:
                    conn.close()
                else:
                    self._idle.append(conn)

    def _borrow(self) -> sqlite3.Connection:
        with self._lock:
            self._check_open()
            if self._idle:
                return self._idle.pop()
        conn = self._open()
        with self._lock:
            self._opened.append(conn)
        return conn

    def _check_open(self) -> None:
        if self._closed:
            raise KBStoreError("知识库已关闭。", "the knowledge base store is closed.")

    def close(self) -> None:
        """Close every idle connection; ones in use close when their call returns."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def __enter__(self) -> KBStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reads ------------------------------------------------------------------------------

    def get(self, entry_id: str) -> FAQEntry | None:
        with self._conn() as conn:
            row = conn.execute(f"{_SELECT} WHERE id = ?", (entry_id,)).fetchone()
        return entry_from_row(row) if row else None

    def all(self) -> list[FAQEntry]:
        """Every entry, in import order (new entries last)."""
        return self.snapshot()[1]

    def snapshot(self) -> tuple[int, list[FAQEntry]]:
        """The revision and every entry, read consistently (what an index build wants)."""
        with _gc_paused():
            with self._conn() as conn, read_transaction(conn):
                rev = _revision(conn)
                rows = conn.execute(f"{_SELECT} ORDER BY pos").fetchall()
            return rev, [entry_from_row(r) for r in rows]

    def count(self) -> int:
        with self._conn() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM kb_entries").fetchone()[0])

    def revision(self) -> int:
        with self._conn() as conn:
            return _revision(conn)

    def changes_since(self, revision: int) -> tuple[int, list[str]]:
        """The current revision and the ids changed or deleted after `revision`."""
        with self._conn() as conn, read_transaction(conn):
            current = _revision(conn)
            if current <= revision:
                return current, []
            rows = conn.execute(
                "SELECT entry_id FROM kb_changes WHERE revision > ? ORDER BY revision, entry_id",
                (revision,),
            ).fetchall()
        return current, [r[0] for r in rows]

    # -- writes -----------------------------------------------------------------------------

    def upsert(self, entry: FAQEntry) -> int:
        """Insert or replace one entry (stamping `updated_at` now); returns the new revision."""
        content = row_from_entry(entry)
        with self._conn() as conn, write_transaction(conn):
            row = conn.execute("SELECT pos FROM kb_entries WHERE id = ?", (entry.id,)).fetchone()
            pos = row[0] if row else self._next_pos(conn)
            conn.execute(_UPSERT, (entry.id, *content, pos, time.time()))
            return _bump(conn, [entry.id])

    def delete(self, entry_id: str) -> int | None:
        """Remove one entry; returns the new revision, or None when there was no such entry."""
        with self._conn() as conn, write_transaction(conn):
            if conn.execute("DELETE FROM kb_entries WHERE id = ?", (entry_id,)).rowcount == 0:
                return None
            return _bump(conn, [entry_id])

    def replace_all(self, entries: Iterable[FAQEntry]) -> int:
        """Make the store hold exactly `entries`, in one transaction; returns the revision.

        Only entries whose content changed (and deleted ones) get a new `updated_at` and appear
        in `changes_since`; re-importing an unchanged file leaves the revision as it was.
        """
        with _gc_paused():
            return self._replace_all(entries)

    def _replace_all(self, entries: Iterable[FAQEntry]) -> int:
        new = self._encode_unique(entries)
        positions = {i: p for p, i in enumerate(new)}
        now = time.time()
        with self._conn() as conn, write_transaction(conn):
            old = self._contents(conn)
            changed: list[str] = []
            moved: list[tuple[int, str]] = []
            for i, content in new.items():
                before = old.get(i)
                if before is None or before[1:] != content:
                    changed.append(i)
                elif before[0] != positions[i]:
                    moved.append((positions[i], i))
            deleted = [i for i in old if i not in new]
            conn.executemany("DELETE FROM kb_entries WHERE id = ?", ((i,) for i in deleted))
            conn.executemany(_UPSERT, ((i, *new[i], positions[i], now) for i in changed))
            conn.executemany("UPDATE kb_entries SET pos = ? WHERE id = ?", moved)
            if not changed and not deleted:
                return _revision(conn)
            return _bump(conn, [*changed, *deleted])

    @staticmethod
    def _encode_unique(entries: Iterable[FAQEntry]) -> dict[str, Content]:
        new: dict[str, Content] = {}
        for entry in entries:
            if entry.id in new:
                raise KBStoreError(
                    f"条目编号重复：{entry.id}，未做任何修改。",
                    f"duplicate entry id {entry.id!r}; nothing was changed.",
                )
            new[entry.id] = row_from_entry(entry)
        return new

    @staticmethod
    def _contents(conn: sqlite3.Connection) -> dict[str, tuple[object, ...]]:
        rows = conn.execute(f"SELECT id, pos, {_NAMES} FROM kb_entries").fetchall()
        return {r[0]: r[1:] for r in rows}

    @staticmethod
    def _next_pos(conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT COALESCE(MAX(pos) + 1, 0) FROM kb_entries").fetchone()[0])

    # -- feedback ---------------------------------------------------------------------------

    def record_feedback(
        self, entry_id: str | None, conversation_id: str, query: str, kind: str
    ) -> int:
        """Store one reaction; `kind` is "unsolved", "thumbs_down" or "thumbs_up". Returns its id."""
        if kind not in FEEDBACK_KINDS:
            raise KBStoreError(
                f"未知的反馈类型：{kind}（可用：{'、'.join(FEEDBACK_KINDS)}）",
                f"unknown feedback kind {kind!r} (expected one of {', '.join(FEEDBACK_KINDS)})",
            )
        with self._conn() as conn:
            cur = conn.execute(
                "INSERT INTO kb_feedback (entry_id, conversation_id, query, kind, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (entry_id, conversation_id, query, kind, time.time()),
            )
            return int(cur.lastrowid or 0)

    def feedback(self, entry_id: str | None = None, limit: int = 100) -> list[KBFeedback]:
        """The newest feedback first, of one entry or of all."""
        sql = "SELECT id, entry_id, conversation_id, query, kind, created_at FROM kb_feedback"
        args: tuple[object, ...] = (limit,)
        if entry_id is not None:
            sql += " WHERE entry_id = ?"
            args = (entry_id, limit)
        with self._conn() as conn:
            rows = conn.execute(f"{sql} ORDER BY id DESC LIMIT ?", args).fetchall()
        return [KBFeedback(*r) for r in rows]
