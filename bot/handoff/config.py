"""`handoff:` settings from endpoints.yml, validated at start-up with clear errors.

```yaml
handoff:
  db: .zhike/handoff.db
  hours: "08:00-22:00"            # or {mon: "09:00-18:00", …}; missing days closed
  triggers: {fallback: true, request: true, sentiment: true, sentiment_threshold: 0.7,
             kb_clarifications: 2, rule: true, difficult: true}
  timeouts: {queue: 300, accept: 30, agent_lost: 60, idle: 1800, position_every: 60}
  groups: [账单, 宽带, 投诉, 专家组, 综合]
  intent_groups: {query_bill: 账单}
  vip_priority: {钻石: 30, 金卡: 20}
  difficult: {min_difficulty: 4, min_agents: 2, window_days: 180}
  agents:
    - {id: a1001, name: 王芳, password_hash: "scrypt$…", groups: [账单, 综合], max_concurrent: 3}
```
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from bot.errors import ZhikeError
from bot.handoff.hours import WorkingHours
from bot.handoff.ratings import DifficultRule
from bot.handoff.routing import RoutingRules
from bot.handoff.types import Agent, Reason


class HandoffSettingsError(ZhikeError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("转人工配置有误 / invalid handoff settings:\n" + "\n".join(problems))


@dataclass(frozen=True, slots=True)
class Triggers:
    fallback: bool = True  # the two-stage fallback failed
    request: bool = True  # 转人工 / 人工客服 / key 0, with typos
    sentiment: bool = True  # anger, strong negativity, complaint
    sentiment_threshold: float = 0.7
    kb_clarifications: int = 2  # this many KB "您是想问…" in a row; 0 = off
    rule: bool = True  # rules, stories and custom actions (`action_handoff`, handoff events)
    difficult: bool = True  # a flagged customer goes to a human at the first misunderstanding


@dataclass(frozen=True, slots=True)
class Timeouts:
    queue: float = 300.0  # waiting longer than this → apology and a ticket
    accept: float = 30.0  # an offered conversation not accepted → back to the queue
    agent_lost: float = 60.0  # an agent's console gone this long → their chats re-queued
    idle: float = 1800.0  # no message either way while with an agent → ended
    position_every: float = 60.0  # queue position/ETA update to a waiting customer


@dataclass(frozen=True, slots=True)
class HandoffSettings:
    enabled: bool = True
    db: Path = Path(".zhike/handoff.db")
    hours: WorkingHours = field(default_factory=WorkingHours)
    triggers: Triggers = field(default_factory=Triggers)
    timeouts: Timeouts = field(default_factory=Timeouts)
    routing: RoutingRules = field(default_factory=RoutingRules)
    difficult: DifficultRule = field(default_factory=DifficultRule)
    agents: tuple[Agent, ...] = ()
    survey: bool = True
    handle_seconds: float = 180.0  # assumed handling time per chat for ETAs before we measure
    pii_roles: tuple[str, ...] = ("supervisor",)
    profile: str | None = None  # "module:function" returning the customer profile
    session_hours: float = 12.0


def handoff_settings(section: Mapping[str, Any] | None) -> HandoffSettings:
    """Settings from the `handoff:` mapping (None → defaults); every problem reported at once."""
    raw = dict(section or {})
    problems: list[str] = []
    values: dict[str, Any] = {}
    for key, parse in _PARSERS.items():
        if key in raw:
            try:
                values[key] = parse(raw.pop(key))
            except (TypeError, ValueError, KeyError) as exc:
                problems.append(f"handoff.{key}: {exc}")
    routing = _routing(raw, problems)
    hours = _hours(raw, problems)
    if raw:
        problems.append(f"handoff: unknown key(s) {', '.join(sorted(raw))}")
    settings = HandoffSettings(**values, routing=routing or RoutingRules(), hours=hours)
    if routing is not None:  # agents' groups can only be checked against valid routing
        _check_agents(settings, problems)
    if problems:
        raise HandoffSettingsError(problems)
    return settings


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"expected true/false, got {value!r}")


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {value!r}")
    return float(value)


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ValueError(f"expected a whole number, got {value!r}")
    return int(value)


def _names(value: Any) -> tuple[str, ...]:
    """A list of names; a single name on its own is a list of one."""
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list | tuple):
        raise ValueError(f"expected a list, got {value!r}")
    return tuple(str(v) for v in value)


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a name, got {value!r}")
    return value


def _mapping(value: Any, convert: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a mapping, got {value!r}")
    return {str(k): convert(v) for k, v in value.items()}


def _like(default: Any, name: str, value: Any) -> Any:
    """`value` converted to the type of the field's default (bool, int or float), ≥ 0."""
    try:
        if isinstance(default, bool):
            return _bool(value)
        number = _integer(value) if isinstance(default, int) else _number(value)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    if number < 0:
        raise ValueError(f"{name} must not be negative")
    return number


def _section(cls: type, value: Any) -> Any:
    if not isinstance(value, Mapping):
        raise ValueError("expected a mapping")
    defaults = cls()
    known = {f.name for f in fields(cls)}
    unknown = set(value) - known
    if unknown:
        raise ValueError(f"unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
    return cls(**{k: _like(getattr(defaults, k), k, v) for k, v in value.items()})


def _agent(item: Any) -> Agent:
    if not isinstance(item, Mapping) or not item.get("id"):
        raise ValueError("each agent needs at least an id")
    from bot.handoff.agents import hash_password

    password_hash = str(item.get("password_hash") or "")
    if not password_hash and item.get("password"):
        password_hash = hash_password(str(item["password"]))
    role = str(item.get("role") or "agent")
    if role not in ("agent", "supervisor"):
        raise ValueError(f"agent {item['id']}: role must be agent or supervisor")
    return Agent(
        agent_id=str(item["id"]),
        name=str(item.get("name") or item["id"]),
        role=role,
        groups=_names(item.get("groups") or ()),
        max_concurrent=_integer(item.get("max_concurrent", 3)),
        can_see_pii=_bool(item.get("pii", False)),
        password_hash=password_hash,
    )


def _agents(value: Any) -> tuple[Agent, ...]:
    """Every agent; the problems of all bad entries at once."""
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise ValueError("expected a list of agents")
    agents: list[Agent] = []
    errors: list[str] = []
    for number, item in enumerate(value, start=1):
        try:
            agents.append(_agent(item))
        except (TypeError, ValueError) as exc:
            errors.append(f"#{number}: {exc}")
    if errors:
        raise ValueError("; ".join(errors))
    return tuple(agents)


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "enabled": _bool,
    "survey": _bool,
    "db": lambda v: Path(str(v)),
    "triggers": lambda v: _section(Triggers, v),
    "timeouts": lambda v: _section(Timeouts, v),
    "difficult": lambda v: _section(DifficultRule, v),
    "agents": _agents,
    "handle_seconds": _number,
    "pii_roles": _names,
    "profile": lambda v: str(v) if v else None,
    "session_hours": _number,
}
_ROUTING: dict[str, Callable[[Any], Any]] = {
    "groups": _names,
    "default_group": _name,
    "expert_group": _name,
    "intent_groups": lambda v: _mapping(v, _name),
    "category_groups": lambda v: _mapping(v, _name),
    "reason_groups": lambda v: _mapping(v, _name),
    "vip_priority": lambda v: _mapping(v, _integer),
    "difficult_priority": _integer,
}
REASONS = frozenset(r.value for r in Reason)


def _routing(raw: dict[str, Any], problems: list[str]) -> RoutingRules | None:
    """The routing rules (None when a key could not be read; the problems are listed)."""
    given: dict[str, Any] = {}
    failed = False
    for key, parse in _ROUTING.items():
        if key in raw:
            try:
                given[key] = parse(raw.pop(key))
            except (TypeError, ValueError) as exc:
                problems.append(f"handoff.{key}: {exc}")
                failed = True
    if failed:
        return None
    rules = RoutingRules(**given)
    named = {rules.default_group, rules.expert_group}
    named |= {*rules.intent_groups.values(), *rules.category_groups.values()}
    named |= set(rules.reason_groups.values())
    missing = sorted(g for g in named if g not in rules.groups)
    if missing:
        problems.append(f"handoff: group(s) {missing} are used but not listed in handoff.groups")
    unknown = sorted(set(rules.reason_groups) - REASONS)
    if unknown:
        problems.append(
            f"handoff.reason_groups: unknown reason(s) {unknown}; known: {sorted(REASONS)}"
        )
    return rules


def _hours(raw: dict[str, Any], problems: list[str]) -> WorkingHours:
    spec = raw.pop("hours", None)
    offset = raw.pop("utc_offset", 8.0)
    holidays = raw.pop("holidays", ()) or ()
    try:
        return WorkingHours.parse(spec, _number(offset), [str(h) for h in _names(holidays)])
    except (TypeError, ValueError) as exc:
        problems.append(f"handoff.hours: {exc}")
        return WorkingHours()


def _check_agents(settings: HandoffSettings, problems: list[str]) -> None:
    seen: set[str] = set()
    for agent in settings.agents:
        if agent.agent_id in seen:
            problems.append(f"handoff.agents: duplicate id {agent.agent_id}")
        seen.add(agent.agent_id)
        unknown = [g for g in agent.groups if not settings.routing.valid_group(g)]
        if unknown:
            problems.append(f"handoff.agents: {agent.agent_id} has unknown group(s) {unknown}")
        if agent.max_concurrent < 1:
            problems.append(f"handoff.agents: {agent.agent_id} max_concurrent must be ≥ 1")
