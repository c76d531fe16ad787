"""The sweep: queue timeout → ticket, unanswered offers, lost agents, idle chats, position news."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from bot.dialogue.events import (
    BotUttered,
    Event,
    HandoffStateChanged,
    UserUttered,
)
from bot.dialogue.events import Handoff as HandoffEvent
from bot.dialogue.tracker import Tracker
from bot.engine import outbound
from bot.handoff.config import handoff_settings
from bot.handoff.errors import HandoffError
from bot.handoff.service import HandoffService
from bot.handoff.store import HandoffStore
from bot.handoff.timers import Sweeper
from bot.handoff.types import Agent, Handoff, State
from bot.messages import OutboundMessage
from bot.nlu.types import IntentScore, ParseResult

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone(timedelta(hours=8))).timestamp()
SECTION: dict[str, Any] = {
    "agents": [
        {"id": "a1", "name": "王芳", "groups": ["账单"], "max_concurrent": 1},
        {"id": "a2", "name": "李雷", "groups": ["账单"], "max_concurrent": 1},
    ],
    "intent_groups": {"query_bill": "账单"},
}


class Clocked:
    """A service on an in-memory store whose clock the test moves by hand."""

    def __init__(self, section: dict[str, Any]) -> None:
        self.now = [T0]
        self.svc = HandoffService(
            handoff_settings(section), HandoffStore(":memory:"), clock=lambda: self.now[0]
        )
        self.svc.inject = self.inject
        self.sweeper = Sweeper(self.svc)
        self.events: dict[str, list[Event]] = defaultdict(list)

    async def inject(self, conversation: str, events: list[Event]) -> list[OutboundMessage]:
        self.events[conversation].extend(events)
        return outbound(events)

    async def settle(self) -> None:
        while self.svc._tasks:
            await asyncio.gather(*list(self.svc._tasks))

    async def at(self, moment: float) -> None:
        """Move the clock to T0 + `moment` and sweep once."""
        self.now[0] = T0 + moment
        await self.sweeper.sweep()
        await self.settle()

    async def online(self, agent_id: str, online: bool = True) -> None:
        await self.svc.set_online(agent_id, online)
        await self.settle()

    async def open(self, conversation: str) -> str:
        parse = ParseResult("我的话费怎么这么多", IntentScore("query_bill", 0.9))
        said = UserUttered(text=parse.text, parse_data=parse)
        event = HandoffEvent(reason="customer_request")
        await self.svc.open(Tracker(conversation, {}, [said]), event, "web")
        await self.settle()
        assert event.handoff_id
        return event.handoff_id

    async def get(self, handoff_id: str) -> Handoff:
        found = await self.svc.store.get(handoff_id)
        assert found is not None
        return found

    def agent(self, agent_id: str) -> Agent:
        found = self.svc.agents.get(agent_id)
        assert found is not None
        return found

    def notices(self, conversation: str) -> list[str]:
        return [str(e.metadata.get("handoff_notice")) for e in self.events[conversation]
                if isinstance(e, BotUttered)]  # fmt: skip

    def last_state(self, conversation: str) -> HandoffStateChanged:
        found = [e for e in self.events[conversation] if isinstance(e, HandoffStateChanged)]
        return found[-1]


@pytest.fixture
async def world() -> AsyncIterator[Clocked]:
    w = Clocked(SECTION)
    yield w
    await w.settle()
    await w.svc.close()


async def busy(world: Clocked) -> str:
    """a1 online and busy with c0, so new conversations wait in the queue."""
    await world.online("a1")
    hid = await world.open("c0")
    await world.svc.accept(world.agent("a1"), hid)
    return hid


async def test_queue_timeout_leaves_a_ticket(world: Clocked) -> None:
    await busy(world)
    hid = await world.open("c1")
    await world.at(299)
    assert (await world.get(hid)).state == State.QUEUED
    await world.at(300)
    h = await world.get(hid)
    assert (h.state, h.ended_by, h.ended_at) == (State.TICKET, "timeout", T0 + 300)
    assert h.ticket_no == "GD20260302-0001"
    state = world.last_state("c1")
    assert state.state == "ticket"
    assert state.detail == {"cause": "timeout", "ticket_no": "GD20260302-0001"}
    text = [e.text for e in world.events["c1"] if isinstance(e, BotUttered)][-1] or ""
    assert text.startswith("非常抱歉让您久等了") and "工单号 GD20260302-0001" in text
    ticket = await world.svc.store.ticket("GD20260302-0001")
    assert ticket is not None and ticket.handoff_id == hid and ticket.note == "我的话费怎么这么多"
    assert "c1" not in world.svc.active
    await world.at(400)  # nothing more happens to it
    assert len(await world.svc.store.tickets()) == 1


async def test_queue_timeout_off(world: Clocked) -> None:
    w = Clocked({**SECTION, "timeouts": {"queue": 0}})
    try:
        await busy(w)
        hid = await w.open("c1")
        await w.at(1000)
        assert (await w.get(hid)).state == State.QUEUED
    finally:
        await w.settle()
        await w.svc.close()


async def test_a_stale_handoff_taken_meanwhile_leaves_no_ticket(world: Clocked) -> None:
    await busy(world)
    hid = await world.open("c1")
    stale = await world.get(hid)
    await world.online("a2")  # offered to a2 meanwhile
    world.now[0] = T0 + 400
    with pytest.raises(HandoffError) as info:
        await world.sweeper.to_ticket(stale, world.now[0])
    assert info.value.status == 409
    assert await world.svc.store.tickets() == []
    assert (await world.get(hid)).state == State.ASSIGNED


async def test_unanswered_offer_goes_back_to_the_queue(world: Clocked) -> None:
    await world.online("a1")
    world.now[0] += 5
    await world.online("a2")
    hid = await world.open("c1")
    assert (await world.get(hid)).agent_id == "a1"  # idle longest
    before = list(world.notices("c1"))
    await world.at(34)  # offered at T0 + 5
    assert (await world.get(hid)).state == State.ASSIGNED
    await world.at(35)
    h = await world.get(hid)
    assert h.attempts == 1
    assert (h.state, h.agent_id) == (State.ASSIGNED, "a2")  # offered to the next agent
    states = [e for e in world.events["c1"] if isinstance(e, HandoffStateChanged)]
    assert [(s.state, s.detail.get("cause")) for s in states[-2:]] == [
        ("queued", "no_answer"), ("assigned", None),
    ]  # fmt: skip
    assert world.notices("c1") == before  # the customer is not bothered
    presence = await world.svc.store.presence("a1")
    assert presence is not None and presence.idle_since == T0 + 35


async def test_lost_agent_chat_is_requeued_with_a_notice(world: Clocked) -> None:
    hid = await busy(world)
    await world.online("a2")
    world.now[0] = T0 + 100
    await world.online("a1", False)
    await world.at(159)
    assert (await world.get(hid)).state == State.WITH_AGENT
    await world.at(160)
    h = await world.get(hid)
    assert (h.state, h.agent_id) == (State.ASSIGNED, "a2")  # re-queued, then dispatched
    assert world.notices("c0")[-1] == "utter_handoff_requeued"
    states = [e for e in world.events["c0"] if isinstance(e, HandoffStateChanged)]
    assert (states[-2].state, states[-2].detail["cause"]) == ("queued", "agent_lost")


async def test_lost_agent_offer_is_requeued_silently() -> None:
    w = Clocked({**SECTION, "timeouts": {"agent_lost": 10}})
    try:
        await w.online("a1")
        hid = await w.open("c1")
        await w.online("a1", False)
        before = list(w.notices("c1"))
        await w.at(9)
        assert (await w.get(hid)).state == State.ASSIGNED
        await w.at(10)  # before the accept timeout: the lost agent decides
        h = await w.get(hid)
        assert (h.state, h.agent_id, h.attempts) == (State.QUEUED, None, 0)
        assert w.last_state("c1").detail == {"cause": "agent_lost"}
        assert w.notices("c1") == before
    finally:
        await w.settle()
        await w.svc.close()


async def test_agent_back_in_time_keeps_the_chat(world: Clocked) -> None:
    hid = await busy(world)
    await world.online("a1", False)
    world.now[0] = T0 + 30
    await world.online("a1")
    await world.at(200)
    assert (await world.get(hid)).state == State.WITH_AGENT


async def test_idle_chat_ends(world: Clocked) -> None:
    hid = await busy(world)
    await world.at(1000)
    world.now[0] = T0 + 1000
    await world.svc.customer_message("c0", "还在吗")
    await world.at(2799)
    assert (await world.get(hid)).state == State.WITH_AGENT
    await world.at(2800)
    h = await world.get(hid)
    assert (h.state, h.ended_by, h.survey_pending) == (State.ENDED, "timeout", True)
    assert world.last_state("c0").detail == {"ended_by": "timeout"}
    assert world.notices("c0")[-2:] == ["utter_handoff_idle_ended", "survey"]
    assert "c0" in world.svc.surveys and await world.svc.store.load_of("a1") == 0


async def test_idle_clock_starts_at_first_sight_after_a_restart(world: Clocked) -> None:
    hid = await busy(world)
    world.svc.last_activity.clear()  # as after a restart
    await world.at(5000)
    assert (await world.get(hid)).state == State.WITH_AGENT
    await world.at(6800)
    assert (await world.get(hid)).state == State.ENDED


async def test_position_news_only_when_changed_and_due(world: Clocked) -> None:
    await busy(world)
    ids = []
    for conversation in ("c1", "c2", "c3"):
        world.now[0] += 1
        ids.append(await world.open(conversation))
    c1, c2, c3 = ids
    assert [await world.svc.position(await world.get(h)) for h in (c1, c2, c3)] == [1, 2, 3]
    await world.at(4)  # just queued: they heard their place on joining
    await world.at(90)
    assert "utter_handoff_position" not in world.notices("c2")  # unchanged
    world.now[0] = T0 + 95
    await world.svc.cancel("c1")
    await world.at(100)  # changed, and 60 s since joining
    texts = [e.text for e in world.events["c2"] if isinstance(e, BotUttered)]
    assert texts[-1] == "您目前排在第 1 位，预计还需等待约 3 分钟，感谢您的耐心。"
    assert world.notices("c3")[-1] == "utter_handoff_position"
    assert "第 2 位" in (
        [e.text for e in world.events["c3"] if isinstance(e, BotUttered)][-1] or ""
    )
    told = len(world.events["c3"])
    await world.at(130)
    world.now[0] = T0 + 131
    await world.svc.cancel("c2")  # changed again, but only 31 s after the last news
    await world.at(140)
    assert len(world.events["c3"]) == told
    await world.at(160)
    assert len(world.events["c3"]) == told + 1
    assert "第 1 位" in (world.events["c3"][-1].text or "")  # type: ignore[attr-defined]
    await world.at(250)
    assert len(world.events["c3"]) == told + 1


async def test_position_news_off(world: Clocked) -> None:
    w = Clocked({**SECTION, "timeouts": {"position_every": 0}})
    try:
        await busy(w)
        await w.open("c1")
        await w.open("c2")
        await w.svc.cancel("c1")
        await w.at(200)
        assert "utter_handoff_position" not in w.notices("c2")
    finally:
        await w.settle()
        await w.svc.close()


async def test_a_transferred_chat_waits_a_full_queue_timeout_again(world: Clocked) -> None:
    hid = await busy(world)
    await world.at(600)  # chatting for ten minutes
    world.now[0] = T0 + 601
    await world.svc.transfer(world.agent("a1"), hid, "投诉")  # nobody online there
    await world.at(602)
    h = await world.get(hid)
    assert (h.state, h.skill_group, h.queued_at) == (State.QUEUED, "投诉", T0)
    await world.at(900)
    assert (await world.get(hid)).state == State.QUEUED
    await world.at(902)
    assert (await world.get(hid)).state == State.TICKET


async def test_unanswered_offers_keep_counting_the_wait(world: Clocked) -> None:
    await busy(world)
    hid = await world.open("c1")
    await world.online("a2")  # offered to a2, who never answers
    await world.at(30)
    h = await world.get(hid)
    assert h.attempts == 1 and h.state == State.ASSIGNED  # offered to a2 again
    await world.online("a2", False)
    await world.at(200)  # lost: back to the queue
    assert (await world.get(hid)).state == State.QUEUED
    await world.at(300)  # 300 s since the customer first joined the queue
    assert (await world.get(hid)).state == State.TICKET


async def test_sweep_forgets_finished_handoffs(world: Clocked) -> None:
    await busy(world)
    hid = await world.open("c1")
    await world.at(1)
    assert hid in world.sweeper.told and hid in world.sweeper.seen
    await world.svc.cancel("c1")
    await world.at(2)
    assert hid not in world.sweeper.told and hid not in world.sweeper.seen
