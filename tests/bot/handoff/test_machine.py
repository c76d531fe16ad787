"""The handoff state machine: every allowed transition, its effect on times, agent, attempts."""

from __future__ import annotations

import pytest

from bot.handoff import machine
from bot.handoff.machine import TRANSITIONS, InvalidTransition
from bot.handoff.types import Handoff, State

T0 = 1_000.0


def handoff(state: State = State.QUEUED, **changes: object) -> Handoff:
    h = Handoff(
        handoff_id="h1",
        conversation_id="c1",
        channel="web",
        sender_id="c1",
        customer_id="web:c1",
        reason="customer_request",
        skill_group="账单",
        state=state,
        created_at=T0,
        queued_at=T0,
    )
    for name, value in changes.items():
        setattr(h, name, value)
    return h


ASSIGNED = {"agent_id": "a1", "assigned_at": T0 + 5}
WITH = {"agent_id": "a1", "assigned_at": T0 + 5, "accepted_at": T0 + 8}
BEFORE = {State.QUEUED: {}, State.ASSIGNED: ASSIGNED, State.WITH_AGENT: WITH}


def test_transition_table_is_the_documented_one() -> None:
    assert len(TRANSITIONS) == 19
    assert {s for s, _ in TRANSITIONS} == {None, State.QUEUED, State.ASSIGNED, State.WITH_AGENT}
    # nothing leaves a final state
    assert not any(s in (State.ENDED, State.CANCELLED, State.TICKET) for s, _ in TRANSITIONS)


@pytest.mark.parametrize(
    ("state", "event"), [(s, e) for s, e in TRANSITIONS if s is not None], ids=str
)
def test_every_allowed_transition(state: State, event: str) -> None:
    before = handoff(state, **BEFORE[state])
    after = machine.apply(before, event, T0 + 20, agent_id="a2")
    assert after.state == TRANSITIONS[(state, event)]
    assert before.state == state and before is not after  # a copy, the input unchanged
    assert after.created_at == T0 and after.queued_at == T0  # the place in the queue is kept
    if after.state == State.QUEUED:
        assert (after.agent_id, after.assigned_at, after.accepted_at) == (None, None, None)
        assert after.ended_at is None
    if after.state in (State.ENDED, State.CANCELLED, State.TICKET):
        assert after.ended_at == T0 + 20
    else:
        assert after.ended_at is None
    assert after.attempts == (1 if event == "no_answer" else 0)


def test_offer_sets_agent_and_assigned_time() -> None:
    after = machine.apply(handoff(), "offer", T0 + 3, agent_id="a7")
    assert after.state == State.ASSIGNED
    assert (after.agent_id, after.assigned_at, after.accepted_at) == ("a7", T0 + 3, None)


def test_accept_keeps_agent_and_sets_accepted_time() -> None:
    after = machine.apply(handoff(State.ASSIGNED, **ASSIGNED), "accept", T0 + 9)
    assert after.state == State.WITH_AGENT
    assert (after.agent_id, after.assigned_at, after.accepted_at) == ("a1", T0 + 5, T0 + 9)


def test_pick_from_the_queue_assigns_and_accepts_at_once() -> None:
    after = machine.apply(handoff(), "pick", T0 + 4, agent_id="a3")
    assert after.state == State.WITH_AGENT
    assert (after.agent_id, after.assigned_at, after.accepted_at) == ("a3", T0 + 4, T0 + 4)


@pytest.mark.parametrize("event", ["offer", "pick"])
def test_offer_and_pick_need_an_agent(event: str) -> None:
    with pytest.raises(ValueError, match="agent"):
        machine.apply(handoff(), event, T0)


def test_no_answer_counts_attempts_and_releases_the_agent() -> None:
    h = handoff(State.ASSIGNED, attempts=2, **ASSIGNED)
    after = machine.apply(h, "no_answer", T0 + 40)
    assert after.state == State.QUEUED and after.attempts == 3 and after.agent_id is None


def test_decline_does_not_count_as_an_unanswered_offer() -> None:
    after = machine.apply(handoff(State.ASSIGNED, **ASSIGNED), "decline", T0 + 6)
    assert after.state == State.QUEUED and after.attempts == 0 and after.agent_id is None


@pytest.mark.parametrize("event", ["end", "idle"])
def test_ending_keeps_the_agent_for_the_rating(event: str) -> None:
    after = machine.apply(handoff(State.WITH_AGENT, **WITH), event, T0 + 100)
    assert after.state == State.ENDED
    assert (after.agent_id, after.accepted_at, after.ended_at) == ("a1", T0 + 8, T0 + 100)


def test_cancel_while_offered() -> None:
    after = machine.apply(handoff(State.ASSIGNED, **ASSIGNED), "cancel", T0 + 7)
    assert after.state == State.CANCELLED and after.ended_at == T0 + 7


def test_transfer_while_queued_stays_queued() -> None:
    after = machine.apply(handoff(skill_group="宽带"), "transfer", T0 + 1)
    assert after.state == State.QUEUED and after.skill_group == "宽带"


def test_timeout_in_the_queue_becomes_a_ticket() -> None:
    after = machine.apply(handoff(), "timeout", T0 + 300)
    assert after.state == State.TICKET and after.ended_at == T0 + 300


def test_start() -> None:
    queued = machine.start(handoff(created_at=0.0, queued_at=0.0), "enqueue", T0 + 2)
    assert queued.state == State.QUEUED
    assert (queued.created_at, queued.queued_at, queued.ended_at) == (T0 + 2, T0 + 2, None)
    ticket = machine.start(handoff(), "ticket", T0 + 2)
    assert ticket.state == State.TICKET and ticket.ended_at == T0 + 2


def test_start_with_a_non_start_event() -> None:
    with pytest.raises(InvalidTransition) as info:
        machine.start(handoff(), "accept", T0)
    assert info.value.state is None
    assert "该转人工请求不存在" in info.value.zh and "new" in info.value.en


@pytest.mark.parametrize(
    ("state", "event", "hint"),
    [
        (State.WITH_AGENT, "accept", "已被坐席接起"),  # double accept
        (State.ENDED, "end", "已结束"),
        (State.CANCELLED, "end", "客户已取消"),
        (State.CANCELLED, "accept", "客户已取消"),
        (State.TICKET, "offer", "留言工单"),
        (State.QUEUED, "accept", "仍在排队"),
        (State.QUEUED, "end", "仍在排队"),
        (State.ASSIGNED, "offer", "等待接起"),
        (State.ASSIGNED, "pick", "等待接起"),
        (State.WITH_AGENT, "cancel", "已被坐席接起"),
        (State.WITH_AGENT, "timeout", "已被坐席接起"),
        (State.ENDED, "transfer", "已结束"),
        (State.QUEUED, "enqueue", "仍在排队"),
    ],
)
def test_disallowed_transitions(state: State, event: str, hint: str) -> None:
    assert not machine.allowed(state, event)
    with pytest.raises(InvalidTransition) as info:
        machine.apply(handoff(state, **BEFORE.get(state, WITH)), event, T0, agent_id="a1")
    exc = info.value
    assert exc.zh.startswith("当前状态下无法执行该操作：") and hint in exc.zh
    assert exc.state == state and exc.event == event
    assert event in exc.en and state.value in exc.en


def test_double_accept() -> None:
    once = machine.apply(handoff(State.ASSIGNED, **ASSIGNED), "accept", T0 + 9)
    with pytest.raises(InvalidTransition):
        machine.apply(once, "accept", T0 + 10)


def test_allowed_and_target() -> None:
    assert machine.allowed(None, "enqueue") and machine.allowed(State.QUEUED, "pick")
    assert not machine.allowed(None, "end")
    assert machine.target(State.WITH_AGENT, "agent_lost") == State.QUEUED
    with pytest.raises(InvalidTransition):
        machine.target(State.ENDED, "idle")
