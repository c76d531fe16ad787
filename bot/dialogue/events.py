"""Tracker events as small dataclasses that read and write Rasa's tracker JSON schema.

Each class names its Rasa `event` type; `event_from_dict` looks the type up in a registry,
and anything unknown is kept verbatim as `UnknownEvent`, so no stored data is ever lost.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from bot.nlu.types import ParseResult

_REGISTRY: dict[str, type[Event]] = {}


def _now() -> float:
    return time.time()


@dataclass(kw_only=True)
class Event:
    type_name: ClassVar[str] = ""
    timestamp: float = field(default_factory=_now)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.type_name:
            _REGISTRY[cls.type_name] = cls

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event": self.type_name, "timestamp": self.timestamp}
        if self.metadata:
            out["metadata"] = self.metadata
        out.update(self._fields())
        return out

    def _fields(self) -> dict[str, Any]:
        return {}

    @classmethod
    def _from(cls, d: dict[str, Any]) -> Event:
        return cls()


@dataclass(kw_only=True)
class UserUttered(Event):
    type_name: ClassVar[str] = "user"
    text: str | None = None
    parse_data: ParseResult | None = None
    input_channel: str | None = None
    message_id: str | None = None

    @property
    def intent_name(self) -> str | None:
        return self.parse_data.intent.name if self.parse_data else None

    def _fields(self) -> dict[str, Any]:
        parse = self.parse_data.to_dict() if self.parse_data else {}
        parse.setdefault("text", self.text)
        out = {
            "text": self.text,
            "parse_data": parse,
            "input_channel": self.input_channel,
            "message_id": self.message_id,
        }
        return out

    @classmethod
    def _from(cls, d: dict[str, Any]) -> Event:
        parse = d.get("parse_data") or {}
        return cls(
            text=d.get("text"),
            parse_data=ParseResult.from_dict(parse) if parse else None,
            input_channel=d.get("input_channel"),
            message_id=d.get("message_id"),
        )


@dataclass(kw_only=True)
class BotUttered(Event):
    type_name: ClassVar[str] = "bot"
    text: str | None = None
    data: dict[str, Any] = field(default_factory=dict)  # buttons, image, custom, attachment

    def _fields(self) -> dict[str, Any]:
        return {"text": self.text, "data": self.data}

    @classmethod
    def _from(cls, d: dict[str, Any]) -> Event:
        return cls(text=d.get("text"), data=dict(d.get("data") or {}))


@dataclass(kw_only=True)
class ActionExecuted(Event):
    type_name: ClassVar[str] = "action"
    name: str
    policy: str | None = None
    confidence: float | None = None

    def _fields(self) -> dict[str, Any]:
        return {"name": self.name, "policy": self.policy, "confidence": self.confidence}

    @classmethod
    def _from(cls, d: dict[str, Any]) -> Event:
        return cls(name=str(d.get("name")), policy=d.get("policy"), confidence=d.get("confidence"))


@dataclass(kw_only=True)
class SlotSet(Event):
    type_name: ClassVar[str] = "slot"
    key: str
    value: Any = None

    def _fields(self) -> dict[str, Any]:
        return {"name": self.key, "value": self.value}

    @classmethod
    def _from(cls, d: dict[str, Any]) -> Event:
        return cls(key=str(d.get("name")), value=d.get("value"))


@dataclass(kw_only=True)
class ActiveLoop(Event):
    type_name: ClassVar[str] = "active_loop"
    name: str | None = None

    def _fields(self) -> dict[str, Any]:
        return {"name": self.name}

    @classmethod
    def _from(cls, d: dict[str, Any]) -> Event:
        return cls(name=d.get("name"))


@dataclass(kw_only=True)
class ActionExecutionRejected(Event):
    type_name: ClassVar[str] = "action_execution_rejected"
    name: str
    policy: str | None = None
    confidence: float | None = None

    def _fields(self) -> dict[str, Any]:
        return {"name": self.name, "policy": self.policy, "confidence": self.confidence}

    @classmethod
    def _from(cls, d: dict[str, Any]) -> Event:
        return cls(name=str(d.get("name")), policy=d.get("policy"), confidence=d.get("confidence"))


@dataclass(kw_only=True)
class LoopInterrupted(Event):
    type_name: ClassVar[str] = "loop_interrupted"
    is_interrupted: bool = False

    def _fields(self) -> dict[str, Any]:
        return {"is_interrupted": self.is_interrupted}

    @classmethod
    def _from(cls, d: dict[str, Any]) -> Event:
        return cls(is_interrupted=bool(d.get("is_interrupted")))


@dataclass(kw_only=True)
class FollowupAction(Event):
    type_name: ClassVar[str] = "followup"
    name: str

    def _fields(self) -> dict[str, Any]:
        return {"name": self.name}

    @classmethod
    def _from(cls, d: dict[str, Any]) -> Event:
        return cls(name=str(d.get("name")))


@dataclass(kw_only=True)
class SessionStarted(Event):
    type_name: ClassVar[str] = "session_started"


@dataclass(kw_only=True)
class Restarted(Event):
    type_name: ClassVar[str] = "restart"


@dataclass(kw_only=True)
class UserUtteranceReverted(Event):
    type_name: ClassVar[str] = "rewind"


@dataclass(kw_only=True)
class ActionReverted(Event):
    type_name: ClassVar[str] = "undo"


@dataclass(kw_only=True)
class AllSlotsReset(Event):
    type_name: ClassVar[str] = "reset_slots"


@dataclass(kw_only=True)
class ConversationPaused(Event):
    type_name: ClassVar[str] = "pause"


@dataclass(kw_only=True)
class ConversationResumed(Event):
    type_name: ClassVar[str] = "resume"


@dataclass(kw_only=True)
class Handoff(Event):
    """Zhike: the conversation goes to a human. `reason` says why; the handoff service fills
    in `handoff_id` and `skill_group` when it queues the conversation."""

    type_name: ClassVar[str] = "handoff"
    reason: str = "fallback"
    skill_group: str | None = None
    handoff_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def _fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"reason": self.reason}
        if self.skill_group is not None:
            out["skill_group"] = self.skill_group
        if self.handoff_id is not None:
            out["handoff_id"] = self.handoff_id
        return {**out, **({"detail": self.detail} if self.detail else {})}

    @classmethod
    def _from(cls, d: dict[str, Any]) -> Event:
        return cls(
            reason=str(d.get("reason") or "fallback"),
            skill_group=_str_or_none(d.get("skill_group")),
            handoff_id=_str_or_none(d.get("handoff_id")),
            detail=dict(d.get("detail") or {}),
        )


@dataclass(kw_only=True)
class HandoffStateChanged(Event):
    """Zhike: a handoff moved to `state` (queued | assigned | with_agent | ended | cancelled |
    ticket); `agent_id`, `ticket_no` and `position` are set where they apply."""

    type_name: ClassVar[str] = "handoff_state"
    handoff_id: str = ""
    state: str = "queued"
    detail: dict[str, Any] = field(default_factory=dict)

    def _fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"handoff_id": self.handoff_id, "state": self.state}
        return {**out, **self.detail}

    @classmethod
    def _from(cls, d: dict[str, Any]) -> Event:
        known = {"event", "timestamp", "metadata", "handoff_id", "state"}
        return cls(
            handoff_id=str(d.get("handoff_id") or ""),
            state=str(d.get("state") or "queued"),
            detail={k: v for k, v in d.items() if k not in known},
        )


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(kw_only=True)
class KnowledgeBaseAnswered(Event):
    """Zhike: the knowledge base answered (`outcome` "answer") or offered its best matches
    ("clarify"); `feedback` events ("unsolved", "thumbs_down", "thumbs_up") rate an answer."""

    type_name: ClassVar[str] = "kb"
    outcome: str = "answer"  # answer | clarify | feedback
    entry_id: str | None = None
    score: float | None = None
    query: str = ""
    candidates: list[dict[str, Any]] = field(default_factory=list)  # [{"id", "score"}]

    def _fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"outcome": self.outcome, "entry_id": self.entry_id}
        out["score"] = self.score
        out["query"] = self.query
        if self.candidates:
            out["candidates"] = self.candidates
        return out

    @classmethod
    def _from(cls, d: dict[str, Any]) -> Event:
        score = d.get("score")
        return cls(
            outcome=str(d.get("outcome") or "answer"),
            entry_id=d.get("entry_id"),
            score=float(score) if isinstance(score, int | float) else None,
            query=str(d.get("query") or ""),
            candidates=[c for c in d.get("candidates") or [] if isinstance(c, dict)],
        )


@dataclass(kw_only=True)
class UnknownEvent(Event):
    """An event type we do not interpret (reminders, exports …), kept as it came."""

    raw: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.raw)


def event_from_dict(d: dict[str, Any]) -> Event:
    """Rasa tracker JSON -> event object (never raises on unknown types)."""
    cls = _REGISTRY.get(str(d.get("event")))
    if cls is None:
        return UnknownEvent(raw=dict(d), timestamp=float(d.get("timestamp") or _now()))
    event = cls._from(d)
    if d.get("timestamp") is not None:
        event.timestamp = float(d["timestamp"])
    if isinstance(d.get("metadata"), dict):
        event.metadata = dict(d["metadata"])
    return event


def events_from_dicts(items: list[dict[str, Any]]) -> list[Event]:
    return [event_from_dict(d) for d in items if isinstance(d, dict)]
