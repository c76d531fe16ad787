"""In-process fan-out of handoff changes to the agent consoles connected to this worker.

Each console subscribes with the agent it is logged in as; `publish` hands every event to
every subscriber whose agent may see it (its own chats, its groups; supervisors see all).
A slow console never blocks the others: its queue is bounded and it is told to resync.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bot.handoff.routing import serves
from bot.handoff.types import Agent, ChatLine, Handoff

QUEUE_SIZE = 500


@dataclass(slots=True)
class ConsoleEvent:
    kind: str  # handoff (a change of state/group/agent) | line (a chat line) | stats | resync
    handoff: Handoff | None = None
    line: ChatLine | None = None
    created: float = 0.0  # perf_counter() at publish (for latency measurements)


@dataclass(eq=False)
class Subscription:
    agent: Agent
    queue: asyncio.Queue[ConsoleEvent] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    overflowed: bool = False

    def visible(self, handoff: Handoff | None) -> bool:
        if handoff is None:
            return True
        return handoff.agent_id == self.agent.agent_id or serves(self.agent, handoff.skill_group)

    def offer(self, event: ConsoleEvent) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True


class Bus:
    def __init__(self) -> None:
        self._subs: set[Subscription] = set()

    def subscribe(self, agent: Agent) -> Subscription:
        sub = Subscription(agent)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def online(self, agent_id: str) -> bool:
        return any(s.agent.agent_id == agent_id for s in self._subs)

    def publish(self, event: ConsoleEvent) -> None:
        for sub in list(self._subs):
            if sub.visible(event.handoff):
                sub.offer(event)

    def __len__(self) -> int:
        return len(self._subs)
