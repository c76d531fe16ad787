"""Build a tracker store and its matching lock store from a URL, a config or Rasa's endpoints.

URLs, dispatched on their scheme through `BACKENDS` (add one with `register_backend`):
- `memory://` — in-process stores, for tests and `zhike shell`;
- `sqlite://` — `.zhike/trackers.db` under the project directory (the default);
- `sqlite:///relative/path.db` — relative to the project directory;
- `sqlite:////absolute/path.db` — absolute (SQLAlchemy's convention, as in Rasa's SQL store);
- `sqlite:///:memory:` — a private SQLite database, gone on close;
- `redis://…`, `postgresql://…` — reserved for extras that are not available yet.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

from bot.stores.base import StoreError, TrackerStore
from bot.stores.locks import FileLockStore, InMemoryLockStore, LockStore
from bot.stores.memory import InMemoryTrackerStore
from bot.stores.sqlite import SQLiteTrackerStore

DEFAULT_URL = "sqlite://"
DEFAULT_SQLITE_PATH = Path(".zhike") / "trackers.db"


@dataclass(frozen=True, slots=True)
class StoreConfig:
    url: str = DEFAULT_URL
    project_dir: Path = field(default_factory=Path.cwd)
    busy_timeout: float = 10.0  # seconds SQLite waits for another process's write lock
    lock_directory: Path | None = None  # default: the database's directory
    # other processes may run turns of the same conversations (--workers N): cross-process
    # locks; False keeps locks in memory (one server process owns its conversations)
    shared: bool = True


@dataclass(slots=True)
class Stores:
    trackers: TrackerStore
    locks: LockStore

    async def close(self) -> None:
        try:
            await self.trackers.close()
        finally:
            await self.locks.close()


Builder = Callable[[SplitResult, StoreConfig], Stores]


def _memory(url: SplitResult, config: StoreConfig) -> Stores:
    return Stores(InMemoryTrackerStore(), InMemoryLockStore())


def sqlite_path(url: SplitResult, project_dir: Path) -> Path | None:
    """The database file a sqlite URL names, or None for `:memory:`."""
    if url.netloc:
        raise StoreError(
            f"SQLite 地址 {url.geturl()} 格式不正确，请使用 sqlite:///相对路径 或 sqlite:////绝对路径。",
            f"malformed SQLite URL {url.geturl()!r}; use sqlite:///relative/path or "
            "sqlite:////absolute/path.",
        )
    rest = url.path[1:] if url.path.startswith("/") else url.path
    if rest == ":memory:":
        return None
    path = Path(rest) if rest else DEFAULT_SQLITE_PATH
    return path if path.is_absolute() else project_dir / path


def _sqlite(url: SplitResult, config: StoreConfig) -> Stores:
    path = sqlite_path(url, config.project_dir)
    if path is None:
        return Stores(SQLiteTrackerStore(":memory:", config.busy_timeout), InMemoryLockStore())
    trackers = SQLiteTrackerStore(path, config.busy_timeout)
    if not config.shared:
        return Stores(trackers, InMemoryLockStore())
    return Stores(trackers, FileLockStore(config.lock_directory or path.parent))


def _not_yet(extra: str) -> Builder:
    def build(url: SplitResult, config: StoreConfig) -> Stores:
        raise StoreError(
            f"暂不支持 {url.scheme}:// 存储：需要尚未发布的 zhike[{extra}] 扩展，"
            "目前请使用 sqlite:// 或 memory://。",
            f"{url.scheme}:// stores need the zhike[{extra}] extra, which is not available "
            "yet; use sqlite:// or memory:// for now.",
        )

    return build


BACKENDS: dict[str, Builder] = {
    "memory": _memory,
    "sqlite": _sqlite,
    "redis": _not_yet("redis"),
    "rediss": _not_yet("redis"),
    "postgresql": _not_yet("postgresql"),
    "postgres": _not_yet("postgresql"),
}


def register_backend(scheme: str, builder: Builder) -> None:
    """Plug in a store backend (e.g. from an extra) for URLs starting with `scheme://`."""
    BACKENDS[scheme.lower()] = builder


def url_from_endpoint(section: Mapping[str, Any] | None) -> str:
    """Translate the `tracker_store` section of Rasa's endpoints.yml into a store URL."""
    section = section or {}
    kind = str(section.get("type") or "in_memory").lower()
    if kind in ("in_memory", "memory"):
        return "memory://"
    if kind == "redis":
        host, port = section.get("url") or "localhost", section.get("port") or 6379
        return f"redis://{host}:{port}/{section.get('db') or 0}"
    if kind == "sql":
        dialect = str(section.get("dialect") or "sqlite").lower()
        db = str(section.get("db") or "")
        if dialect == "sqlite":
            return f"sqlite:///{db}" if db else DEFAULT_URL
        return f"{dialect}://{section.get('url') or 'localhost'}/{db}"
    return f"{kind}://"


def create_stores(
    url_or_config: str | StoreConfig | Mapping[str, Any] | None = None,
    project_dir: str | Path | None = None,
    shared: bool | None = None,
) -> Stores:
    """Tracker and lock stores for a URL, a StoreConfig or an endpoints.yml `tracker_store`."""
    config = _config(url_or_config)
    if project_dir is not None:
        config = replace(config, project_dir=Path(project_dir))
    if shared is not None:
        config = replace(config, shared=shared)
    url = urlsplit(config.url.strip())
    builder = BACKENDS.get(url.scheme.lower())
    if builder is None:
        known = ", ".join(f"{scheme}://" for scheme in sorted(BACKENDS))
        raise StoreError(
            f"无法识别的存储地址 {config.url!r}，支持的类型：{known}。",
            f"unknown store URL {config.url!r}; supported: {known}.",
        )
    return builder(url, config)


def _config(value: str | StoreConfig | Mapping[str, Any] | None) -> StoreConfig:
    if value is None:
        return StoreConfig()
    if isinstance(value, StoreConfig):
        return value
    if isinstance(value, str):
        return StoreConfig(url=value)
    return StoreConfig(url=url_from_endpoint(value))
