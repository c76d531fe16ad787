"""The sliding-window rate limit the web chat applies per session."""

from __future__ import annotations

import time

import pytest

from channels.ratelimit import RateLimiter


def test_allows_up_to_the_limit_per_key() -> None:
    limiter = RateLimiter(3)
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b"), "another session has its own window"


def test_the_window_slides(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    limiter = RateLimiter(2, window=60.0)
    assert limiter.allow("a") and limiter.allow("a") and not limiter.allow("a")
    now[0] += 59.9
    assert not limiter.allow("a")
    now[0] += 0.2  # the first two hits left the window
    assert limiter.allow("a")


def test_idle_keys_are_pruned_beyond_max_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    limiter = RateLimiter(1, window=10.0, max_keys=2)
    limiter.allow("old-1")
    limiter.allow("old-2")
    now[0] = 20.0
    limiter.allow("new")  # three keys > max_keys: the idle ones go
    assert set(limiter._hits) == {"new"}
