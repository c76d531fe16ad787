"""Access-token cache: memory and SQLite stores, double-checked refresh, cross-worker lock."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from channels.wechat.tokens import (
    AccessToken,
    CachedToken,
    MemoryTokenStore,
    SQLiteTokenStore,
    TokenStore,
)

ROOT = Path(__file__).resolve().parents[3]


class Fetcher:
    """A token endpoint: counts fetches, answers token-1, token-2, … after `delay`."""

    def __init__(self, expires_in: int = 7200, delay: float = 0.05) -> None:
        self.count, self.expires_in, self.delay = 0, expires_in, delay

    async def __call__(self) -> tuple[str, int]:
        self.count += 1
        value = f"token-{self.count}"
        await asyncio.sleep(self.delay)
        return value, self.expires_in


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "tokens.db"


async def test_cached_until_margin_then_refetched() -> None:
    clock, fetch = Clock(), Fetcher(expires_in=7200)
    token = AccessToken("oa:x", fetch, MemoryTokenStore(), clock=clock, margin=300)
    assert await token.get() == "token-1"
    clock.now += 7200 - 301
    assert await token.get() == "token-1"
    clock.now += 2  # now within the margin
    assert await token.get() == "token-2"
    assert fetch.count == 2


async def test_concurrent_gets_fetch_once() -> None:
    fetch = Fetcher()
    token = AccessToken("oa:x", fetch, MemoryTokenStore())
    values = await asyncio.gather(*(token.get() for _ in range(20)))
    assert set(values) == {"token-1"}
    assert fetch.count == 1


async def test_refresh_of_a_stale_token_fetches_once_for_all() -> None:
    fetch = Fetcher()
    token = AccessToken("oa:x", fetch, MemoryTokenStore())
    stale = await token.get()
    values = await asyncio.gather(*(token.refresh(stale) for _ in range(10)))
    assert set(values) == {"token-2"}
    assert fetch.count == 2
    # a refresh naming an older token than the current one does not fetch again
    assert await token.refresh(stale) == "token-2"
    assert fetch.count == 2


async def test_store_invalidate_only_matching_value() -> None:
    store: TokenStore = MemoryTokenStore()
    await store.put("k", CachedToken("a", 10.0))
    await store.invalidate("k", "b")
    assert await store.get("k") == CachedToken("a", 10.0)
    await store.invalidate("k", "a")
    assert await store.get("k") is None


async def test_failed_fetch_releases_the_lock() -> None:
    calls = 0

    async def flaky() -> tuple[str, int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("token endpoint down")
        return "ok-token", 7200

    token = AccessToken("oa:x", flaky, MemoryTokenStore())
    with pytest.raises(RuntimeError):
        await token.get()
    assert await asyncio.wait_for(token.get(), 1.0) == "ok-token"


async def test_sqlite_store_roundtrip_and_invalidate(sqlite_path: Path) -> None:
    store = SQLiteTokenStore(sqlite_path)
    as_protocol: TokenStore = store  # statically checked
    try:
        assert await as_protocol.get("k") is None
        await store.put("k", CachedToken("v1", 123.5))
        assert await store.get("k") == CachedToken("v1", 123.5)
        await store.invalidate("k", "other")
        assert await store.get("k") == CachedToken("v1", 123.5)
        await store.invalidate("k", "v1")
        assert await store.get("k") is None
    finally:
        await store.close()


async def test_two_workers_on_one_sqlite_file_fetch_once(sqlite_path: Path) -> None:
    """Two stores over the same file (two workers), each with its own AccessToken."""
    fetch = Fetcher(delay=0.1)
    stores = [SQLiteTokenStore(sqlite_path), SQLiteTokenStore(sqlite_path)]
    tokens = [AccessToken("oa:x", fetch, s) for s in stores]
    try:
        values = await asyncio.gather(*(tokens[i % 2].get() for i in range(20)))
        assert set(values) == {"token-1"}
        assert fetch.count == 1
        # a 40001 seen by both workers with the same stale token: one refetch
        refreshed = await asyncio.gather(tokens[0].refresh("token-1"), tokens[1].refresh("token-1"))
        assert list(refreshed) == ["token-2", "token-2"]
        assert fetch.count == 2
    finally:
        for store in stores:
            await store.close()


async def test_expired_lease_of_a_dead_holder_is_taken_over(sqlite_path: Path) -> None:
    holder = SQLiteTokenStore(sqlite_path, lease_ttl=0.2)
    other = SQLiteTokenStore(sqlite_path, lease_ttl=0.2)
    entered = asyncio.Event()

    async def hold_forever() -> None:
        async with holder.lock("k"):
            entered.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(hold_forever())
    try:
        await entered.wait()
        started = time.monotonic()
        async with other.lock("k"):
            waited = time.monotonic() - started
        assert 0.1 <= waited < 2.0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await holder.close()
        await other.close()


WORKER = textwrap.dedent(
    """
    import asyncio, sys, time
    from pathlib import Path
    from channels.wechat.tokens import AccessToken, SQLiteTokenStore

    db, log, start = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])

    async def fetch():
        with log.open("a") as f:
            f.write("fetch\\n")
        await asyncio.sleep(0.3)
        return "shared-token", 7200

    async def main():
        store = SQLiteTokenStore(db)
        await asyncio.sleep(max(0.0, start - time.time()))
        print(await AccessToken("oa:x", fetch, store).get())
        await store.close()

    asyncio.run(main())
    """
)


def test_worker_processes_share_one_fetch(tmp_path: Path) -> None:
    db, log = tmp_path / "tokens.db", tmp_path / "fetches.log"
    start = time.time() + 0.6  # all processes ask at the same moment
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(db), str(log), str(start)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=30)[0].strip() for p in procs]
    assert outputs == ["shared-token"] * 3
    assert log.read_text().count("fetch") == 1
