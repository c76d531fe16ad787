"""Routing: the skill group, the priority, and which agent gets the next conversation."""

from __future__ import annotations

import pytest

from bot.handoff.routing import Candidate, RoutingRules, pick_agent, serves
from bot.handoff.types import Agent, AgentPresence, Customer

RULES = RoutingRules(
    intent_groups={"query_bill": "账单", "broadband_slow": "宽带"},
    category_groups={"账单": "账单", "网络": "宽带", "网络/投诉": "投诉"},
    reason_groups={"complaint": "投诉", "negative_sentiment": "投诉"},
    vip_priority={"钻石": 30, "金卡": 20, "银卡": 10},
    difficult_priority=5,
)
HARD = Customer("phone:13800000000", difficult=True)


def test_difficult_customer_goes_to_the_expert_group_first() -> None:
    assert RULES.group_for("complaint", ["query_bill"], "账单", HARD) == "专家组"


def test_reason_before_intents() -> None:
    assert RULES.group_for("complaint", ["query_bill"], "账单") == "投诉"
    assert RULES.group_for("negative_sentiment", ["broadband_slow"]) == "投诉"


def test_intents_newest_first() -> None:
    assert RULES.group_for("fallback", ["broadband_slow", "query_bill"]) == "宽带"
    assert RULES.group_for("fallback", ["greet", "query_bill", "broadband_slow"]) == "账单"


def test_intents_before_the_kb_category() -> None:
    assert RULES.group_for("fallback", ["query_bill"], "网络/宽带提速") == "账单"


@pytest.mark.parametrize(
    ("category", "group"),
    [
        ("账单", "账单"),
        ("账单/话费", "账单"),
        ("网络/宽带提速", "宽带"),
        ("网络/投诉/慢", "投诉"),  # the most specific prefix wins
        ("网络/投诉", "投诉"),
        ("账单话费", "综合"),  # a prefix only matches whole category levels
        ("其他", "综合"),
        (None, "综合"),
        ("", "综合"),
    ],
)
def test_kb_category_prefix(category: str | None, group: str) -> None:
    assert RULES.group_for("fallback", ["greet"], category) == group


def test_default_group() -> None:
    assert RULES.group_for("customer_request") == "综合"
    assert RoutingRules(default_group="账单").group_for("rule", ["x"]) == "账单"
    assert RULES.group_for("fallback", customer=Customer("c", difficult=False)) == "综合"


def test_priority() -> None:
    assert RULES.priority_for(None) == 0
    assert RULES.priority_for(Customer("c")) == 0
    assert RULES.priority_for(Customer("c", vip_level="钻石")) == 30
    assert RULES.priority_for(Customer("c", vip_level="金卡")) == 20
    assert RULES.priority_for(Customer("c", vip_level="普通")) == 0
    assert RULES.priority_for(Customer("c", vip_level="银卡", difficult=True)) == 15
    assert RoutingRules().priority_for(Customer("c", vip_level="钻石")) == 0


def test_valid_group() -> None:
    assert RULES.valid_group("专家组") and not RULES.valid_group("售后")


def cand(
    agent_id: str,
    *,
    idle: float = 0.0,
    online: bool = True,
    load: int = 0,
    groups: tuple[str, ...] = ("账单",),
    limit: int = 2,
) -> Candidate:
    agent = Agent(agent_id, agent_id, groups=groups, max_concurrent=limit)
    return Candidate(agent, AgentPresence(agent_id, online=online, idle_since=idle), load)


def test_pick_the_longest_idle() -> None:
    picked = pick_agent("账单", [cand("a1", idle=30), cand("a2", idle=10), cand("a3", idle=20)])
    assert picked is not None and picked.agent.agent_id == "a2"


def test_pick_skips_offline_other_groups_and_full_agents() -> None:
    candidates = [
        cand("a1", idle=1, online=False),
        cand("a2", idle=2, groups=("宽带",)),
        cand("a3", idle=3, load=2),
        cand("a4", idle=9, load=1),
    ]
    picked = pick_agent("账单", candidates)
    assert picked is not None and picked.agent.agent_id == "a4"
    assert pick_agent("账单", candidates[:3]) is None
    assert pick_agent("投诉", candidates) is None
    assert pick_agent("账单", []) is None


def test_pick_ties_by_agent_id() -> None:
    picked = pick_agent("账单", [cand("b2", idle=5), cand("a9", idle=5), cand("c1", idle=5)])
    assert picked is not None and picked.agent.agent_id == "a9"


def test_pick_ignores_the_supervisor_role_outside_its_groups() -> None:
    boss = Agent("s1", "主管", role="supervisor", groups=())
    only = Candidate(boss, AgentPresence("s1", online=True), 0)
    assert pick_agent("账单", [only]) is None


def test_serves() -> None:
    agent = Agent("a1", "王芳", groups=("账单", "综合"))
    assert serves(agent, "账单") and serves(agent, "综合") and not serves(agent, "投诉")
    assert serves(Agent("s1", "主管", role="supervisor"), "投诉")
