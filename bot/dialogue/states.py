"""Dialogue states: what the policies look at before choosing each action.

A state is a frozen set of features such as ("prev", "utter_greet"), ("intent", "greet"),
("ent", "city"), ("slot:plan", "set") and ("loop", "null"). Trackers and training stories are
turned into state sequences by the same `StateWalker`, so what was learned matches what is seen.
Rules use *partial* states that hold only the features the rule mentions.
"""

from __future__ import annotations

from collections.abc import Iterable
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


def tracker_states(
    events: Iterable[Event], domain: Domain, relevant_entities: set[str]
) -> list[State]:
    """States of a conversation (current session): one per action taken, plus the current one.

    Only states from the first user message of the session on are returned.
    """
    walker = StateWalker(domain, relevant_entities)
    states: list[State] = []
    started = False
    for event in events:
        if isinstance(event, UserUttered):
            started = True
            names = [e.entity for e in event.parse_data.entities] if event.parse_data else []
            walker.user(event.intent_name, names)
        elif isinstance(event, ActionExecuted):
            if started:
                states.append(walker.state())
            walker.action(event.name)
        elif isinstance(event, SlotSet):
            walker.slot(event.key, event.value)
        elif isinstance(event, ActiveLoop):
            walker.loop(event.name)
    if started:
        states.append(walker.state())
    return states


def strip_slots(state: State) -> State:
    return frozenset(f for f in state if not f[0].startswith("slot:"))
