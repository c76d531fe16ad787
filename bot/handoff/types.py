"""Handoff records as small dataclasses: what every part of the handoff agrees on.

A handoff moves through `State`s (see `bot.handoff.machine`): the bot asks for a human, the
conversation waits in a skill group's queue, is offered to an agent (assigned), the agent
accepts (with_agent) and ends it; or the customer cancels, or nobody answers in time and a
ticket (工单) is left instead. Times are Unix seconds (float) from the service's clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class State(StrEnum):
    QUEUED = "queued"
    ASSIGNED = "assigned"
    WITH_AGENT = "with_agent"
    ENDED = "ended"
    CANCELLED = "cancelled"
    TICKET = "ticket"


ACTIVE_STATES = frozenset({State.QUEUED, State.ASSIGNED, State.WITH_AGENT})
FINAL_STATES = frozenset({State.ENDED, State.CANCELLED, State.TICKET})


class Reason(StrEnum):
    """Why the bot asked for a human (the `reason` of the `handoff` event)."""

    FALLBACK = "fallback"  # the two-stage fallback failed
    CUSTOMER_REQUEST = "customer_request"  # 转人工 / 人工客服 / key 0
    COMPLAINT = "complaint"  # a complaint intent
    NEGATIVE_SENTIMENT = "negative_sentiment"  # an angry or strongly negative message
    KB_CLARIFY = "kb_clarify"  # N knowledge-base clarifications in a row
    RULE = "rule"  # a rule, story or custom action
    DIFFICULT_CUSTOMER = "difficult_customer"  # flagged by agents' ratings


@dataclass(slots=True)
class Customer:
    """Who is waiting: a stable key (phone number when known, else channel + sender)."""

    customer_id: str
    name: str | None = None
    phone: str | None = None
    vip_level: str | None = None  # e.g. 普通 / 银卡 / 金卡 / 钻石
    difficult: bool = False
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Handoff:
    handoff_id: str
    conversation_id: str
    channel: str
    sender_id: str
    customer_id: str
    reason: str
    skill_group: str
    state: State
    priority: int = 0  # higher first; ties by `queued_at`
    created_at: float = 0.0
    queued_at: float = 0.0  # when it (re-)entered the queue order; kept on re-queue
    assigned_at: float | None = None
    accepted_at: float | None = None
    ended_at: float | None = None
    agent_id: str | None = None
    attempts: int = 0  # offers to agents that were not accepted in time
    ticket_no: str | None = None
    ended_by: str | None = None  # agent | customer | timeout | system
    survey_pending: bool = False
    survey_score: int | None = None
    context: dict[str, Any] = field(default_factory=dict)  # the context packet (JSON)
    version: int = 0  # optimistic concurrency: bumped on every change

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES


@dataclass(slots=True)
class Agent:
    agent_id: str
    name: str
    role: str = "agent"  # agent | supervisor
    groups: tuple[str, ...] = ()
    max_concurrent: int = 3
    can_see_pii: bool = False
    password_hash: str = ""  # `scrypt$<salt hex>$<hash hex>`


@dataclass(slots=True)
class AgentPresence:
    """An agent's live status: online consoles, and since when the agent has been idle."""

    agent_id: str
    online: bool = False
    idle_since: float = 0.0  # last time the agent's load dropped to zero (longest idle first)
    last_seen: float = 0.0


@dataclass(slots=True)
class Rating:
    """An agent's one-click rating of the customer at the end of a handoff (Agent Rating)."""

    handoff_id: str
    customer_id: str
    agent_id: str
    satisfaction: int | None  # 1–5: how satisfied the customer seemed
    difficulty: int | None  # 1–5: how hard the customer was to deal with (难应付程度)
    created_at: float = 0.0


@dataclass(slots=True)
class Ticket:
    ticket_no: str  # e.g. GD20261123-0007
    handoff_id: str
    conversation_id: str
    customer_id: str
    reason: str
    skill_group: str
    note: str  # what the customer asked (and any message left)
    created_at: float = 0.0
    status: str = "open"  # open | closed


@dataclass(slots=True)
class ChatLine:
    """One line of a handoff's conversation as the agent console shows it."""

    role: str  # user | bot | agent | system
    text: str
    timestamp: float
    agent_id: str | None = None
