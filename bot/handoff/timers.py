"""No customer waits forever: the once-a-second sweep over active handoffs.

- queued longer than `timeouts.queue` → apology and a ticket (工单);
- offered (assigned) and not accepted within `timeouts.accept` → back in the queue, and the
  agent goes to the end of the idle order;
- the agent's console gone for `timeouts.agent_lost` → the chat goes back to the queue;
- no message either way for `timeouts.idle` while with an agent → ended;
- a waiting customer hears their position/ETA every `timeouts.position_every` when it changed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from bot.dialogue.events import Event
from bot.handoff import machine
from bot.handoff.errors import HandoffError
from bot.handoff.service import HandoffService
from bot.handoff.texts import eta_text
from bot.handoff.types import AgentPresence, Handoff, State
from bot.handoff.views import queue_positions

log = logging.getLogger(__name__)


class Sweeper:
    def __init__(self, service: HandoffService) -> None:
        self.service = service
        self.told: dict[str, tuple[int, float]] = {}  # handoff_id → (position, when told)
        self.places: dict[str, int] = {}  # queue positions as of this sweep
        # handoff_id → (state at the last sweep, when its current wait in the queue began)
        self.seen: dict[str, tuple[State, float]] = {}

    async def run(self, every: float = 1.0) -> None:
        await self.service.refresh()
        while True:
            await asyncio.sleep(every)
            try:
                await self.sweep()
            except Exception:
                log.exception("handoff sweep failed")

    async def sweep(self) -> None:
        svc = self.service
        now = svc.clock()
        presences = {p.agent_id: p for p in await svc.store.presences()}
        active = await svc.store.active()
        self.places = queue_positions(active)  # one pass instead of a query per customer
        for h in active:
            self._note(h, now)
            try:
                await self._check(h, now, presences)
            except HandoffError as exc:  # changed meanwhile (another worker): next sweep
                log.debug("handoff %s: %s", h.handoff_id, exc.en)
        await svc.dispatch()
        self.places = {}
        live = {h.handoff_id for h in active}
        self.told = {k: v for k, v in self.told.items() if k in live}
        self.seen = {k: v for k, v in self.seen.items() if k in live}

    def _note(self, h: Handoff, now: float) -> None:
        """Remember when the current wait began: `queued_at` keeps the customer's place in the
        queue, but after a chat with an agent (transfer, agent lost) the wait starts again."""
        previous = self.seen.get(h.handoff_id)
        if previous is None:
            since = h.queued_at
        elif previous[0] == State.WITH_AGENT and h.state != State.WITH_AGENT:
            since = now
        else:
            since = previous[1]
        self.seen[h.handoff_id] = (h.state, since)

    def waited(self, h: Handoff, now: float) -> float:
        return now - self.seen.get(h.handoff_id, (h.state, h.queued_at))[1]

    async def _check(self, h: Handoff, now: float, presences: dict[str, AgentPresence]) -> None:
        timeouts = self.service.settings.timeouts
        presence = presences.get(h.agent_id or "")
        lost = presence is not None and not presence.online
        if h.state == State.QUEUED:
            if timeouts.queue and self.waited(h, now) >= timeouts.queue:
                await self.to_ticket(h, now)
            else:
                await self.tell_position(h, now)
        elif lost and presence and now - presence.last_seen >= timeouts.agent_lost:
            # only a customer who was talking to the agent is told the connection dropped
            notice = "utter_handoff_requeued" if h.state == State.WITH_AGENT else None
            await self.requeue(h, "agent_lost", notice)
        elif h.state == State.ASSIGNED and now - (h.assigned_at or now) >= timeouts.accept:
            await self.requeue(h, "no_answer", None)
            await self.service.touch_agent(h.agent_id or "", now)
        elif h.state == State.WITH_AGENT and timeouts.idle:
            last = self.service.last_activity.setdefault(h.handoff_id, now)
            if now - last >= timeouts.idle:
                await self.service.finish(h, "idle", "timeout", "utter_handoff_idle_ended")

    async def requeue(self, h: Handoff, event: str, notice: str | None) -> None:
        svc = self.service
        h = await svc.transition(h, event)
        events: list[Event] = [svc.state_event(h, cause=event)]
        if notice:
            events.append(svc.notice(notice))
        await svc.record(h, events)

    async def to_ticket(self, h: Handoff, now: float) -> None:
        """The handoff becomes a ticket: the state first (compare-and-set), so a conversation an
        agent took meanwhile leaves no stray ticket behind, then the numbered ticket."""
        svc = self.service
        changed = replace(machine.apply(h, "timeout", now), ended_by="timeout")
        h = await svc.save_checked(changed)
        ticket = await svc.new_ticket(h, now)
        h = await svc.save_checked(replace(h, ticket_no=ticket.ticket_no))
        notice = svc.notice("utter_handoff_ticket_timeout", ticket_no=ticket.ticket_no)
        await svc.record(h, [svc.state_event(h, cause="timeout"), notice])

    async def tell_position(self, h: Handoff, now: float) -> None:
        """Every `position_every` seconds, when the position changed since the customer last
        heard it (first on joining the queue)."""
        every = self.service.settings.timeouts.position_every
        if not every:
            return
        position = self.places.get(h.handoff_id) or await self.service.position(h)
        told = self.told.get(h.handoff_id)
        if told is None and now - h.queued_at < every:
            # just queued: the customer was told the position on joining
            self.told[h.handoff_id] = (position, h.queued_at)
            return
        last_position, when = told or (0, h.queued_at)
        if now - when < every or position == last_position:
            return
        self.told[h.handoff_id] = (position, now)
        eta = eta_text(await self.service.eta(position, h.skill_group))
        notice = self.service.notice("utter_handoff_position", position=position, eta=eta)
        await self.service.record(h, [notice])
