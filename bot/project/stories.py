"""Stories, rules and test stories as typed steps (Rasa 3.x `stories:` / `rules:`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.errors import Location
from bot.nlu.types import Entity


@dataclass(slots=True)
class UserStep:
    intent: str | None
    entities: list[Entity] = field(default_factory=list)
    text: str | None = None  # end-to-end stories: what the user typed
    entity_names: list[str] = field(default_factory=list)  # `entities: [city]` without values
    line: int = 0


@dataclass(slots=True)
class ActionStep:
    name: str | None
    bot_text: str | None = None  # end-to-end stories: `bot: 文本`
    line: int = 0


@dataclass(slots=True)
class SlotStep:
    """`slot_was_set`: name -> value; `has_value` False means "set to anything"."""

    slots: list[tuple[str, Any, bool]]
    line: int = 0


@dataclass(slots=True)
class LoopStep:
    name: str | None
    line: int = 0


@dataclass(slots=True)
class CheckpointStep:
    name: str
    line: int = 0


@dataclass(slots=True)
class OrStep:
    alternatives: list[UserStep | SlotStep]
    line: int = 0


Step = UserStep | ActionStep | SlotStep | LoopStep | CheckpointStep | OrStep


@dataclass(slots=True)
class StoryBlock:
    name: str
    steps: list[Step]
    is_rule: bool = False
    conditions: list[SlotStep | LoopStep] = field(default_factory=list)
    conversation_start: bool = False
    wait_for_user_input: bool = True
    location: Location | None = None

    @property
    def start_checkpoints(self) -> list[str]:
        out = []
        for step in self.steps:
            if not isinstance(step, CheckpointStep):
                break
            out.append(step.name)
        return out

    @property
    def end_checkpoints(self) -> list[str]:
        out = []
        for step in reversed(self.steps):
            if not isinstance(step, CheckpointStep):
                break
            out.append(step.name)
        return out
