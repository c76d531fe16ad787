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


async def test_load_tail_skips_a_known_prefix_only_while_it_is_valid(tmp_path: Path) -> None:
    async with SQLiteTrackerStore(tmp_path / "t.db") as store:
        assert await store.load_tail("c", 0, 0) is None
        await store.append("c", [user("一"), user("二")], expected_version=0)
        full = await store.load("c")
        assert full is not None and full.start == 0 and full.epoch != 0
        await store.append("c", [user("三")], expected_version=2)
        tail = await store.load_tail("c", 2, full.epoch)
        assert tail is not None and (tail.start, tail.version) == (2, 3)
        assert [e["text"] for e in tail.events] == ["三"]
        same = await store.load_tail("c", 3, full.epoch)
        assert same is not None and same.events == [] and same.start == 3
        stale = await store.load_tail("c", 2, full.epoch + 1)  # another epoch: everything
        assert stale is not None and stale.start == 0 and len(stale.events) == 3
        await store.replace("c", [user("新"), user("的"), user("历史")])
        rewritten = await store.load_tail("c", 3, full.epoch)
        assert rewritten is not None and rewritten.start == 0 and rewritten.epoch != full.epoch
        await store.delete("c")
        await store.append("c", [user("重新开始")] * 4, expected_version=0)
        reborn = await store.load_tail("c", 3, rewritten.epoch)
        assert reborn is not None and reborn.start == 0 and len(reborn.events) == 4


async def test_databases_from_schema_1_are_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE zhike_schema (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO zhike_schema VALUES (1)")
    conn.execute(
        "CREATE TABLE zhike_conversations (conversation_id TEXT PRIMARY KEY, version INTEGER "
        "NOT NULL, sender_id TEXT, channel TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL)"
    )
    conn.execute(
        "CREATE TABLE zhike_events (conversation_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT"
        " NOT NULL, timestamp REAL NOT NULL, data TEXT NOT NULL, PRIMARY KEY (conversation_id, seq))"
    )
    conn.execute("INSERT INTO zhike_conversations VALUES ('c', 1, NULL, NULL, 1.0, 1.0)")
    conn.execute(
        """INSERT INTO zhike_events VALUES ('c', 0, 'user', 1.0, '{"event":"user","text":"旧"}')"""
    )
    conn.commit()
    conn.close()
    async with SQLiteTrackerStore(path) as store:
        old = await store.load("c")
        assert old is not None and old.epoch == 0 and old.events[0]["text"] == "旧"
        await store.append("c", [user("新")], expected_version=1)
        tail = await store.load_tail("c", 1, 0)
        assert tail is not None and [e["text"] for e in tail.events] == ["新"]
