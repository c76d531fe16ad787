"""The console bus: who sees which change, and a slow console told to resync."""

from __future__ import annotations

import pytest

from bot.handoff import bus as bus_module
from bot.handoff.bus import Bus, ConsoleEvent
from bot.handoff.types import Agent, ChatLine, Handoff, State

BILL = Agent("a1", "王芳", groups=("账单",))
NET = Agent("a2", "李雷", groups=("宽带",))
BOSS = Agent("s1", "主管", role="supervisor")


def handoff(group: str = "账单", agent_id: str | None = None) -> Handoff:
    return Handoff("h1", "c1", "web", "c1", "web:c1", "fallback", group, State.QUEUED,
                   agent_id=agent_id)  # fmt: skip


def drain(sub: bus_module.Subscription) -> list[ConsoleEvent]:
    out = []
    while not sub.queue.empty():
        out.append(sub.queue.get_nowait())
    return out


async def test_visibility_by_group_own_and_supervisor() -> None:
    bus = Bus()
    bill, net, boss = bus.subscribe(BILL), bus.subscribe(NET), bus.subscribe(BOSS)
    event = ConsoleEvent("handoff", handoff("账单"))
    bus.publish(event)
    assert drain(bill) == [event] and drain(net) == [] and drain(boss) == [event]
    # a conversation of another group offered to / with this agent (e.g. after a transfer)
    own = ConsoleEvent("line", handoff("投诉", agent_id="a2"), ChatLine("user", "在吗", 1.0))
    bus.publish(own)
    assert drain(bill) == [] and drain(net) == [own] and drain(boss) == [own]


async def test_events_without_a_handoff_go_to_everyone() -> None:
    bus = Bus()
    subs = [bus.subscribe(a) for a in (BILL, NET, BOSS)]
    bus.publish(ConsoleEvent("resync"))
    assert [len(drain(s)) for s in subs] == [1, 1, 1]


async def test_subscribe_unsubscribe_and_online() -> None:
    bus = Bus()
    one, two = bus.subscribe(BILL), bus.subscribe(BILL)
    assert len(bus) == 2 and bus.online("a1") and not bus.online("a2")
    bus.unsubscribe(one)
    assert bus.online("a1")  # the second console is still open
    bus.unsubscribe(two)
    bus.unsubscribe(two)  # twice is harmless
    assert len(bus) == 0 and not bus.online("a1")
    bus.publish(ConsoleEvent("handoff", handoff()))
    assert drain(two) == []


async def test_overflow_flags_the_slow_console_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bus_module, "QUEUE_SIZE", 3)
    bus = Bus()
    slow, fast = bus.subscribe(BILL), bus.subscribe(BOSS)
    for n in range(5):
        bus.publish(ConsoleEvent("handoff", handoff()))
        drain(fast)
        assert not fast.overflowed
        assert slow.overflowed == (n >= 3)
    assert slow.queue.qsize() == 3
