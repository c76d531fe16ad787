"""The handoff state machine: which event moves a handoff from which state to which.

    (new) ──enqueue──► queued ──offer──► assigned ──accept──► with_agent ──end──► ended
      │                  │ ▲ ◄──no_answer / decline / agent_lost──┘ │
      └──ticket──► ticket ◄─timeout─┘ └──────── transfer / agent_lost ◄┘
    queued / assigned ──cancel──► cancelled;   queued ──pick──► with_agent (agent takes it)
    queued / assigned ──phone_transfer──► ended (a PBX agent took the call: SIP REFER / bridge)

`apply()` is pure: it returns a changed copy with the times set, or raises `InvalidTransition`
(a double accept, an end after a cancel …) that the API turns into a clear 409.
"""

from __future__ import annotations

from dataclasses import replace

from bot.handoff.types import Handoff, State

NEW = None
TRANSITIONS: dict[tuple[State | None, str], State] = {
    (NEW, "enqueue"): State.QUEUED,
    (NEW, "ticket"): State.TICKET,
    (State.QUEUED, "offer"): State.ASSIGNED,
    (State.QUEUED, "pick"): State.WITH_AGENT,
    (State.QUEUED, "cancel"): State.CANCELLED,
    (State.QUEUED, "timeout"): State.TICKET,
    (State.QUEUED, "transfer"): State.QUEUED,
    (State.ASSIGNED, "accept"): State.WITH_AGENT,
    (State.ASSIGNED, "no_answer"): State.QUEUED,
    (State.ASSIGNED, "decline"): State.QUEUED,
    (State.ASSIGNED, "agent_lost"): State.QUEUED,
    (State.ASSIGNED, "transfer"): State.QUEUED,
    (State.ASSIGNED, "cancel"): State.CANCELLED,
    (State.QUEUED, "phone_transfer"): State.ENDED,
    (State.ASSIGNED, "phone_transfer"): State.ENDED,
    (State.WITH_AGENT, "end"): State.ENDED,
    (State.WITH_AGENT, "transfer"): State.QUEUED,
    (State.WITH_AGENT, "agent_lost"): State.QUEUED,
    (State.WITH_AGENT, "idle"): State.ENDED,
}
# events that take the conversation away from its agent
RELEASING = frozenset({"no_answer", "decline", "agent_lost", "transfer", "cancel", "end", "idle"})

_HINTS: dict[State, tuple[str, str]] = {
    State.QUEUED: ("该会话仍在排队中。", "the conversation is still waiting in the queue"),
    State.ASSIGNED: ("该会话已分配给坐席，等待接起。", "the conversation is offered to an agent"),
    State.WITH_AGENT: ("该会话已被坐席接起。", "the conversation is already with an agent"),
    State.ENDED: ("该会话的人工服务已结束。", "the handoff has ended"),
    State.CANCELLED: ("客户已取消排队。", "the customer cancelled"),
    State.TICKET: ("该会话已转为留言工单。", "the handoff became a ticket"),
}


class InvalidTransition(Exception):
    """`event` is not allowed in `state`; `.zh` / `.en` explain it to people."""

    def __init__(self, state: State | None, event: str) -> None:
        self.state, self.event = state, event
        hint_zh, hint_en = _HINTS.get(state, ("该转人工请求不存在。", "no such handoff"))  # type: ignore[arg-type]
        self.zh = f"当前状态下无法执行该操作：{hint_zh}"
        self.en = f"cannot {event} a handoff that is {state or 'new'}: {hint_en}"
        super().__init__(self.en)


def allowed(state: State | None, event: str) -> bool:
    return (state, event) in TRANSITIONS


def target(state: State | None, event: str) -> State:
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise InvalidTransition(state, event) from None


def apply(handoff: Handoff, event: str, now: float, agent_id: str | None = None) -> Handoff:
    """`handoff` after `event` at `now` (a copy; the caller stores it with compare-and-set)."""
    state = target(handoff.state, event)
    if event in ("offer", "pick") and not agent_id:
        raise ValueError(f"{event} needs the agent's id")
    changed = replace(handoff, state=state)
    if event in RELEASING:
        changed.agent_id = None if state == State.QUEUED else handoff.agent_id
        changed.assigned_at = None if state == State.QUEUED else handoff.assigned_at
        changed.accepted_at = None if state == State.QUEUED else handoff.accepted_at
    if event == "no_answer":
        changed.attempts += 1
    if event in ("offer", "pick"):
        changed.agent_id, changed.assigned_at = agent_id, now
    if state == State.WITH_AGENT:
        changed.accepted_at = now
    if state.value in ("ended", "cancelled", "ticket"):
        changed.ended_at = now
    return changed


def start(handoff: Handoff, event: str, now: float) -> Handoff:
    """A new handoff entering the machine (`enqueue` or `ticket`)."""
    state = target(NEW, event)
    changed = replace(handoff, state=state, created_at=now, queued_at=now)
    if state == State.TICKET:
        changed.ended_at = now
    return changed
