"""The handoff service: opens handoffs from turns, lets agents accept, chat, transfer, end and
rate, and keeps every change in three places at once — the handoff store (the truth, shared
by workers), the conversation's tracker (`handoff` / `handoff_state` events and the messages,
through `inject`) and the agent consoles (`bus`). Timeouts live in `bot.handoff.timers`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from bot.dialogue.events import BotUttered, Event, HandoffStateChanged
from bot.dialogue.events import Handoff as HandoffEvent
from bot.dialogue.tracker import Tracker
from bot.handoff import machine
from bot.handoff.agents import AgentDirectory
from bot.handoff.bus import Bus, ConsoleEvent
from bot.handoff.config import HandoffSettings
from bot.handoff.context import KBSuggestion, build_context
from bot.handoff.customers import CustomerDirectory
from bot.handoff.errors import HandoffError
from bot.handoff.routing import Candidate, pick_agent, serves
from bot.handoff.store import HandoffConflict, HandoffStore
from bot.handoff.texts import TEXTS, eta_text, survey_prompt
from bot.handoff.types import (
    Agent,
    AgentPresence,
    ChatLine,
    Customer,
    Handoff,
    Rating,
    State,
    Ticket,
)
from bot.messages import OutboundMessage

log = logging.getLogger(__name__)

Clock = Callable[[], float]
# append events to a conversation's tracker (under its lock); returns what to show the customer
Injector = Callable[[str, list[Event]], Awaitable[list[OutboundMessage]]]
# deliver messages to a customer on the channel the conversation came from
Delivery = Callable[[str, str, list[OutboundMessage]], Awaitable[None]]
MAX_AGENT_TEXT = 2000


class HandoffService:
    def __init__(
        self,
        settings: HandoffSettings,
        store: HandoffStore,
        *,
        clock: Clock = time.time,
        customers: CustomerDirectory | None = None,
        suggest: Callable[[str], list[KBSuggestion]] | None = None,
        categorize: Callable[[str], str | None] | None = None,
        responses: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.agents = AgentDirectory(settings.agents, store, settings.session_hours * 3600)
        self.customers = customers or CustomerDirectory(store, settings.difficult)
        self.suggest = suggest
        self.categorize = categorize  # question → KB category (for skill-group routing)
        self.texts = {**TEXTS, **(responses or {})}
        self.bus = Bus()
        self.inject: Injector | None = None
        self.deliver: Delivery | None = None
        # conversations with an active handoff (→ its state) or a pending survey; lets the
        # engine hook decide without a store read on ordinary turns
        self.active: dict[str, State] = {}
        self.surveys: set[str] = set()
        self.difficult: set[str] = set()  # customer ids flagged by agents' ratings
        self.native_channels: set[str] = set()  # platforms with their own agents: never queued
        self.phone_calls: set[str] = set()  # conversations a PBX queue staffs (SIP transfer)
        self.last_activity: dict[str, float] = {}  # handoff_id → last message either way
        self._tasks: set[asyncio.Task[Any]] = set()
        self._dispatch_lock = asyncio.Lock()

    # ------------------------------------------------------------ helpers
    def text(self, name: str, **values: Any) -> str:
        template = self.texts[name]
        try:
            return template.format(**values)
        except (KeyError, IndexError, ValueError):
            return template

    def notice(self, name: str, **values: Any) -> BotUttered:
        return BotUttered(text=self.text(name, **values), metadata={"handoff_notice": name})

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def refresh(self) -> None:
        """Reload which conversations have an active handoff (start-up, other workers)."""
        active = await self.store.active()
        self.active = {h.conversation_id: h.state for h in active}
        self.difficult = await self.store.difficult_customers()

    def track(self, handoff: Handoff) -> None:
        if handoff.active:
            self.active[handoff.conversation_id] = handoff.state
        else:
            self.active.pop(handoff.conversation_id, None)
        if handoff.survey_pending:
            self.surveys.add(handoff.conversation_id)
        else:
            self.surveys.discard(handoff.conversation_id)

    async def save(self, handoff: Handoff) -> Handoff:
        saved = await self.store.update(handoff)
        self.track(saved)
        self.bus.publish(ConsoleEvent("handoff", saved, created=time.perf_counter()))
        return saved

    async def record(self, handoff: Handoff, events: list[Event]) -> None:
        """Append events to the conversation outside a turn and deliver its messages."""
        if self.inject is None:
            return
        try:
            messages = await self.inject(handoff.conversation_id, events)
            if messages and self.deliver is not None:
                await self.deliver(handoff.channel, handoff.conversation_id, messages)
        except Exception:
            log.exception("could not record handoff change for %s", handoff.conversation_id)

    def state_event(self, h: Handoff, **detail: Any) -> HandoffStateChanged:
        extra = {k: v for k, v in detail.items() if v is not None}
        if h.agent_id and h.state in (State.ASSIGNED, State.WITH_AGENT):
            extra.setdefault("agent_id", h.agent_id)
        if h.ticket_no:
            extra.setdefault("ticket_no", h.ticket_no)
        return HandoffStateChanged(handoff_id=h.handoff_id, state=h.state.value, detail=extra)

    # ------------------------------------------------------------ queue figures
    async def position(self, h: Handoff) -> int:
        return await self.store.position(h) if h.state == State.QUEUED else 0

    async def candidates(self) -> list[Candidate]:
        presences = {p.agent_id: p for p in await self.store.presences()}
        out = []
        for agent in self.agents.agents.values():
            presence = presences.get(agent.agent_id)
            if presence is not None:
                out.append(Candidate(agent, presence, await self.store.load_of(agent.agent_id)))
        return out

    async def staffed(self, group: str) -> int:
        """Online agents serving `group` (0: nobody can take the conversation now)."""
        return sum(
            1 for c in await self.candidates() if c.presence.online and group in c.agent.groups
        )

    async def eta(self, position: int, group: str) -> float:
        slots = 0
        for c in await self.candidates():
            if c.presence.online and group in c.agent.groups:
                slots += c.agent.max_concurrent
        return math.ceil(position / max(1, slots)) * self.settings.handle_seconds

    # ------------------------------------------------------------ opening (inside a turn)
    async def open(self, tracker: Tracker, event: HandoffEvent, channel: str | None) -> list[Event]:
        """Queue the conversation (or leave a ticket); fills `event`'s id and group and returns
        the state change and what to tell the customer."""
        conversation = tracker.sender_id
        existing = await self.store.active_for(conversation)
        if existing is not None:
            event.handoff_id, event.skill_group = existing.handoff_id, existing.skill_group
            return [await self._already_queued(existing)]
        now = self.clock()
        customer = await self.customers.identify(tracker, channel)
        context = self._context(tracker, event.reason, customer)
        group = self.settings.routing.group_for(
            event.reason, _recent_intents(tracker), self._category(context), customer
        )
        handoff = Handoff(
            handoff_id=uuid.uuid4().hex[:16],
            conversation_id=conversation,
            channel=channel or "rest",
            sender_id=tracker.sender_id,
            customer_id=customer.customer_id,
            reason=event.reason,
            skill_group=group,
            state=State.QUEUED,
            priority=self.settings.routing.priority_for(customer),
            context=context,
        )
        event.handoff_id, event.skill_group = handoff.handoff_id, group
        if not self.settings.hours.is_open(now):
            return await self._ticket(handoff, now, "utter_handoff_ticket_closed")
        if conversation not in self.phone_calls and not await self.staffed(group):
            return await self._ticket(handoff, now, "utter_handoff_ticket_busy")
        return await self._enqueue(handoff, now)

    def _context(self, tracker: Tracker, reason: str, customer: Customer) -> dict[str, Any]:
        profile = self.customers.profile_lines(customer)
        packet = build_context(tracker, reason, profile=profile, suggest=self.suggest)
        return packet.to_dict()

    def _category(self, context: Mapping[str, Any]) -> str | None:
        question = context.get("summary", {}).get("unanswered")
        return self.categorize(str(question)) if question and self.categorize else None

    async def _enqueue(self, handoff: Handoff, now: float) -> list[Event]:
        created = await self.store.create(machine.start(handoff, "enqueue", now))
        self.track(created)
        self.last_activity[created.handoff_id] = now
        self.bus.publish(ConsoleEvent("handoff", created, created=time.perf_counter()))
        position = await self.position(created)
        eta = eta_text(await self.eta(position, created.skill_group))
        name = "utter_handoff_first" if position <= 1 else "utter_handoff_queued"
        text = self.text(name, group=created.skill_group, ahead=position - 1, eta=eta)
        self.spawn(self.dispatch())
        return [
            self.state_event(created, position=position),
            BotUttered(text=text, metadata={"handoff_notice": name}),
        ]

    async def new_ticket(self, h: Handoff, now: float) -> Ticket:
        """A numbered ticket (留言工单) for `h`, carrying the question the bot could not answer."""
        return await self.store.create_ticket(
            Ticket(
                ticket_no="",
                handoff_id=h.handoff_id,
                conversation_id=h.conversation_id,
                customer_id=h.customer_id,
                reason=h.reason,
                skill_group=h.skill_group,
                note=str(h.context.get("summary", {}).get("unanswered") or ""),
                created_at=now,
            )
        )

    async def _ticket(self, handoff: Handoff, now: float, name: str) -> list[Event]:
        started = machine.start(handoff, "ticket", now)
        ticket = await self.new_ticket(started, now)
        started.ticket_no = ticket.ticket_no
        created = await self.store.create(started)
        self.bus.publish(ConsoleEvent("handoff", created, created=time.perf_counter()))
        text = self.text(name, hours=self.settings.hours.describe(), ticket_no=ticket.ticket_no)
        return [self.state_event(created), BotUttered(text=text, metadata={"handoff_notice": name})]

    async def _already_queued(self, h: Handoff) -> BotUttered:
        if h.state != State.QUEUED:
            return self.notice("utter_handoff_connecting")
        position = await self.position(h)
        eta = eta_text(await self.eta(position, h.skill_group))
        return self.notice("utter_handoff_already_queued", position=position, eta=eta)

    # ------------------------------------------------------------ customer side (in a turn)
    async def cancel(self, conversation_id: str, attempts: int = 3) -> list[Event]:
        """The customer no longer wants to wait ("不用了"); retried when the dispatcher or an
        agent changed the handoff at the same moment."""
        for _ in range(attempts):
            h = await self.store.active_for(conversation_id)
            if h is None or h.state not in (State.QUEUED, State.ASSIGNED):
                return []
            changed = machine.apply(h, "cancel", self.clock())
            changed.ended_by = "customer"
            try:
                h = await self.save(changed)
            except HandoffConflict:
                continue
            return [self.state_event(h), self.notice("utter_handoff_cancelled")]
        return [self.notice("utter_handoff_connecting")]

    async def position_notice(self, conversation_id: str) -> list[Event]:
        h = await self.store.active_for(conversation_id)
        return [self.notice("utter_handoff_connecting")] if h is not None else []

    async def customer_message(self, conversation_id: str, text: str) -> Handoff | None:
        """A customer's message while the conversation is with (or offered to) an agent."""
        h = await self.store.active_for(conversation_id)
        if h is None:
            return None
        now = self.clock()
        self.last_activity[h.handoff_id] = now
        line = ChatLine("user", text, now)
        self.bus.publish(ConsoleEvent("line", h, line, created=time.perf_counter()))
        return h

    async def survey_answer(self, conversation_id: str, score: int | None) -> list[Event]:
        """The customer's 1–5 answer to the survey (None: they moved on without answering)."""
        self.surveys.discard(conversation_id)
        h = await self.store.latest_for(conversation_id)
        if h is None or not h.survey_pending:
            return []
        saved = await self.save(replace(h, survey_pending=False, survey_score=score))
        if score is None:
            return []
        event = self.state_event(saved, survey_score=score)
        return [event, self.notice("utter_handoff_survey_thanks")]

    # ------------------------------------------------------------ agent side
    async def visible(self, agent: Agent, handoff_id: str) -> Handoff:
        h = await self.store.get(handoff_id)
        if h is None:
            raise HandoffError(404, "not_found", "找不到该转人工会话。", "no such handoff")
        if h.agent_id != agent.agent_id and not serves(agent, h.skill_group):
            raise HandoffError(
                403,
                "not_your_group",
                "该会话不属于您的技能组，无权查看或处理。",
                "this conversation is outside your skill groups",
            )
        return h

    async def owned(self, agent: Agent, handoff_id: str) -> Handoff:
        h = await self.visible(agent, handoff_id)
        if h.agent_id != agent.agent_id or h.state != State.WITH_AGENT:
            raise HandoffError(
                403,
                "not_your_conversation",
                "您没有接起该会话，不能以坐席身份发送或结束。",
                "this conversation is not with you",
            )
        return h

    async def transition(self, h: Handoff, event: str, agent_id: str | None = None) -> Handoff:
        try:
            return await self.save(machine.apply(h, event, self.clock(), agent_id))
        except HandoffConflict as exc:
            raise HandoffError(
                409, "conflict", "该会话刚刚被其他人处理，请刷新后重试。", str(exc)
            ) from exc
        except machine.InvalidTransition as exc:
            raise HandoffError(409, "invalid_state", exc.zh, exc.en) from exc

    async def accept(self, agent: Agent, handoff_id: str) -> Handoff:
        h = await self.visible(agent, handoff_id)
        if h.state == State.QUEUED:
            if await self.store.load_of(agent.agent_id) >= agent.max_concurrent:
                raise HandoffError(
                    409, "at_capacity", "您的接待量已满，请先结束其他会话。", "agent at capacity"
                )
            if agent.role != "supervisor" and h.skill_group not in agent.groups:
                raise HandoffError(403, "not_your_group", "该会话不属于您的技能组。", "wrong group")
            h = await self.transition(h, "pick", agent.agent_id)
            await self.touch_agent(agent.agent_id, self.clock())
        elif h.state == State.ASSIGNED and h.agent_id == agent.agent_id:
            h = await self.transition(h, "accept", agent.agent_id)
        else:
            raise HandoffError(
                409, "already_taken", "该会话已被其他坐席接起或已结束。", "already taken or over"
            )
        self.last_activity[h.handoff_id] = self.clock()
        greeting = self.text("utter_handoff_accepted", agent=agent.name)
        await self.record(h, [self.state_event(h), agent_line(agent, greeting)])
        return h

    async def decline(self, agent: Agent, handoff_id: str) -> Handoff:
        h = await self.visible(agent, handoff_id)
        if h.agent_id != agent.agent_id:
            raise HandoffError(409, "already_taken", "该会话没有分配给您。", "not offered to you")
        h = await self.transition(h, "decline")
        await self.record(h, [self.state_event(h, declined_by=agent.agent_id)])
        await self.touch_agent(agent.agent_id, self.clock())
        self.spawn(self.dispatch())
        return h

    async def agent_message(self, agent: Agent, handoff_id: str, text: str) -> ChatLine:
        h = await self.owned(agent, handoff_id)
        text = text.strip()
        if not text or len(text) > MAX_AGENT_TEXT:
            raise HandoffError(
                422,
                "bad_text",
                f"消息不能为空，且不超过 {MAX_AGENT_TEXT} 字。",
                f"text must be 1–{MAX_AGENT_TEXT} characters",
            )
        now = self.clock()
        self.last_activity[h.handoff_id] = now
        await self.record(h, [agent_line(agent, text)])
        line = ChatLine("agent", text, now, agent.agent_id)
        self.bus.publish(ConsoleEvent("line", h, line, created=time.perf_counter()))
        return line

    async def transfer(self, agent: Agent, handoff_id: str, group: str) -> Handoff:
        if not self.settings.routing.valid_group(group):
            raise HandoffError(
                422, "unknown_group", f"没有名为“{group}”的技能组。", "no such group"
            )
        h = await self.owned(agent, handoff_id)
        h = await self.transition(replace(h, skill_group=group), "transfer")
        note = self.notice("utter_handoff_transferred", group=group)
        await self.record(h, [self.state_event(h, skill_group=group, by=agent.agent_id), note])
        self.spawn(self.dispatch())
        return h

    async def end(self, agent: Agent, handoff_id: str) -> Handoff:
        h = await self.owned(agent, handoff_id)
        h = await self.finish(h, "end", "agent", "utter_handoff_ended")
        self.spawn(self.dispatch())
        return h

    async def finish(self, h: Handoff, event: str, by: str, notice: str) -> Handoff:
        changed = machine.apply(h, event, self.clock())
        changed.ended_by, changed.survey_pending = by, self.settings.survey
        h = await self.save_checked(changed)
        events: list[Event] = [self.state_event(h, ended_by=by), self.notice(notice)]
        if self.settings.survey:
            events.append(survey_prompt(self.text("utter_handoff_survey")))
        await self.record(h, events)
        return h

    async def save_checked(self, changed: Handoff) -> Handoff:
        try:
            return await self.save(changed)
        except HandoffConflict as exc:
            raise HandoffError(409, "conflict", "该会话刚刚被其他人处理。", str(exc)) from exc

    async def rate(
        self, agent: Agent, handoff_id: str, satisfaction: int | None, difficulty: int | None
    ) -> Customer:
        h = await self.visible(agent, handoff_id)
        if h.agent_id != agent.agent_id:
            raise HandoffError(
                403, "not_your_conversation", "只能评价自己接待过的客户。", "not yours"
            )
        if h.state != State.ENDED:
            raise HandoffError(409, "not_ended", "请在结束会话后再评价客户。", "end it first")
        rating = Rating(h.handoff_id, h.customer_id, agent.agent_id, satisfaction, difficulty)
        rating.created_at = self.clock()
        try:
            await self.store.add_rating(rating)
        except HandoffConflict as exc:
            raise HandoffError(409, "already_rated", "您已评价过该客户。", "already rated") from exc
        customer = await self.customers.rerate(h.customer_id, self.clock())
        if customer.difficult:
            self.difficult.add(customer.customer_id)
        else:
            self.difficult.discard(customer.customer_id)
        return customer

    # ------------------------------------------------------------ presence and routing
    async def touch_agent(self, agent_id: str, now: float) -> None:
        """The agent was just handed (or refused) a conversation: last in the idle order."""
        presence = await self.store.presence(agent_id)
        if presence is not None:
            await self.store.save_presence(replace(presence, idle_since=now, last_seen=now))

    async def set_online(self, agent_id: str, online: bool) -> None:
        now = self.clock()
        presence = await self.store.presence(agent_id) or AgentPresence(agent_id, idle_since=now)
        if online and not presence.online:
            presence = replace(presence, idle_since=now)
        await self.store.save_presence(replace(presence, online=online, last_seen=now))
        if online:
            self.spawn(self.dispatch())

    async def dispatch(self) -> int:
        """Offer queue heads to the longest-idle free agents of their groups; how many."""
        offered = 0
        async with self._dispatch_lock:
            for group in await self.store.queued_groups():
                while (pick := pick_agent(group, await self.candidates())) is not None:
                    heads = await self.store.queue(group, limit=1)
                    if not heads or not await self._offer(heads[0], pick.agent.agent_id):
                        break
                    offered += 1
        return offered

    async def _offer(self, h: Handoff, agent_id: str) -> bool:
        try:
            h = await self.save(machine.apply(h, "offer", self.clock(), agent_id))
        except HandoffConflict:
            return False  # another worker took it
        await self.touch_agent(agent_id, self.clock())
        await self.record(h, [self.state_event(h)])
        return True

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.store.close()


def agent_line(agent: Agent, text: str) -> BotUttered:
    return BotUttered(text=text, metadata={"agent_id": agent.agent_id, "agent_name": agent.name})


def _recent_intents(tracker: Tracker) -> list[str]:
    from bot.dialogue.events import UserUttered

    names = [e.intent_name for e in tracker.events if isinstance(e, UserUttered)]
    return [n for n in reversed(names[-5:]) if n]
