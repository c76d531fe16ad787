"""Keeping the garbage collector's full passes short in a long-running server.

A loaded model is ~300k Python objects and the engine's tracker cache adds more; a full
(generation 2) collection walks them all and stalls every turn in flight for 100–300 ms.
Objects that survived the young collections are mostly long-lived (cached trackers, their
events): moving them to the permanent generation (`gc.freeze`) keeps full passes down to
what was allocated since. Frozen objects are still freed by reference counting when dropped;
cyclic garbage among them waits for `settle()` (after a model swap, and every
`SETTLE_SECONDS`), which unfreezes and collects everything once (one ~100–200 ms pause).
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

FREEZE_CHECK_SECONDS = 1.0
SETTLE_SECONDS = 15 * 60


def settle() -> None:
    """Collect everything once, then freeze the survivors (start-up, after a model swap)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class HeapKeeper:
    """Freezes the survivors of older-generation collections, off the collector's path."""

    def __init__(self) -> None:
        self._pending = False

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "stop" and info.get("generation", 0) >= 1:
            self._pending = True

    async def run(self) -> None:
        gc.callbacks.append(self._on_gc)
        loop = asyncio.get_running_loop()
        next_settle = loop.time() + SETTLE_SECONDS
        try:
            while True:
                await asyncio.sleep(FREEZE_CHECK_SECONDS)
                if loop.time() >= next_settle:
                    settle()
                    next_settle = loop.time() + SETTLE_SECONDS
                elif self._pending:
                    self._pending = False
                    gc.freeze()
        finally:
            gc.callbacks.remove(self._on_gc)
