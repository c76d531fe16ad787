"""Hot-swappable access to the running engine (for `PUT /model` and `zhike train`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bot.engine import Engine
from bot.model import TrainedModel


@dataclass
class EngineHolder:
    """Channels and routes always go through `holder.engine`, never keep an Engine.

    `swap(model)` replaces the model between turns: a turn that already started finishes on
    the model it started with (it holds its own reference), the next turn uses the new one,
    and trackers, stores and the action runner are shared, so no conversation is dropped.
    """

    engine: Engine
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def swap(self, model: TrainedModel) -> Engine:
        async with self._lock:
            old = self.engine
            self.engine = Engine(
                model,
                old.trackers,
                old.locks,
                old.runner,
                old.kb,
                exclusive=old.exclusive,
                handoff=old.handoff,
            )
            return self.engine
