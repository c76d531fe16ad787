from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
import time
from pathlib import Path

import pytest

from bot.stores import ConcurrencyConflict, SQLiteTrackerStore, StoreError
from bot.stores.sqlite import SCHEMA_VERSION


def user(text: str) -> dict[str, object]:
    return {"event": "user", "timestamp": time.time(), "text": text}


async def test_persists_across_store_instances(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "trackers.db"
    async with SQLiteTrackerStore(path) as first:
        await first.append("c", [user("第一句"), user("第二句🎉")], expected_version=0)
    async with SQLiteTrackerStore(path) as second:
        loaded = await second.load("c")
        assert loaded is not None and loaded.version == 2
        assert [e["text"] for e in loaded.events] == ["第一句", "第二句🎉"]


async def test_two_open_stores_see_each_other_and_conflict(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    async with SQLiteTrackerStore(path) as a, SQLiteTrackerStore(path) as b:
        await a.append("c", [user("a")], expected_version=0)
        seen = await b.load("c")
        assert seen is not None and seen.version == 1
        await a.append("c", [user("a2")], expected_version=1)
        with pytest.raises(ConcurrencyConflict):
            await b.append("c", [user("b")], expected_version=seen.version)


async def test_schema_wal_and_raw_json(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    async with SQLiteTrackerStore(path) as store:
        await store.append("c", [{"event": "bot", "timestamp": 7.0, "text": "好的👌"}], 0)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT version FROM zhike_schema").fetchall() == [(SCHEMA_VERSION,)]
        row = conn.execute("SELECT seq, type, timestamp, data FROM zhike_events").fetchone()
        assert row == (0, "bot", 7.0, '{"event":"bot","timestamp":7.0,"text":"好的👌"}')
        conn.execute("UPDATE zhike_schema SET version = 99")
        conn.commit()
    finally:
        conn.close()
    store = SQLiteTrackerStore(path)
    with pytest.raises(StoreError, match="99"):
        await store.load("c")
    await store.close()


async def test_memory_database(tmp_path: Path) -> None:
    async with SQLiteTrackerStore(":memory:") as store:
        assert await store.append("c", [user("x")], 0) == 1
        assert await store.conversation_ids() == ["c"]


async def test_large_conversation_loads_without_blocking_loop(tmp_path: Path) -> None:
    events = [
        {"event": "user", "timestamp": float(i), "text": f"第{i}句话 😀"} for i in range(10_000)
    ]
    ticks = 0
    loading = True

    async def ticker() -> None:
        nonlocal ticks
        while loading:
            ticks += 1
            await asyncio.sleep(0)

    async with SQLiteTrackerStore(tmp_path / "t.db") as store:
        for start in range(0, len(events), 5_000):
            await store.append("big", events[start : start + 5_000], expected_version=start)
        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        ticks_before = ticks
        loaded = await store.load("big")
        loading = False
        await task
    assert loaded is not None and loaded.version == 10_000
    assert loaded.events[8_765] == events[8_765]
    assert ticks > ticks_before  # the event loop kept running during the load


def _append_worker(path: str, worker: int, count: int) -> None:
    async def run() -> None:
        async with SQLiteTrackerStore(path) as store:
            for i in range(count):
                while True:
                    current = await store.load("shared")
                    version = current.version if current else 0
                    try:
                        await store.append("shared", [user(f"{worker}-{i}")], version)
                        break
                    except ConcurrencyConflict:
                        await asyncio.sleep(0.001 * worker)

    asyncio.run(run())


def test_processes_appending_to_one_conversation_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "t.db")
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append_worker, args=(path, w, 25)) for w in range(1, 4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0

    async def check() -> None:
        async with SQLiteTrackerStore(path) as store:
            loaded = await store.load("shared")
            assert loaded is not None and loaded.version == 75
            texts = [e["text"] for e in loaded.events]
            assert sorted(texts) == sorted(f"{w}-{i}" for w in range(1, 4) for i in range(25))
            for w in range(1, 4):  # each worker's own events stay in its order
                mine = [t for t in texts if t.startswith(f"{w}-")]
                assert mine == [f"{w}-{i}" for i in range(25)]

    asyncio.run(check())
