"""Tiny data-access layer over the demo business database (SQLite).

The database lives at ``$ZHIKE_DEMO_DB`` (default ``.zhike/demo.db`` under the current working
directory). It is created on first use from the committed seed ``actions/demo_db.sql``.
Every query is parameterised; user input is never formatted into SQL text.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

SEED_FILE = Path(__file__).with_name("demo_db.sql")
ENV_VAR = "ZHIKE_DEMO_DB"


@dataclass(frozen=True)
class Plan:
    plan_id: str
    name: str
    monthly_fee: float
    data_gb: float
    voice_minutes: int
    is_5g: bool
    description: str


@dataclass(frozen=True)
class Customer:
    phone: str
    name: str
    id_tail: str
    vip_level: str
    balance: float
    data_used_gb: float
    points: int
    plan: Plan
    status: str
    city: str


@dataclass(frozen=True)
class Bill:
    month: str
    plan_fee: float
    extra_fee: float
    total: float
    paid: bool


@dataclass(frozen=True)
class RoamingRate:
    country: str
    code: str
    region: str
    daily_fee: float
    daily_gb: float


def db_path() -> Path:
    """Where the demo database lives (env ``ZHIKE_DEMO_DB`` or ``.zhike/demo.db``)."""
    configured = os.environ.get(ENV_VAR)
    return Path(configured) if configured else Path.cwd() / ".zhike" / "demo.db"


# WeChat openid / WeCom external_userid → phone number, bound by the business (e.g. after an
# SMS check in the account's H5 page); added after the first seed, so created when missing
_BINDINGS = """CREATE TABLE IF NOT EXISTS channel_bindings (
    channel     TEXT NOT NULL,             -- wechat | wecom
    external_id TEXT NOT NULL,             -- openid / external_userid
    phone       TEXT NOT NULL REFERENCES customers (phone),
    bound_at    TEXT NOT NULL DEFAULT (datetime('now', 'localtime')),
    PRIMARY KEY (channel, external_id)
)"""
DEMO_BINDINGS = (("wechat", "o6_bmjrPTlm6_2sgVt7hMZOPfL2M", "13912345678"),)


def _write_ahead(conn: sqlite3.Connection, attempts: int = 100) -> None:
    """WAL with `synchronous = NORMAL`: a commit appends to the log without waiting for the
    disk (a rollback-journal commit waited ~17 ms for two fsyncs, and actions run on the
    server's event loop). The switch ignores the busy timeout: retried while another process
    opening a new file holds it."""
    for attempt in range(attempts):
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.02)
    conn.execute("PRAGMA synchronous = NORMAL")


def _initialise(conn: sqlite3.Connection) -> None:
    row = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'customers'"
    ).fetchone()
    if row is None:
        conn.executescript(SEED_FILE.read_text(encoding="utf-8"))
    row = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'channel_bindings'"
    ).fetchone()
    if row is None:
        conn.execute(_BINDINGS)
        conn.executemany(
            "INSERT OR IGNORE INTO channel_bindings (channel, external_id, phone) VALUES (?, ?, ?)",
            DEMO_BINDINGS,
        )


_open = threading.local()  # per thread: path -> (connection, inode of the file it opened)


def _connection(path: Path) -> sqlite3.Connection:
    """This thread's connection to `path`, opened (and the database seeded) once; reopened
    when the file was replaced or deleted meanwhile (tests copy databases around)."""
    cache: dict[Path, tuple[sqlite3.Connection, int]] = _open.__dict__.setdefault("conns", {})
    cached = cache.get(path)
    try:
        inode = path.stat().st_ino
    except FileNotFoundError:
        inode = -1
    if cached is not None and cached[1] == inode:
        return cached[0]
    if cached is not None:
        cached[0].close()
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    _write_ahead(conn)
    _initialise(conn)
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")  # the seed in the file itself (copyable)
    cache[path] = (conn, path.stat().st_ino)
    return conn


@contextmanager
def connect() -> Iterator[sqlite3.Connection]:
    """The demo database (created and seeded if needed); commit on success, roll back on an
    error. The connection is kept for the next call (opening one and reading the schema cost
    more than the queries)."""
    conn = _connection(db_path())
    try:
        yield conn
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


def _plan_from_row(row: sqlite3.Row) -> Plan:
    return Plan(
        plan_id=row["plan_id"],
        name=row["name"],
        monthly_fee=float(row["monthly_fee"]),
        data_gb=float(row["data_gb"]),
        voice_minutes=int(row["voice_minutes"]),
        is_5g=bool(row["is_5g"]),
        description=row["description"],
    )


def list_plans() -> list[Plan]:
    with connect() as conn:
        rows = conn.execute("SELECT * FROM plans ORDER BY is_5g DESC, monthly_fee").fetchall()
    return [_plan_from_row(r) for r in rows]


def get_plan(name: str) -> Plan | None:
    with connect() as conn:
        row = conn.execute("SELECT * FROM plans WHERE name = ?", (name,)).fetchone()
    return _plan_from_row(row) if row else None


def get_customer(phone: str) -> Customer | None:
    with connect() as conn:
        row = conn.execute("SELECT * FROM customers WHERE phone = ?", (phone,)).fetchone()
        if row is None:
            return None
        plan_row = conn.execute("SELECT * FROM plans WHERE plan_id = ?", (row["plan_id"],))
        plan = _plan_from_row(plan_row.fetchone())
    return Customer(
        phone=row["phone"],
        name=row["name"],
        id_tail=row["id_tail"],
        vip_level=row["vip_level"],
        balance=float(row["balance"]),
        data_used_gb=float(row["data_used_gb"]),
        points=int(row["points"]),
        plan=plan,
        status=row["status"],
        city=row["city"],
    )


def bound_phone(channel: str | None, external_id: str) -> str | None:
    """The phone number the business bound to a WeChat/WeCom user, or None."""
    if not channel or not external_id:
        return None
    with connect() as conn:
        row = conn.execute(
            "SELECT phone FROM channel_bindings WHERE channel = ? AND external_id = ?",
            (channel, external_id),
        ).fetchone()
    return str(row["phone"]) if row else None


def bind(channel: str, external_id: str, phone: str) -> None:
    """Bind a WeChat/WeCom user to a customer's phone number (replacing an earlier binding)."""
    with connect() as conn:
        conn.execute(
            "INSERT INTO channel_bindings (channel, external_id, phone) VALUES (?, ?, ?) "
            "ON CONFLICT (channel, external_id) DO UPDATE SET phone = excluded.phone, "
            "bound_at = datetime('now', 'localtime')",
            (channel, external_id, phone),
        )


def get_bill(phone: str, month: str) -> Bill | None:
    """The bill of ``month`` (``YYYY-MM``), or None when it has not been issued."""
    with connect() as conn:
        row = conn.execute(
            "SELECT * FROM bills WHERE phone = ? AND month = ?", (phone, month)
        ).fetchone()
    if row is None:
        return None
    return Bill(
        month=row["month"],
        plan_fee=float(row["plan_fee"]),
        extra_fee=float(row["extra_fee"]),
        total=float(row["total"]),
        paid=bool(row["paid"]),
    )


def get_roaming_rate(country: str) -> RoamingRate | None:
    with connect() as conn:
        row = conn.execute("SELECT * FROM roaming_rates WHERE country = ?", (country,)).fetchone()
    if row is None:
        return None
    return RoamingRate(
        country=row["country"],
        code=row["code"],
        region=row["region"],
        daily_fee=float(row["daily_fee"]),
        daily_gb=float(row["daily_gb"]),
    )


def _number(prefix: str, row_id: int) -> str:
    return f"{prefix}{date.today():%Y%m%d}{row_id:06d}"


def _insert_order(
    conn: sqlite3.Connection, phone: str, order_type: str, detail: str, amount: float
) -> str:
    cursor = conn.execute(
        "INSERT INTO orders (phone, order_type, detail, amount) VALUES (?, ?, ?, ?)",
        (phone, order_type, detail, amount),
    )
    row_id = int(cursor.lastrowid or 0)
    prefixes = {"recharge": "CZ", "plan_change": "TC", "suspend": "GS", "restore": "FJ"}
    order_no = _number(prefixes[order_type], row_id)
    conn.execute("UPDATE orders SET order_no = ? WHERE id = ?", (order_no, row_id))
    return order_no


def recharge(phone: str, amount: float) -> tuple[str, float]:
    """Credit ``amount`` 元; returns (order number, new balance).

    A customer stopped for arrears is switched back on once the balance is no longer negative.
    """
    with connect() as conn:
        order_no = _insert_order(conn, phone, "recharge", f"话费充值{amount:.2f}元", amount)
        conn.execute("UPDATE customers SET balance = balance + ? WHERE phone = ?", (amount, phone))
        conn.execute(
            "UPDATE customers SET status = 'active' WHERE phone = ? AND status = 'arrears' "
            "AND balance >= 0",
            (phone,),
        )
        row = conn.execute("SELECT balance FROM customers WHERE phone = ?", (phone,)).fetchone()
    return order_no, float(row["balance"])


def create_plan_change(phone: str, plan: Plan) -> str:
    """Record a plan change effective next month; returns the order number."""
    with connect() as conn:
        return _insert_order(conn, phone, "plan_change", f"次月变更为{plan.name}", 0.0)


def create_work_order(phone: str, district: str, address: str, fault: str) -> str:
    """Create a broadband repair work order; returns the work-order number."""
    with connect() as conn:
        cursor = conn.execute(
            "INSERT INTO work_orders (phone, district, address, fault) VALUES (?, ?, ?, ?)",
            (phone, district, address, fault),
        )
        row_id = int(cursor.lastrowid or 0)
        wo_no = _number("GD", row_id)
        conn.execute("UPDATE work_orders SET wo_no = ? WHERE id = ?", (wo_no, row_id))
    return wo_no


def set_status(phone: str, status: str) -> str:
    """Suspend (``lost``) or restore (``active``) a line; returns the order number."""
    order_type = "suspend" if status == "lost" else "restore"
    detail = "挂失停机" if status == "lost" else "复机"
    with connect() as conn:
        conn.execute("UPDATE customers SET status = ? WHERE phone = ?", (status, phone))
        return _insert_order(conn, phone, order_type, detail, 0.0)


def count_work_orders(phone: str) -> int:
    with connect() as conn:
        row = conn.execute("SELECT COUNT(*) FROM work_orders WHERE phone = ?", (phone,)).fetchone()
    return int(row[0])
