"""TrackerCache: only clean trackers are kept, least recently used leave first."""

from __future__ import annotations

from bot.dialogue.events import UserUttered
from bot.dialogue.tracker import Tracker
from bot.dialogue.tracker_cache import TrackerCache


def stored(conversation_id: str, *texts: str) -> Tracker:
    events = [UserUttered(text=t) for t in texts]
    return Tracker(conversation_id, {}, events, version=len(events))


def test_take_removes_and_returns_clean_trackers() -> None:
    cache = TrackerCache(4)
    tracker = stored("a", "你好")
    cache.put(tracker)
    assert cache.take("a") is tracker
    assert cache.take("a") is None  # a running turn owns it until it is put back


def test_dirty_trackers_are_never_cached_or_returned() -> None:
    cache = TrackerCache(4)
    tracker = stored("a", "你好")
    tracker.update(UserUttered(text="未保存"))
    cache.put(tracker)
    assert len(cache) == 0
    clean = stored("b", "你好")
    cache.put(clean)
    clean.update(UserUttered(text="后来改的"))
    assert cache.take("b") is None


def test_least_recently_used_is_evicted() -> None:
    cache = TrackerCache(2)
    for name in ("a", "b"):
        cache.put(stored(name, "x"))
    cache.put(stored("a", "x"))  # a is fresh again
    cache.put(stored("c", "x"))
    assert cache.take("b") is None
    assert cache.take("a") is not None and cache.take("c") is not None


def test_zero_capacity_disables_caching() -> None:
    cache = TrackerCache(0)
    cache.put(stored("a", "x"))
    assert cache.take("a") is None
