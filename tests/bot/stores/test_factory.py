from __future__ import annotations

from pathlib import Path
from urllib.parse import SplitResult

import pytest

from bot.errors import ZhikeError
from bot.stores import (
    BACKENDS,
    FileLockStore,
    InMemoryLockStore,
    InMemoryTrackerStore,
    SQLiteTrackerStore,
    StoreConfig,
    Stores,
    create_stores,
    register_backend,
    url_from_endpoint,
)


async def test_default_is_sqlite_under_project_dir(tmp_path: Path) -> None:
    stores = create_stores(project_dir=tmp_path)
    assert isinstance(stores.trackers, SQLiteTrackerStore)
    assert isinstance(stores.locks, FileLockStore)
    assert stores.trackers.path == str(tmp_path / ".zhike" / "trackers.db")
    await stores.trackers.append("c", [{"event": "user", "text": "你好"}], 0)
    assert (tmp_path / ".zhike" / "trackers.db").exists()
    assert (tmp_path / ".zhike" / "conversations.lock").exists()
    await stores.close()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///data/t.db", "{root}/data/t.db"),
        ("sqlite:////abs/t.db", "/abs/t.db"),
        ("sqlite://", "{root}/.zhike/trackers.db"),
    ],
)
async def test_sqlite_urls(tmp_path: Path, url: str, expected: str) -> None:
    stores = create_stores(StoreConfig(url=url, project_dir=tmp_path))
    assert isinstance(stores.trackers, SQLiteTrackerStore)
    assert stores.trackers.path == expected.format(root=tmp_path)
    await stores.close()


async def test_memory_urls(tmp_path: Path) -> None:
    stores = create_stores("memory://")
    assert isinstance(stores.trackers, InMemoryTrackerStore)
    assert isinstance(stores.locks, InMemoryLockStore)
    private = create_stores("sqlite:///:memory:", project_dir=tmp_path)
    assert isinstance(private.locks, InMemoryLockStore)
    assert await private.trackers.append("c", [{"event": "user"}], 0) == 1
    assert not list(tmp_path.iterdir())
    await stores.close()
    await private.close()


@pytest.mark.parametrize(
    ("url", "extra"),
    [("redis://localhost:6379/0", "zhike[redis]"), ("postgresql://db/zhike", "zhike[postgresql]")],
)
def test_future_backends_name_their_extra(url: str, extra: str) -> None:
    with pytest.raises(ZhikeError, match=extra.replace("[", r"\[").replace("]", r"\]")) as caught:
        create_stores(url)
    assert "暂不支持" in str(caught.value)


def test_unknown_scheme_lists_supported() -> None:
    with pytest.raises(ZhikeError, match="sqlite://"):
        create_stores("mongodb://x")
    with pytest.raises(ZhikeError, match="sqlite:///"):
        create_stores("sqlite://host/t.db")


def test_rasa_endpoint_sections() -> None:
    assert url_from_endpoint(None) == "memory://"
    assert url_from_endpoint({"type": "SQL", "dialect": "sqlite", "db": "rasa.db"}) == (
        "sqlite:///rasa.db"
    )
    assert url_from_endpoint({"type": "redis", "url": "r", "port": 6380, "db": 2}) == (
        "redis://r:6380/2"
    )
    assert url_from_endpoint({"type": "SQL", "dialect": "postgresql", "url": "pg", "db": "x"}) == (
        "postgresql://pg/x"
    )
    assert isinstance(create_stores({"type": "in_memory"}).trackers, InMemoryTrackerStore)


def test_register_backend_plugs_in_a_scheme() -> None:
    def build(url: SplitResult, config: StoreConfig) -> Stores:
        return Stores(InMemoryTrackerStore(), InMemoryLockStore())

    register_backend("Custom", build)
    try:
        assert isinstance(create_stores("custom://anything").trackers, InMemoryTrackerStore)
    finally:
        del BACKENDS["custom"]
