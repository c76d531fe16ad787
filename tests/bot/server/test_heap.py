"""Heap settling: survivors are frozen, dropped objects are still freed."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from bot.server import heap


class Thing:
    pass


def test_settle_freezes_survivors_and_refcounting_still_frees() -> None:
    keep = [Thing() for _ in range(100)]
    probe = Thing()
    ref = weakref.ref(probe)
    try:
        heap.settle()
        assert gc.get_freeze_count() > len(keep)
        del probe
        assert ref() is None  # frozen, yet freed when its last reference goes
    finally:
        gc.unfreeze()


async def test_keeper_freezes_after_an_older_generation_collection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(heap, "FREEZE_CHECK_SECONDS", 0.01)
    gc.unfreeze()
    keeper = heap.HeapKeeper()
    task = asyncio.create_task(keeper.run())
    try:
        await asyncio.sleep(0.02)
        gc.collect(1)
        for _ in range(50):
            await asyncio.sleep(0.01)
            if gc.get_freeze_count():
                break
        assert gc.get_freeze_count() > 0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        gc.unfreeze()
