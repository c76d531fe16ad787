"""First come, first served admission of turns into the engine.

One worker runs every turn on one event loop. A turn yields a few times (its SQLite append on
the store's thread, custom actions, the handoff store); with no bound, each time it resumes
it queues behind the CPU of every turn that arrived meanwhile, so under load all turns in
flight slow each other down (round robin) and the tail grows. `TurnGate` lets `slots` turns
into the engine at once and queues the others in arrival order, so a turn that started
finishes first. A turn waits at most `max_wait` seconds for a slot and then runs anyway: a
turn stuck on a slow action server cannot hold the others up for longer, and a turn started
from inside another turn can never deadlock.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.engine import Engine
    from bot.server.settings import Settings

REMOTE_ACTION_SLOTS = 8  # turns at once when custom actions run in a remote action server


class TurnGate:
    def __init__(self, slots: int = 1, max_wait: float = 0.1) -> None:
        if slots < 1 or max_wait < 0:
            raise ValueError("TurnGate needs slots >= 1 and max_wait >= 0")
        self.slots, self.max_wait = slots, max_wait
        self.busy = 0  # slots held
        self.bypassed = 0  # turns that ran without a slot after waiting max_wait
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return sum(1 for w in self._waiters if not w.done())

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[float]:
        """Hold a slot (or give up waiting after `max_wait`) for the body; yields the seconds
        spent waiting."""
        started = time.perf_counter()
        held = await self._acquire()
        try:
            yield time.perf_counter() - started
        finally:
            if held:
                self._release()

    async def _acquire(self) -> bool:
        if self.busy < self.slots and not self.waiting:
            self.busy += 1
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self.max_wait):
                await waiter
        except TimeoutError:
            if waiter.done() and not waiter.cancelled():
                return True  # handed a slot just as the wait ran out
            self.bypassed += 1
            return False
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # handed a slot, but the turn is gone: pass it on
            raise
        return True

    def _release(self) -> None:
        """Hand the slot to the longest-waiting turn still waiting, or free it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.busy -= 1


def turn_slots(settings: Settings, engine: Engine) -> int:
    """`turn_concurrency`, or when it is 0 (automatic): one turn at a time with in-process
    actions (every await is short; interleaving only delays everyone), several with a remote
    action server (a turn waiting on the network should not keep the CPU idle)."""
    if settings.turn_concurrency:
        return settings.turn_concurrency
    from bot.dialogue.custom_actions import HTTPActionRunner

    return REMOTE_ACTION_SLOTS if isinstance(engine.runner, HTTPActionRunner) else 1
