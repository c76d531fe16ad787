"""The TrackerStore contract, run against every store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.errors import ZhikeError
from bot.stores import (
    ConcurrencyConflict,
    ConversationMeta,
    InMemoryTrackerStore,
    SQLiteTrackerStore,
    StoreError,
    TrackerStore,
)
from bot.stores.base import encode_event


def user(text: str, ts: float = 1.0) -> dict[str, object]:
    return {"event": "user", "timestamp": ts, "text": text, "parse_data": {"intent": {}}}


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TrackerStore]:
    made: TrackerStore = (
        InMemoryTrackerStore()
        if request.param == "memory"
        else SQLiteTrackerStore(tmp_path / "t.db")
    )
    yield made
    await made.close()


async def test_unknown_conversation_is_none(store: TrackerStore) -> None:
    assert await store.load("nobody") is None
    assert await store.info("nobody") is None


async def test_append_keeps_order_and_counts_version(store: TrackerStore) -> None:
    assert await store.append("c1", [user("一"), user("二")], expected_version=0) == 2
    assert await store.append("c1", [user("三")], expected_version=2) == 3
    loaded = await store.load("c1")
    assert loaded is not None
    assert loaded.version == 3
    assert [e["text"] for e in loaded.events] == ["一", "二", "三"]


async def test_stale_version_raises_conflict_and_writes_nothing(store: TrackerStore) -> None:
    await store.append("c1", [user("a")], expected_version=0)
    with pytest.raises(ConcurrencyConflict) as caught:
        await store.append("c1", [user("b")], expected_version=0)
    assert (caught.value.expected, caught.value.actual) == (0, 1)
    assert isinstance(caught.value, ZhikeError)
    assert "会话" in str(caught.value) and "modified concurrently" in str(caught.value)
    with pytest.raises(ConcurrencyConflict):
        await store.append("new", [user("x")], expected_version=3)
    loaded = await store.load("c1")
    assert loaded is not None and loaded.version == 1
    assert await store.load("new") is None


async def test_concurrent_writers_exactly_one_wins(store: TrackerStore) -> None:
    await store.append("c", [user("0")], expected_version=0)
    results = await asyncio.gather(
        *(store.append("c", [user(str(i))], expected_version=1) for i in range(5)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, int) for r in results) == 1
    assert sum(isinstance(r, ConcurrencyConflict) for r in results) == 4


async def test_empty_append_only_checks_version(store: TrackerStore) -> None:
    assert await store.append("c", [], expected_version=0) == 0
    assert await store.load("c") is None
    with pytest.raises(ConcurrencyConflict):
        await store.append("c", [], expected_version=1)


async def test_replace_and_delete(store: TrackerStore) -> None:
    await store.append("c", [user("a"), user("b"), user("c")], expected_version=0)
    assert await store.replace("c", [user("新")]) == 1
    loaded = await store.load("c")
    assert loaded is not None and [e["text"] for e in loaded.events] == ["新"]
    assert await store.append("c", [user("after")], expected_version=1) == 2
    with pytest.raises(ConcurrencyConflict):
        await store.replace("c", [], expected_version=1)
    assert await store.replace("c", [], expected_version=2) == 0
    emptied = await store.load("c")
    assert emptied is not None and emptied.events == [] and emptied.version == 0
    await store.delete("c")
    await store.delete("c")  # idempotent
    assert await store.load("c") is None
    assert await store.conversation_ids() == []


async def test_chinese_and_emoji_round_trip(store: TrackerStore) -> None:
    event = {
        "event": "bot",
        "timestamp": 1.5,
        "text": "您好😊，请问有什么可以帮您？𠮷野家",
        "data": {"buttons": [{"title": "查询订单📦", "payload": '/查询{"单号":"ＡＢ１２"}'}]},
        "metadata": {"nested": [1, 2.5, None, True, "\u0000\u2028"]},
    }
    await store.append("用户-甲🙂", [event], expected_version=0)
    loaded = await store.load("用户-甲🙂")
    assert loaded is not None and loaded.events == [event]
    assert await store.conversation_ids() == ["用户-甲🙂"]


async def test_loaded_events_are_copies(store: TrackerStore) -> None:
    original = user("a")
    await store.append("c", [original], expected_version=0)
    original["text"] = "changed"
    first = await store.load("c")
    assert first is not None
    first.events[0]["text"] = "mutated"
    second = await store.load("c")
    assert second is not None and second.events[0]["text"] == "a"


async def test_meta_is_kept_and_only_overwritten_when_given(store: TrackerStore) -> None:
    await store.append("c", [user("a")], 0, ConversationMeta(sender_id="s1", channel="rest"))
    first = await store.info("c")
    assert first is not None
    assert (first.sender_id, first.channel, first.version) == ("s1", "rest", 1)
    await store.append("c", [user("b")], 1, ConversationMeta(channel="wechat"))
    second = await store.info("c")
    assert second is not None
    assert (second.sender_id, second.channel, second.version) == ("s1", "wechat", 2)
    assert second.created_at == first.created_at <= second.updated_at


async def test_conversation_ids_page_in_sorted_order(store: TrackerStore) -> None:
    for cid in ["b", "a", "d", "c"]:
        await store.append(cid, [user(cid)], expected_version=0)
    assert await store.conversation_ids() == ["a", "b", "c", "d"]
    assert await store.conversation_ids(limit=2, offset=1) == ["b", "c"]
    assert await store.conversation_ids(limit=10, offset=4) == []
    with pytest.raises(ValueError):
        await store.conversation_ids(limit=-1)


async def test_invalid_events_are_refused_whole(store: TrackerStore) -> None:
    await store.append("c", [user("a")], expected_version=0)
    bad_batches: list[list[dict[str, object]]] = [
        [user("ok"), {"text": "no event key"}],
        [{"event": "user", "blob": object()}],
        [{"event": "user", "timestamp": float("nan")}],
    ]
    for batch in bad_batches:
        with pytest.raises(StoreError):
            await store.append("c", batch, expected_version=1)
    loaded = await store.load("c")
    assert loaded is not None and loaded.version == 1


async def test_closed_store_refuses_calls(store: TrackerStore) -> None:
    await store.close()
    await store.close()
    with pytest.raises(StoreError):
        await store.load("c")


def test_encode_event_uses_own_timestamp_or_now() -> None:
    assert encode_event({"event": "user", "timestamp": 12}).timestamp == 12.0
    stamped = encode_event({"event": "action", "timestamp": True}, now=99.0)
    assert stamped.timestamp == 99.0 and stamped.type == "action"
    assert encode_event({"event": "bot", "text": "你好"}).data == '{"event":"bot","text":"你好"}'
