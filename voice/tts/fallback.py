"""Primary engine with an offline stand-in: a caller never waits long for a voice prompt.

`FallbackEngine(primary, offline, switch_after=0.5)` asks the primary first. If it fails, or
has not produced its first audio byte within `switch_after` seconds, the primary is abandoned
and the offline engine speaks instead, so the caller hears something within about
`switch_after` plus the offline engine's own time. A primary that failed (or was too slow) is
skipped for `cooldown` seconds: later calls go straight to the offline engine, then the primary
is tried again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from voice.tts.base import Speech, TtsEngine, TtsError, Voice, first_byte_listener, time_left

log = logging.getLogger("zhike.tts")


class FallbackEngine(TtsEngine):
    """`primary` unless it fails or is slow to start; then `offline`."""

    retries = 0  # the inner engines retry on their own
    offline_reserve = 1.0  # seconds of the budget kept for the offline engine

    def __init__(
        self,
        primary: TtsEngine,
        offline: TtsEngine,
        switch_after: float = 0.5,
        *,
        cooldown: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        if switch_after <= 0 or cooldown < 0:
            raise ValueError("switch_after must be positive and cooldown not negative")
        self.primary, self.offline = primary, offline
        self.switch_after, self.cooldown = switch_after, cooldown
        self.name = f"{primary.name}|{offline.name}"
        self._clock = clock
        self._down_until = 0.0
        self.switches = 0  # calls answered by the offline engine

    @property
    def primary_down(self) -> bool:
        """True while the primary is in its cool-down after a failure."""
        return self._clock() < self._down_until

    def cache_names(self) -> tuple[str, ...]:
        names = self.primary.cache_names()
        if self.primary_down:  # the offline engine's cached audio will do meanwhile
            return names + self.offline.cache_names()
        return names

    async def _synthesize_impl(self, text: str, voice: Voice) -> Speech:
        if not self.primary_down:
            try:
                return await self._try_primary(text, voice)
            except TtsError as exc:
                self._mark_down(exc)
        self.switches += 1
        return await self.offline.synthesize(text, voice, timeout=_positive(time_left(10.0)))

    async def _try_primary(self, text: str, voice: Voice) -> Speech:
        started = asyncio.Event()
        total = time_left(10.0)
        budget = total - min(self.offline_reserve, total * 0.2)  # leave the offline engine time
        task = asyncio.create_task(self._primary_call(text, voice, budget, started.set))
        try:
            await asyncio.wait_for(_first_of(task, started), self.switch_after)
        except TimeoutError:
            await _cancel(task)
            raise TtsError(
                f"主语音引擎 {self.primary.name} 在 {self.switch_after:g} 秒内没有出声",
                f"primary engine {self.primary.name} gave no audio within {self.switch_after:g}s",
            ) from None
        except BaseException:
            await _cancel(task)
            raise
        try:
            return await task  # started or finished: wait for the whole prompt
        except BaseException:
            await _cancel(task)
            raise

    async def _primary_call(
        self, text: str, voice: Voice, budget: float, on_first_byte: Callable[[], None]
    ) -> Speech:
        with first_byte_listener(on_first_byte):
            return await self.primary.synthesize(text, voice, timeout=_positive(budget))

    def _mark_down(self, exc: TtsError) -> None:
        self._down_until = self._clock() + self.cooldown
        log.warning(
            "tts: %s unavailable (%s); using %s for the next %gs",
            self.primary.name,
            exc,
            self.offline.name,
            self.cooldown,
        )


async def _first_of(task: asyncio.Task[Speech], started: asyncio.Event) -> None:
    """Return when the task finished or its first audio byte arrived."""
    waiter = asyncio.ensure_future(started.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()


async def _cancel(task: asyncio.Task[Speech]) -> None:
    if task.done():
        if not task.cancelled():
            task.exception()  # retrieved: no "exception was never retrieved" warning
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


def _positive(seconds: float) -> float:
    return max(seconds, 0.001)
