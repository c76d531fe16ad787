"""Dialogue states: what the policies look at before choosing each action.

A state is a frozen set of features such as ("prev", "utter_greet"), ("intent", "greet"),
("ent", "city"), ("slot:plan", "set") and ("loop", "null"). Trackers and training stories are
turned into state sequences by the same `StateWalker`, so what was learned matches what is seen.
Rules use *partial* states that hold only the features the rule mentions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.dialogue.events import ActionExecuted, ActiveLoop, Event, SlotSet, UserUttered
from bot.project.domain import Domain

State = frozenset[tuple[str, str]]
ACTION_LISTEN = "action_listen"
NULL = "null"


@dataclass(slots=True)
class StateWalker:
    """Folds steps into features; `partial=True` keeps only what was mentioned (rules)."""

    domain: Domain
    relevant_entities: set[str]
    partial: bool = False
    features: dict[str, str] = field(default_factory=dict)
    ents: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if not self.partial:
            self.features["loop"] = NULL
            for name, slot in self.domain.slots.items():
                if slot.influence_conversation and slot.type != "any":
                    self.features[f"slot:{name}"] = slot.featurize(slot.initial_value) or NULL

    def state(self) -> State:
        return frozenset([*self.features.items(), *(("ent", e) for e in self.ents)])

    def user(self, intent: str | None, entity_names: Iterable[str]) -> None:
        self.features["prev"] = ACTION_LISTEN
        if intent:
            base = intent.split("/", 1)[0]
            self.features["intent"] = base
            spec = self.domain.intent_spec(base)
            self.ents = {
                e for e in entity_names if e in self.relevant_entities and spec.keeps_entity(e)
            }

    def action(self, name: str) -> None:
        self.features["prev"] = name

    def slot(self, name: str, value: Any, has_value: bool = True) -> None:
        slot = self.domain.slots.get(name)
        if slot is None or not slot.influence_conversation or slot.type == "any":
            return
        if not has_value:  # "slot was set to something"
            if slot.type in ("text", "list") or not self.partial:
                self.features[f"slot:{name}"] = "set"
            return
        self.features[f"slot:{name}"] = slot.featurize(value) or NULL

    def loop(self, name: str | None) -> None:
        self.features["loop"] = name or NULL


@dataclass(slots=True)
class StateProgress:
    """States of a growing event list, walked incrementally: appending events to a session never
    changes the states of the events before them, so each event is folded in once."""

    walker: StateWalker
    states: list[State] = field(default_factory=list)
    consumed: int = 0
    started: bool = False

    def advance(self, events: Sequence[Event]) -> list[State]:
        """All states of `events` (which must extend what was seen before), current one last."""
        for event in events[self.consumed :]:
            self._fold(event)
        self.consumed = len(events)
        return [*self.states, self.walker.state()] if self.started else list(self.states)

    def _fold(self, event: Event) -> None:
        walker = self.walker
        if isinstance(event, UserUttered):
            self.started = True
            names = [e.entity for e in event.parse_data.entities] if event.parse_data else []
            walker.user(event.intent_name, names)
        elif isinstance(event, ActionExecuted):
            if self.started:
                self.states.append(walker.state())
            walker.action(event.name)
        elif isinstance(event, SlotSet):
            walker.slot(event.key, event.value)
        elif isinstance(event, ActiveLoop):
            walker.loop(event.name)


def tracker_states(
    events: Iterable[Event], domain: Domain, relevant_entities: set[str]
) -> list[State]:
    """States of a conversation (current session): one per action taken, plus the current one.

    Only states from the first user message of the session on are returned.
    """
    return StateProgress(StateWalker(domain, relevant_entities)).advance(list(events))


def strip_slots(state: State) -> State:
    return frozenset(f for f in state if not f[0].startswith("slot:"))
