"""The WeChat channels' shared state: claims, cursors, values and leases, across connections."""

from __future__ import annotations

from pathlib import Path

from channels.wechat.state import ChannelState


async def test_a_key_is_claimed_once_even_by_another_worker(tmp_path: Path) -> None:
    one, two = ChannelState(tmp_path / "w.db"), ChannelState(tmp_path / "w.db")
    assert await one.claim("wechat", "m1")
    assert not await two.claim("wechat", "m1")
    assert not await one.claim("wechat", "m1")
    assert await two.claim("wecom", "m1")  # scopes are separate
    await one.close()
    await two.close()


async def test_old_claims_are_pruned(tmp_path: Path) -> None:
    now = [1000.0]
    state = ChannelState(tmp_path / "w.db", keep=60, clock=lambda: now[0])
    assert await state.claim("wechat", "old")
    now[0] += 7200  # beyond `keep`, and an hour since the last pruning
    assert await state.claim("wechat", "new")
    assert await state.claim("wechat", "old")  # forgotten, so claimable again
    await state.close()


async def test_cursor_survives_a_restart(tmp_path: Path) -> None:
    state = ChannelState(tmp_path / "w.db")
    assert await state.cursor("kf:wk1") is None
    await state.save_cursor("kf:wk1", "c-1")
    await state.save_cursor("kf:wk1", "c-2")
    await state.close()
    again = ChannelState(tmp_path / "w.db")
    assert await again.cursor("kf:wk1") == "c-2"
    await again.close()


async def test_values_are_remembered_and_forgotten() -> None:
    state = ChannelState(None)
    await state.remember("wecom-state", "wm1", "2")
    assert await state.recall("wecom-state", "wm1") == "2"
    await state.remember("wecom-state", "wm1", None)
    assert await state.recall("wecom-state", "wm1") is None
    await state.close()


async def test_lease_is_exclusive_until_released_or_expired(tmp_path: Path) -> None:
    now = [0.0]
    a = ChannelState(tmp_path / "w.db", clock=lambda: now[0])
    b = ChannelState(tmp_path / "w.db", clock=lambda: now[0])
    assert await a.lease("pull", "worker-a", ttl=30)
    assert not await b.lease("pull", "worker-b", ttl=30)
    assert await a.lease("pull", "worker-a", ttl=30)  # renewing
    await a.release("pull", "worker-a")
    assert await b.lease("pull", "worker-b", ttl=30)
    now[0] += 31  # b crashed: its lease lapses
    assert await a.lease("pull", "worker-a", ttl=30)
    await a.close()
    await b.close()
