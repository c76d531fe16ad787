"""The handoff service end to end on a real store with a controllable clock: opening, queueing,
dispatching, accepting, chatting, transferring, ending, the survey, cancelling and ratings."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from bot.dialogue.events import (
    ActionExecuted,
    BotUttered,
    Event,
    HandoffStateChanged,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from bot.dialogue.events import Handoff as HandoffEvent
from bot.dialogue.tracker import Tracker
from bot.engine import outbound
from bot.handoff.config import HandoffSettings, handoff_settings
from bot.handoff.customers import CustomerDirectory
from bot.handoff.errors import HandoffError
from bot.handoff.service import HandoffService
from bot.handoff.store import HandoffStore
from bot.handoff.types import Agent, Handoff, State
from bot.messages import OutboundMessage
from bot.nlu.types import IntentScore, ParseResult
from bot.project.domain import Slot

BEIJING = timezone(timedelta(hours=8))
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=BEIJING).timestamp()  # a Monday, 10:00
SLOTS = {"phone_number": Slot("phone_number", "text")}
AGENTS = [
    {"id": "a1", "name": "王芳", "groups": ["账单", "综合"], "max_concurrent": 2},
    {"id": "a2", "name": "李雷", "groups": ["账单"], "max_concurrent": 1},
    {"id": "a3", "name": "张伟", "groups": ["宽带"]},
    {"id": "e1", "name": "陈专家", "groups": ["专家组"]},
    {"id": "s1", "name": "赵主管", "role": "supervisor"},
]
SECTION: dict[str, Any] = {
    "agents": AGENTS,
    "intent_groups": {"query_bill": "账单", "broadband_slow": "宽带"},
    "vip_priority": {"钻石": 30},
}


def said(intent: str, text: str) -> UserUttered:
    parse = ParseResult(text=text, intent=IntentScore(intent, 0.9), ranking=[])
    return UserUttered(text=text, parse_data=parse, input_channel="web")


def tracker(conversation: str, intent: str = "query_bill", phone: str | None = None) -> Tracker:
    events: list[Event] = [ActionExecuted(name="action_session_start"), SessionStarted()]
    events.append(said("greet", "你好"))
    events.append(BotUttered(text="您好，我是小知，请问有什么可以帮您？"))
    if phone:
        events.append(SlotSet(key="phone_number", value=phone))
    events.append(said(intent, "我这个月的话费怎么扣了这么多"))
    events.append(said("nlu_fallback", "帮我转人工"))
    return Tracker(conversation, SLOTS, events)


@dataclass
class World:
    svc: HandoffService
    now: list[float]
    events: dict[str, list[Event]] = field(default_factory=lambda: defaultdict(list))
    delivered: list[tuple[str, str, list[OutboundMessage]]] = field(default_factory=list)

    async def inject(self, conversation: str, events: list[Event]) -> list[OutboundMessage]:
        self.events[conversation].extend(events)
        return outbound(events)

    async def deliver(self, channel: str, conversation: str, msgs: list[OutboundMessage]) -> None:
        self.delivered.append((channel, conversation, msgs))

    def agent(self, agent_id: str) -> Agent:
        found = self.svc.agents.get(agent_id)
        assert found is not None
        return found

    async def settle(self) -> None:
        """Let the dispatches the service started in the background finish."""
        while self.svc._tasks:
            await asyncio.gather(*list(self.svc._tasks))

    async def online(self, *agent_ids: str, step: float = 1.0) -> None:
        for agent_id in agent_ids:  # in this order: the first is the longest idle
            await self.svc.set_online(agent_id, True)
            self.now[0] += step
        await self.settle()

    async def open(
        self, conversation: str, intent: str = "query_bill", reason: str = "customer_request",
        phone: str | None = None, settle: bool = True,
    ) -> tuple[HandoffEvent, list[Event]]:  # fmt: skip
        event = HandoffEvent(reason=reason)
        out = await self.svc.open(tracker(conversation, intent, phone), event, "web")
        if settle:
            await self.settle()
        return event, out

    async def get(self, handoff_id: str | None) -> Handoff:
        assert handoff_id is not None
        found = await self.svc.store.get(handoff_id)
        assert found is not None
        return found

    def texts(self, conversation: str) -> list[str]:
        return [e.text or "" for e in self.events[conversation] if isinstance(e, BotUttered)]

    def states(self, conversation: str) -> list[str]:
        return [e.state for e in self.events[conversation] if isinstance(e, HandoffStateChanged)]


async def make_world(
    settings: HandoffSettings, profiles: Mapping[str, Mapping[str, Any]] | None = None
) -> World:
    now = [T0]
    store = HandoffStore(":memory:")
    lookup = (lambda q: (profiles or {}).get(q["sender_id"])) if profiles else None
    customers = CustomerDirectory(store, settings.difficult, lookup)
    svc = HandoffService(settings, store, clock=lambda: now[0], customers=customers)
    world = World(svc, now)
    svc.inject, svc.deliver = world.inject, world.deliver
    return world


@pytest.fixture
async def world() -> AsyncIterator[World]:
    w = await make_world(handoff_settings(SECTION))
    yield w
    await w.settle()
    await w.svc.close()


def notice(events: list[Event]) -> BotUttered:
    (found,) = [e for e in events if isinstance(e, BotUttered)]
    return found


def state_of(events: list[Event]) -> HandoffStateChanged:
    (found,) = [e for e in events if isinstance(e, HandoffStateChanged)]
    return found


async def error(awaitable: Any) -> HandoffError:
    with pytest.raises(HandoffError) as info:
        await awaitable
    return info.value


# ------------------------------------------------------------------ opening


async def test_open_queues_with_position_and_a_chinese_notice(world: World) -> None:
    await world.online("a2")  # 李雷: one conversation at a time
    first, _ = await world.open("c1")
    assert (await world.get(first.handoff_id)).state == State.ASSIGNED  # dispatched at once

    second, out = await world.open("c2")
    assert second.skill_group == "账单" and second.handoff_id
    assert state_of(out).state == "queued" and state_of(out).detail == {"position": 1}
    assert notice(out).text == "已为您转接人工客服（账单），马上为您接通，请稍候。"
    assert notice(out).metadata == {"handoff_notice": "utter_handoff_first"}

    world.now[0] += 1  # later than c2 (the same moment would tie on the random id)
    third, out = await world.open("c3")
    assert state_of(out).detail == {"position": 2}
    assert notice(out).text == (
        "已为您转接人工客服（账单），您前面还有 1 位客户，预计等待约 6 分钟。"
        "排队期间您可以继续向小知提问；如不再需要，回复“不用了”即可取消排队。"
    )
    h = await world.get(third.handoff_id)
    assert h.state == State.QUEUED and h.created_at == h.queued_at == T0 + 2
    assert (h.conversation_id, h.channel, h.customer_id) == ("c3", "web", "web:c3")
    assert h.reason == "customer_request" and h.priority == 0
    assert h.context["summary"]["unanswered"] == "我这个月的话费怎么扣了这么多"
    assert world.svc.active == {"c1": State.ASSIGNED, "c2": State.QUEUED, "c3": State.QUEUED}


async def test_second_open_while_active_tells_the_position(world: World) -> None:
    await world.online("a2")
    first, _ = await world.open("c1")
    queued, _ = await world.open("c2")
    again, out = await world.open("c2")
    assert again.handoff_id == queued.handoff_id and again.skill_group == "账单"
    assert out == [notice(out)]
    assert notice(out).text == "您已在人工客服排队中，目前排在第 1 位，预计还需约 3 分钟，请稍候。"
    # offered to an agent already: "connecting"
    again, out = await world.open("c1")
    assert again.handoff_id == first.handoff_id
    assert notice(out).text == "客服正在接入，请稍候片刻。"
    assert len(await world.svc.store.find()) == 2


async def test_open_outside_hours_leaves_a_ticket() -> None:
    w = await make_world(handoff_settings({**SECTION, "hours": "09:00-18:00"}))
    try:
        await w.online("a1")
        w.now[0] = datetime(2026, 3, 2, 20, 30, tzinfo=BEIJING).timestamp()
        event, out = await w.open("c1")
        assert state_of(out).state == "ticket"
        assert state_of(out).detail == {"ticket_no": "GD20260302-0001"}
        assert (notice(out).text or "").startswith(
            "非常抱歉，现在不在人工客服服务时间（每天 09:00–18:00）"
        )
        assert "工单号 GD20260302-0001" in (notice(out).text or "")
        h = await w.get(event.handoff_id)
        assert h.state == State.TICKET and h.ticket_no == "GD20260302-0001"
        assert h.ended_at == w.now[0] and "c1" not in w.svc.active
        ticket = await w.svc.store.ticket("GD20260302-0001")
        assert ticket is not None and ticket.handoff_id == h.handoff_id
        assert ticket.note == "我这个月的话费怎么扣了这么多" and ticket.skill_group == "账单"
        # a second one the same day gets the next number; the conversation may ask again
        _, out = await w.open("c1")
        assert state_of(out).detail == {"ticket_no": "GD20260302-0002"}
    finally:
        await w.svc.close()


async def test_open_with_nobody_online_leaves_a_ticket(world: World) -> None:
    await world.online("a3")  # 宽带 only
    event, out = await world.open("c1")
    assert event.skill_group == "账单"
    assert state_of(out).state == "ticket"
    assert (notice(out).text or "").startswith("非常抱歉，目前人工客服暂时无人接听。")
    assert "GD20260302-0001" in (notice(out).text or "")
    assert (await world.get(event.handoff_id)).state == State.TICKET


async def test_offline_agents_do_not_staff_a_group(world: World) -> None:
    await world.online("a1")
    await world.svc.set_online("a1", False)
    _, out = await world.open("c1")
    assert state_of(out).state == "ticket"


async def test_vip_customers_go_first() -> None:
    profiles = {"vip": {"name": "钱女士", "vip_level": "钻石"}}
    w = await make_world(handoff_settings(SECTION), profiles)
    try:
        await w.online("a2")
        await w.open("busy")
        plain, _ = await w.open("plain")
        vip, out = await w.open("vip")
        assert state_of(out).detail == {"position": 1}
        assert (await w.get(vip.handoff_id)).priority == 30
        assert await w.svc.position(await w.get(plain.handoff_id)) == 2
        assert (await w.get(vip.handoff_id)).context["profile"]["会员等级"] == "钻石"
    finally:
        await w.settle()
        await w.svc.close()


# ------------------------------------------------------------------ dispatch


async def test_dispatch_offers_to_the_longest_idle_agent(world: World) -> None:
    await world.online("a2", "a1")  # a2 idle since T0, a1 since T0 + 1
    one, _ = await world.open("c1")
    h = await world.get(one.handoff_id)
    assert (h.state, h.agent_id, h.assigned_at) == (State.ASSIGNED, "a2", T0 + 2)
    assert world.states("c1") == ["assigned"]
    offered = next(e for e in world.events["c1"] if isinstance(e, HandoffStateChanged))
    assert offered.detail == {"agent_id": "a2"}
    presence = await world.svc.store.presence("a2")
    assert presence is not None and presence.idle_since == T0 + 2  # now last in the idle order
    two, _ = await world.open("c2")
    assert (await world.get(two.handoff_id)).agent_id == "a1"


async def test_dispatch_respects_capacity(world: World) -> None:
    await world.online("a2")  # max_concurrent 1
    one, _ = await world.open("c1")
    two, _ = await world.open("c2")
    assert (await world.get(one.handoff_id)).agent_id == "a2"
    assert (await world.get(two.handoff_id)).state == State.QUEUED
    assert await world.svc.dispatch() == 0
    await world.online("a1")
    h = await world.get(two.handoff_id)
    assert (h.state, h.agent_id) == (State.ASSIGNED, "a1")


async def test_dispatch_respects_groups(world: World) -> None:
    await world.online("a3", "s1", "a1")  # a3 (宽带) and the supervisor idle longer
    bill, _ = await world.open("c1")
    assert (await world.get(bill.handoff_id)).agent_id == "a1"
    net, _ = await world.open("c2", intent="broadband_slow")
    assert net.skill_group == "宽带"
    assert (await world.get(net.handoff_id)).agent_id == "a3"


async def test_queued_conversation_is_offered_when_an_agent_comes_online(world: World) -> None:
    await world.online("a2")
    await world.open("c1")
    waiting, _ = await world.open("c2")
    await world.online("a1")
    assert (await world.get(waiting.handoff_id)).agent_id == "a1"


# ------------------------------------------------------------------ accepting


async def test_accept_an_offer(world: World) -> None:
    await world.online("a1")
    event, _ = await world.open("c1")
    world.now[0] += 5
    h = await world.svc.accept(world.agent("a1"), event.handoff_id or "")
    assert (h.state, h.agent_id, h.accepted_at) == (State.WITH_AGENT, "a1", world.now[0])
    assert world.svc.active["c1"] == State.WITH_AGENT
    assert world.states("c1") == ["assigned", "with_agent"]
    greeting = world.events["c1"][-1]
    assert isinstance(greeting, BotUttered)
    assert greeting.text == "您好，我是人工客服王芳，很高兴为您服务，请问有什么可以帮您？"
    assert greeting.metadata == {"agent_id": "a1", "agent_name": "王芳"}
    channel, conversation, messages = world.delivered[-1]
    assert (channel, conversation) == ("web", "c1")
    assert [m.text for m in messages if m.text] == [greeting.text]


async def test_pick_from_the_queue(world: World) -> None:
    await world.online("a2")
    await world.open("c1")
    waiting, _ = await world.open("c2")
    h = await world.svc.accept(world.agent("a1"), waiting.handoff_id or "")  # a1 is not online
    assert (h.state, h.agent_id, h.assigned_at) == (State.WITH_AGENT, "a1", T0 + 1)
    assert world.states("c2") == ["with_agent"]
    assert "王芳" in world.texts("c2")[-1]


async def test_supervisor_may_pick_any_group(world: World) -> None:
    await world.online("a2")
    await world.open("c1")
    waiting, _ = await world.open("c2")
    h = await world.svc.accept(world.agent("s1"), waiting.handoff_id or "")
    assert (h.state, h.agent_id) == (State.WITH_AGENT, "s1")


async def test_agent_outside_the_group_gets_403(world: World) -> None:
    await world.online("a2")
    await world.open("c1")
    waiting, _ = await world.open("c2")
    exc = await error(world.svc.accept(world.agent("a3"), waiting.handoff_id or ""))
    assert (exc.status, exc.code) == (403, "not_your_group")
    assert "技能组" in exc.zh
    exc = await error(world.svc.visible(world.agent("e1"), waiting.handoff_id or ""))
    assert exc.status == 403
    assert (await world.get(waiting.handoff_id)).state == State.QUEUED


async def test_unknown_handoff_is_404(world: World) -> None:
    exc = await error(world.svc.accept(world.agent("a1"), "nope"))
    assert (exc.status, exc.code) == (404, "not_found")


async def test_double_accept_is_409(world: World) -> None:
    await world.online("a1")
    event, _ = await world.open("c1")
    hid = event.handoff_id or ""
    await world.svc.accept(world.agent("a1"), hid)
    exc = await error(world.svc.accept(world.agent("a1"), hid))
    assert (exc.status, exc.code) == (409, "already_taken")
    exc = await error(world.svc.accept(world.agent("a2"), hid))
    assert (exc.status, exc.code) == (409, "already_taken")
    assert world.states("c1") == ["assigned", "with_agent"]


async def test_accepting_someone_elses_offer_is_409(world: World) -> None:
    await world.online("a1")
    event, _ = await world.open("c1")
    exc = await error(world.svc.accept(world.agent("a2"), event.handoff_id or ""))
    assert (exc.status, exc.code) == (409, "already_taken")


async def test_pick_at_capacity_is_409(world: World) -> None:
    await world.online("a2")
    first, _ = await world.open("c1")
    await world.svc.accept(world.agent("a2"), first.handoff_id or "")
    waiting, _ = await world.open("c2")
    exc = await error(world.svc.accept(world.agent("a2"), waiting.handoff_id or ""))
    assert (exc.status, exc.code) == (409, "at_capacity")


async def test_concurrent_accept_exactly_one_wins(world: World) -> None:
    await world.online("a2")
    await world.open("c1")
    waiting, _ = await world.open("c2")
    hid = waiting.handoff_id or ""
    results = await asyncio.gather(
        world.svc.accept(world.agent("a1"), hid),
        world.svc.accept(world.agent("s1"), hid),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, Handoff)]
    lost = [r for r in results if isinstance(r, HandoffError)]
    assert len(won) == 1 and len(lost) == 1
    assert lost[0].status == 409
    h = await world.get(hid)
    assert h.state == State.WITH_AGENT and h.agent_id == won[0].agent_id
    assert world.states("c2") == ["with_agent"]  # one greeting only
    assert len(world.texts("c2")) == 1


async def test_decline_goes_to_the_next_agent(world: World) -> None:
    await world.online("a1", "a2")
    event, _ = await world.open("c1")
    hid = event.handoff_id or ""
    assert (await world.get(hid)).agent_id == "a1"
    exc = await error(world.svc.decline(world.agent("a2"), hid))
    assert (exc.status, exc.code) == (409, "already_taken")
    world.now[0] += 3
    h = await world.svc.decline(world.agent("a1"), hid)
    assert h.state == State.QUEUED and h.attempts == 0
    await world.settle()
    h = await world.get(hid)
    assert (h.state, h.agent_id) == (State.ASSIGNED, "a2")
    declined = [e for e in world.events["c1"] if isinstance(e, HandoffStateChanged)][1]
    assert declined.state == "queued" and declined.detail["declined_by"] == "a1"


# ------------------------------------------------------------------ chatting


async def with_agent(world: World, conversation: str = "c1", agent_id: str = "a1") -> str:
    await world.online(agent_id)
    event, _ = await world.open(conversation)
    hid = event.handoff_id or ""
    h = await world.get(hid)
    assert h.agent_id == agent_id
    await world.svc.accept(world.agent(agent_id), hid)
    return hid


async def test_agent_message(world: World) -> None:
    hid = await with_agent(world)
    world.now[0] += 7
    line = await world.svc.agent_message(world.agent("a1"), hid, "  您好，请问是哪个号码？ ")
    assert (line.role, line.text, line.timestamp, line.agent_id) == (
        "agent", "您好，请问是哪个号码？", world.now[0], "a1",
    )  # fmt: skip
    said_ = world.events["c1"][-1]
    assert isinstance(said_, BotUttered) and said_.text == "您好，请问是哪个号码？"
    assert said_.metadata["agent_id"] == "a1"
    assert world.delivered[-1][2][0].text == "您好，请问是哪个号码？"
    assert world.svc.last_activity[hid] == world.now[0]


async def test_agent_message_by_a_non_owner_is_403(world: World) -> None:
    hid = await with_agent(world)
    for agent_id in ("a2", "s1"):  # same group; supervisor
        exc = await error(world.svc.agent_message(world.agent(agent_id), hid, "你好"))
        assert (exc.status, exc.code) == (403, "not_your_conversation")


async def test_agent_message_before_accepting_is_403(world: World) -> None:
    await world.online("a1")
    event, _ = await world.open("c1")
    exc = await error(world.svc.agent_message(world.agent("a1"), event.handoff_id or "", "你好"))
    assert exc.status == 403


@pytest.mark.parametrize("text", ["", "   \n", "字" * 2001])
async def test_bad_agent_text_is_422(world: World, text: str) -> None:
    hid = await with_agent(world)
    before = len(world.events["c1"])
    exc = await error(world.svc.agent_message(world.agent("a1"), hid, text))
    assert (exc.status, exc.code) == (422, "bad_text")
    assert len(world.events["c1"]) == before


async def test_customer_message_reaches_the_console(world: World) -> None:
    hid = await with_agent(world)
    console = world.svc.bus.subscribe(world.agent("a1"))
    other = world.svc.bus.subscribe(world.agent("a3"))
    world.now[0] += 4
    h = await world.svc.customer_message("c1", "是 138 那个号")
    assert h is not None and h.handoff_id == hid
    event = console.queue.get_nowait()
    assert event.kind == "line" and event.line is not None
    assert (event.line.role, event.line.text, event.line.timestamp) == (
        "user", "是 138 那个号", world.now[0],
    )  # fmt: skip
    assert other.queue.empty()
    assert world.svc.last_activity[hid] == world.now[0]
    assert await world.svc.customer_message("nobody", "hi") is None


# ------------------------------------------------------------------ transfer, end, survey


async def test_transfer_requeues_in_the_new_group_and_redispatches(world: World) -> None:
    hid = await with_agent(world)
    await world.online("a3")
    world.now[0] += 60
    h = await world.svc.transfer(world.agent("a1"), hid, "宽带")
    assert (h.state, h.skill_group, h.agent_id, h.accepted_at) == (State.QUEUED, "宽带", None, None)
    assert world.texts("c1")[-1] == "正在为您转接宽带的客服同事，请稍候。"
    moved = [e for e in world.events["c1"] if isinstance(e, HandoffStateChanged)][-1]
    assert moved.detail == {"skill_group": "宽带", "by": "a1"}
    await world.settle()
    h = await world.get(hid)
    assert (h.state, h.agent_id) == (State.ASSIGNED, "a3")
    assert await world.svc.store.load_of("a1") == 0


async def test_transfer_errors(world: World) -> None:
    hid = await with_agent(world)
    exc = await error(world.svc.transfer(world.agent("a1"), hid, "售后"))
    assert (exc.status, exc.code) == (422, "unknown_group") and "售后" in exc.zh
    exc = await error(world.svc.transfer(world.agent("a2"), hid, "宽带"))
    assert exc.status == 403
    assert (await world.get(hid)).state == State.WITH_AGENT


async def test_end_asks_for_the_survey(world: World) -> None:
    hid = await with_agent(world)
    world.now[0] += 120
    h = await world.svc.end(world.agent("a1"), hid)
    assert (h.state, h.ended_by, h.ended_at, h.survey_pending) == (
        State.ENDED, "agent", world.now[0], True,
    )  # fmt: skip
    assert "c1" not in world.svc.active and "c1" in world.svc.surveys
    ended = [e for e in world.events["c1"] if isinstance(e, HandoffStateChanged)][-1]
    assert ended.state == "ended" and ended.detail == {"ended_by": "agent"}
    assert world.texts("c1")[-2] == (
        "本次人工服务已结束，感谢您的耐心。小知会继续为您服务，有需要随时叫我。"
    )
    survey = world.events["c1"][-1]
    assert isinstance(survey, BotUttered) and survey.text and "1–5 分" in survey.text
    buttons = survey.data["buttons"]
    assert [b["title"] for b in buttons] == [
        "5 非常满意", "4 满意", "3 一般", "2 不满意", "1 非常不满意",
    ]  # fmt: skip
    assert buttons[0]["payload"] == '/handoff_survey{"score": 5}'
    assert buttons[4]["payload"] == '/handoff_survey{"score": 1}'
    (survey_message,) = [m for m in world.delivered[-1][2] if m.kind == "buttons"]
    assert [b.key for b in survey_message.buttons] == ["1", "2", "3", "4", "5"]
    exc = await error(world.svc.end(world.agent("a1"), hid))
    assert exc.status == 403  # no longer with the agent


async def test_end_frees_the_agent_for_the_next_customer(world: World) -> None:
    hid = await with_agent(world, agent_id="a2")
    waiting, _ = await world.open("c2")
    assert (await world.get(waiting.handoff_id)).state == State.QUEUED
    await world.svc.end(world.agent("a2"), hid)
    await world.settle()
    assert (await world.get(waiting.handoff_id)).agent_id == "a2"


async def test_end_without_survey() -> None:
    w = await make_world(handoff_settings({**SECTION, "survey": False}))
    try:
        hid = await with_agent(w)
        h = await w.svc.end(w.agent("a1"), hid)
        assert not h.survey_pending and "c1" not in w.svc.surveys
        assert all(not e.data for e in w.events["c1"] if isinstance(e, BotUttered))
    finally:
        await w.settle()
        await w.svc.close()


async def test_survey_answer(world: World) -> None:
    hid = await with_agent(world)
    await world.svc.end(world.agent("a1"), hid)
    out = await world.svc.survey_answer("c1", 5)
    assert state_of(out).state == "ended" and state_of(out).detail["survey_score"] == 5
    assert notice(out).text == "感谢您的评价，我们会继续努力！还有什么可以帮您？"
    h = await world.get(hid)
    assert (h.survey_pending, h.survey_score) == (False, 5)
    assert "c1" not in world.svc.surveys
    assert await world.svc.survey_answer("c1", 3) == []  # answered already
    assert (await world.get(hid)).survey_score == 5


async def test_survey_skipped(world: World) -> None:
    hid = await with_agent(world)
    await world.svc.end(world.agent("a1"), hid)
    assert await world.svc.survey_answer("c1", None) == []
    h = await world.get(hid)
    assert (h.survey_pending, h.survey_score) == (False, None)
    assert await world.svc.survey_answer("never", 4) == []


# ------------------------------------------------------------------ cancel


async def test_cancel_while_queued(world: World) -> None:
    await world.online("a2")
    await world.open("c1")
    waiting, _ = await world.open("c2")
    world.now[0] += 30
    out = await world.svc.cancel("c2")
    assert state_of(out).state == "cancelled"
    assert notice(out).text == "好的，已为您取消人工排队。小知继续为您服务，还有什么可以帮您？"
    h = await world.get(waiting.handoff_id)
    assert (h.state, h.ended_by, h.ended_at) == (State.CANCELLED, "customer", world.now[0])
    assert "c2" not in world.svc.active
    assert await world.svc.cancel("c2") == []
    # the conversation may ask for a human again later
    again, out = await world.open("c2")
    assert again.handoff_id != waiting.handoff_id and state_of(out).state == "queued"


async def test_cancel_while_offered_frees_the_agent(world: World) -> None:
    await world.online("a2")
    event, _ = await world.open("c1")
    out = await world.svc.cancel("c1")
    assert state_of(out).state == "cancelled"
    assert await world.svc.store.load_of("a2") == 0
    exc = await error(world.svc.accept(world.agent("a2"), event.handoff_id or ""))
    assert exc.status == 409


async def test_no_cancel_once_with_an_agent(world: World) -> None:
    hid = await with_agent(world)
    assert await world.svc.cancel("c1") == []
    assert (await world.get(hid)).state == State.WITH_AGENT


# ------------------------------------------------------------------ ratings


async def serve_and_end(world: World, conversation: str, agent_id: str, phone: str) -> str:
    event, _ = await world.open(conversation, phone=phone)
    hid = event.handoff_id or ""
    await world.svc.accept(world.agent(agent_id), hid)
    await world.svc.end(world.agent(agent_id), hid)
    return hid


async def test_difficult_customer_goes_to_the_expert_group_next_time(world: World) -> None:
    phone = "138 1234 5678"
    await world.online("a1", "a2", "e1")
    first = await serve_and_end(world, "c1", "a1", phone)
    customer = await world.svc.rate(world.agent("a1"), first, 2, 5)
    assert customer.customer_id == "phone:13812345678" and not customer.difficult

    world.now[0] += 3600
    second = await serve_and_end(world, "c2", "a2", phone)  # another channel, same phone
    customer = await world.svc.rate(world.agent("a2"), second, 1, 4)
    assert customer.difficult and "phone:13812345678" in world.svc.difficult
    stored = await world.svc.store.customer("phone:13812345678")
    assert stored is not None and stored.difficult

    world.now[0] += 60
    event, out = await world.open("c3", phone=phone)
    assert event.skill_group == "专家组"
    h = await world.get(event.handoff_id)
    assert h.skill_group == "专家组" and h.agent_id == "e1"
    assert h.context["profile"]["客户标记"].startswith("难应付客户")
    assert "专家组" in (notice(out).text or "")
    # someone else's customer is not affected
    other, _ = await world.open("c4", phone="13900000000")
    assert other.skill_group == "账单"


async def test_one_agent_rating_twice_is_not_enough(world: World) -> None:
    await world.online("a1")
    first = await serve_and_end(world, "c1", "a1", "13812345678")
    assert not (await world.svc.rate(world.agent("a1"), first, None, 5)).difficult
    second = await serve_and_end(world, "c2", "a1", "13812345678")
    assert not (await world.svc.rate(world.agent("a1"), second, None, 5)).difficult
    event, _ = await world.open("c3", phone="13812345678")
    assert event.skill_group == "账单"


async def test_rating_errors(world: World) -> None:
    hid = await with_agent(world)
    exc = await error(world.svc.rate(world.agent("a1"), hid, 4, 4))
    assert (exc.status, exc.code) == (409, "not_ended")
    await world.svc.end(world.agent("a1"), hid)
    await world.svc.rate(world.agent("a1"), hid, 4, 4)
    exc = await error(world.svc.rate(world.agent("a1"), hid, 5, 5))
    assert (exc.status, exc.code) == (409, "already_rated")
    exc = await error(world.svc.rate(world.agent("a3"), hid, 5, 5))
    assert exc.status == 403  # outside the group


async def test_rating_someone_elses_ended_chat_is_403(world: World) -> None:
    hid = await with_agent(world)
    await world.svc.end(world.agent("a1"), hid)
    exc = await error(world.svc.rate(world.agent("a2"), hid, 5, 5))
    assert (exc.status, exc.code) == (403, "not_your_conversation")


async def test_picking_moves_the_agent_to_the_end_of_the_idle_order(world: World) -> None:
    await world.online("a2", "s1")  # the supervisor is offered nothing (no groups of its own)
    await world.open("c1")  # offered to a2, who is then full
    waiting, _ = await world.open("c2")
    world.now[0] += 10
    await world.svc.accept(world.agent("s1"), waiting.handoff_id or "")
    presence = await world.svc.store.presence("s1")
    assert presence is not None and presence.idle_since == world.now[0]
