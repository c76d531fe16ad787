from __future__ import annotations

from bot.stores import InMemoryTrackerStore


async def test_close_drops_everything() -> None:
    store = InMemoryTrackerStore()
    await store.append("c", [{"event": "user", "text": "在吗"}], 0)
    assert await store.conversation_ids() == ["c"]
    await store.close()
    reopened = InMemoryTrackerStore()
    assert await reopened.load("c") is None  # nothing outlives a store instance
