"""Routing: which skill group a handoff joins, its priority, and which agent gets it next.

- group: a difficult customer → the expert group; otherwise by reason (投诉 for complaints and
  anger), by the customer's latest intent, by the KB category of the question, else the default;
- priority: from the VIP level in the customer profile (higher first, then first come);
- agent: among online agents of the group with a free slot (per-agent concurrency limit), the
  longest idle one (`idle_since` moves to now whenever an agent is handed a conversation).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bot.handoff.types import Agent, AgentPresence, Customer


@dataclass(frozen=True, slots=True)
class RoutingRules:
    groups: tuple[str, ...] = ("账单", "宽带", "投诉", "专家组", "综合")
    default_group: str = "综合"
    expert_group: str = "专家组"
    intent_groups: Mapping[str, str] = field(default_factory=dict)
    category_groups: Mapping[str, str] = field(default_factory=dict)  # KB category prefix
    reason_groups: Mapping[str, str] = field(default_factory=dict)
    vip_priority: Mapping[str, int] = field(default_factory=dict)
    difficult_priority: int = 0

    def group_for(
        self,
        reason: str,
        intents: Iterable[str] = (),
        kb_category: str | None = None,
        customer: Customer | None = None,
    ) -> str:
        """`intents` newest first: the first one with a group decides."""
        if customer is not None and customer.difficult:
            return self.expert_group
        if reason in self.reason_groups:
            return self.reason_groups[reason]
        for intent in intents:
            if intent in self.intent_groups:
                return self.intent_groups[intent]
        if kb_category:
            matching = [
                prefix
                for prefix in self.category_groups
                if kb_category == prefix or kb_category.startswith(prefix + "/")
            ]
            if matching:  # the most specific category wins
                return self.category_groups[max(matching, key=len)]
        return self.default_group

    def priority_for(self, customer: Customer | None) -> int:
        if customer is None:
            return 0
        priority = self.vip_priority.get(customer.vip_level or "", 0)
        return priority + (self.difficult_priority if customer.difficult else 0)

    def valid_group(self, group: str) -> bool:
        return group in self.groups


@dataclass(frozen=True, slots=True)
class Candidate:
    agent: Agent
    presence: AgentPresence
    load: int


def pick_agent(group: str, candidates: Iterable[Candidate]) -> Candidate | None:
    """The longest-idle online agent of `group` with a free slot, or None."""
    eligible = [
        c
        for c in candidates
        if c.presence.online and group in c.agent.groups and c.load < c.agent.max_concurrent
    ]
    if not eligible:
        return None
    return min(eligible, key=lambda c: (c.presence.idle_since, c.agent.agent_id))


def serves(agent: Agent, group: str) -> bool:
    """May this agent see and answer conversations of `group`? Supervisors see every group."""
    return agent.role == "supervisor" or group in agent.groups
