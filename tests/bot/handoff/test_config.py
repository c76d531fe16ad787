"""`handoff:` settings: defaults, the documented example, and every problem reported at once."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.errors import ZhikeError
from bot.handoff.agents import verify_password
from bot.handoff.config import (
    HandoffSettings,
    HandoffSettingsError,
    Timeouts,
    Triggers,
    handoff_settings,
)
from bot.handoff.hours import WorkingHours
from bot.handoff.ratings import DifficultRule
from bot.handoff.routing import RoutingRules

EXAMPLE = """
handoff:
  db: .zhike/handoff.db
  hours: "08:00-22:00"
  triggers: {fallback: true, request: true, sentiment: true, sentiment_threshold: 0.7,
             kb_clarifications: 2, rule: true, difficult: true}
  timeouts: {queue: 300, accept: 30, agent_lost: 60, idle: 1800, position_every: 60}
  groups: [账单, 宽带, 投诉, 专家组, 综合]
  intent_groups: {query_bill: 账单}
  vip_priority: {钻石: 30, 金卡: 20}
  difficult: {min_difficulty: 4, min_agents: 2, window_days: 180}
  agents:
    - {id: a1001, name: 王芳, password_hash: "scrypt$00$11", groups: [账单, 综合], max_concurrent: 3}
"""


def problems(section: dict[str, Any]) -> list[str]:
    with pytest.raises(HandoffSettingsError) as info:
        handoff_settings(section)
    assert isinstance(info.value, ZhikeError)
    assert str(info.value).startswith("转人工配置有误")
    return info.value.problems


def test_defaults() -> None:
    sections: tuple[dict[str, Any] | None, ...] = (None, {})
    for section in sections:
        settings = handoff_settings(section)
        assert settings == HandoffSettings()
    assert settings.enabled and settings.survey and settings.agents == ()
    assert settings.db == Path(".zhike/handoff.db")
    assert settings.timeouts == Timeouts(300.0, 30.0, 60.0, 1800.0, 60.0)
    assert settings.triggers.kb_clarifications == 2 and settings.triggers.sentiment_threshold == 0.7
    assert settings.routing.default_group == "综合" and settings.routing.expert_group == "专家组"
    assert settings.difficult == DifficultRule(4, 2, 180.0, 2)
    assert settings.hours.describe() == "每天 00:00–24:00"
    assert settings.pii_roles == ("supervisor",) and settings.session_hours == 12.0


def test_the_documented_example() -> None:
    settings = handoff_settings(yaml.safe_load(EXAMPLE)["handoff"])
    assert settings.hours.describe() == "每天 08:00–22:00"
    assert settings.triggers == Triggers()
    assert settings.timeouts == Timeouts()
    assert settings.routing.groups == ("账单", "宽带", "投诉", "专家组", "综合")
    assert settings.routing.intent_groups == {"query_bill": "账单"}
    assert settings.routing.vip_priority == {"钻石": 30, "金卡": 20}
    assert settings.difficult == DifficultRule()
    (agent,) = settings.agents
    assert (agent.agent_id, agent.name, agent.groups) == ("a1001", "王芳", ("账单", "综合"))
    assert agent.max_concurrent == 3 and agent.role == "agent" and not agent.can_see_pii
    assert agent.password_hash == "scrypt$00$11"


def test_everything_else() -> None:
    settings = handoff_settings(
        {
            "enabled": False,
            "survey": False,
            "hours": {"mon": "09:00-18:00", "tue": "09:00-18:00"},
            "utc_offset": 9,
            "holidays": [date(2026, 10, 1), "2026-10-02"],
            "groups": ["账单", "投诉", "专家组", "综合", "VIP"],
            "category_groups": {"账单": "账单"},
            "reason_groups": {"complaint": "投诉"},
            "difficult_priority": 5,
            "handle_seconds": 120,
            "pii_roles": ["supervisor", "agent"],
            "profile": "actions.profile:customer_profile",
            "session_hours": 8,
            "timeouts": {"queue": 0, "accept": 15},
            "agents": [{"id": "s1", "role": "supervisor", "groups": "VIP", "pii": True}],
        }
    )
    assert not settings.enabled and not settings.survey
    assert settings.hours.utc_offset_hours == 9.0
    assert settings.hours.holidays == frozenset({date(2026, 10, 1), date(2026, 10, 2)})
    assert settings.hours.describe() == "周一至周二 09:00–18:00"
    assert settings.routing.reason_groups == {"complaint": "投诉"}
    assert settings.routing.difficult_priority == 5
    assert settings.handle_seconds == 120.0 and settings.session_hours == 8.0
    assert settings.pii_roles == ("supervisor", "agent")
    assert settings.profile == "actions.profile:customer_profile"
    assert settings.timeouts.queue == 0.0 and settings.timeouts.accept == 15.0
    assert settings.timeouts.idle == 1800.0
    (boss,) = settings.agents
    assert boss.role == "supervisor" and boss.can_see_pii and boss.groups == ("VIP",)
    assert boss.name == "s1" and boss.password_hash == ""


def test_password_becomes_a_scrypt_hash() -> None:
    settings = handoff_settings(
        {"agents": [{"id": "a1", "password": "s3cret", "groups": ["账单"]}]}
    )
    stored = settings.agents[0].password_hash
    assert stored.startswith("scrypt$") and "s3cret" not in stored
    assert verify_password("s3cret", stored) and not verify_password("secret", stored)


def test_unknown_keys() -> None:
    found = problems({"timeout": {"queue": 1}, "agnets": []})
    assert found == ["handoff: unknown key(s) agnets, timeout"]
    (found_one,) = problems({"timeouts": {"queue": 1, "wait": 2}})
    assert found_one.startswith("handoff.timeouts: unknown key(s) ['wait']")


def test_unknown_group_used_by_routing() -> None:
    (found,) = problems({"groups": ["账单", "综合"], "intent_groups": {"query_bill": "帐单"}})
    assert "['专家组', '帐单']" in found and "handoff.groups" in found


def test_unknown_agent_group() -> None:
    (found,) = problems({"agents": [{"id": "a1", "groups": ["账单", "售后"]}]})
    assert found == "handoff.agents: a1 has unknown group(s) ['售后']"


def test_bad_agent_role() -> None:
    (found,) = problems({"agents": [{"id": "a1", "role": "admin"}]})
    assert "a1" in found and "role must be agent or supervisor" in found


def test_duplicate_agent_id() -> None:
    (found,) = problems({"agents": [{"id": "a1"}, {"id": "a1", "name": "又一个"}]})
    assert found == "handoff.agents: duplicate id a1"


def test_agent_without_id_and_bad_capacity() -> None:
    (found,) = problems({"agents": [{"name": "无名"}, {"id": "a2", "role": "boss"}]})
    assert "#1: each agent needs at least an id" in found and "#2: agent a2" in found
    (found,) = problems({"agents": [{"id": "a1", "max_concurrent": 0}]})
    assert "max_concurrent must be ≥ 1" in found
    (found,) = problems({"agents": [{"id": "a1", "max_concurrent": "many"}]})
    assert "whole number" in found


def test_every_problem_at_once() -> None:
    found = problems(
        {
            "enabled": "yes",
            "hours": "9点-18点",
            "timeouts": {"queue": -1},
            "triggers": {"sentiment_threshold": "high"},
            "difficult": {"min_agents": 1.5},
            "vip_priority": {"钻石": "高"},
            "reason_groups": {"complain": "投诉"},
            "whatever": 1,
        }
    )
    joined = "\n".join(found)
    for expected in (
        "handoff.enabled: expected true/false",
        "handoff.hours: working hours",
        "handoff.timeouts: queue must not be negative",
        "handoff.triggers: sentiment_threshold: expected a number",
        "handoff.difficult: min_agents: expected a whole number",
        "handoff.vip_priority: expected a whole number",
        "handoff: unknown key(s) whatever",
    ):
        assert expected in joined, expected
    assert len(found) == 7


def test_problems_across_sections_and_agents_together() -> None:
    found = problems(
        {
            "reason_groups": {"complain": "投诉"},
            "agents": [{"id": "a1", "groups": ["售后"]}],
            "session_hours": "long",
        }
    )
    assert len(found) == 3
    assert any("unknown reason(s) ['complain']" in p for p in found)
    assert any("a1 has unknown group(s) ['售后']" in p for p in found)
    assert any(p.startswith("handoff.session_hours:") for p in found)


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"intent_groups": ["账单"]}, "handoff.intent_groups"),
        ({"groups": {"账单": 1}}, "handoff.groups"),
        ({"default_group": ""}, "handoff.default_group"),
        ({"hours": ["09:00-18:00"]}, "handoff.hours"),
        ({"utc_offset": "eight"}, "handoff.hours"),
        ({"holidays": ["2026/10/01"]}, "handoff.hours"),
        ({"triggers": "on"}, "handoff.triggers"),
        ({"agents": {"id": "a1"}}, "handoff.agents"),
    ],
)
def test_wrong_shapes_are_problems_not_crashes(section: dict[str, Any], key: str) -> None:
    (found,) = problems(section)
    assert found.startswith(key + ":")


def test_a_single_group_name_is_a_list_of_one() -> None:
    settings = handoff_settings({"groups": "综合", "expert_group": "综合"})
    assert settings.routing.groups == ("综合",)
    assert handoff_settings({"agents": [{"id": "a1", "groups": "账单"}]}).agents[0].groups == (
        "账单",
    )


def test_settings_parts_are_the_right_types() -> None:
    settings = handoff_settings({"difficult": {"min_agents": 3, "window_days": 30}})
    assert isinstance(settings.difficult.min_agents, int) and settings.difficult.min_agents == 3
    assert isinstance(settings.difficult.window_days, float)
    assert isinstance(settings.routing, RoutingRules)
    assert isinstance(settings.hours, WorkingHours)
