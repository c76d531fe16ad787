"""`action_extract_slots`: fill slots from the latest user message by their mappings."""

from __future__ import annotations

from typing import Any

from bot.dialogue.tracker import Tracker
from bot.nlu.types import Entity
from bot.project.domain import Domain, SlotMapping


def _conditions_hold(mapping: SlotMapping, tracker: Tracker) -> bool:
    if not mapping.conditions:
        return True
    requested = tracker.get_slot("requested_slot")
    for cond in mapping.conditions:
        if cond.active_loop != tracker.active_loop:
            continue
        if cond.requested_slot is None or cond.requested_slot == requested:
            return True
    return False


def _intent_allows(mapping: SlotMapping, intent: str | None) -> bool:
    if intent is None:
        return not mapping.intent
    base = intent.split("/", 1)[0]
    if mapping.intent and intent not in mapping.intent and base not in mapping.intent:
        return False
    return intent not in mapping.not_intent and base not in mapping.not_intent


def _entity_values(mapping: SlotMapping, entities: list[Entity]) -> list[Any]:
    return [
        e.value
        for e in entities
        if e.entity == mapping.entity
        and (mapping.role is None or e.role == mapping.role)
        and (mapping.group is None or e.group == mapping.group)
    ]


def _ignored_by_form(domain: Domain, slot: str, intent: str | None, tracker: Tracker) -> bool:
    form = domain.forms.get(tracker.active_loop or "")
    return bool(form and slot in form.required_slots and intent in form.ignored_intents)


def mapped_value(
    mapping: SlotMapping, tracker: Tracker, domain: Domain, slot_type: str
) -> tuple[bool, Any]:
    """(found, value) for one mapping against the latest message."""
    message = tracker.latest_message
    if message is None or not _conditions_hold(mapping, tracker):
        return False, None
    intent = message.intent_name
    if not _intent_allows(mapping, intent):
        return False, None
    if mapping.type == "from_entity":
        spec = domain.intent_spec((intent or "").split("/", 1)[0])
        if mapping.entity is None or not spec.keeps_entity(mapping.entity):
            return False, None
        values = _entity_values(mapping, message.parse_data.entities if message.parse_data else [])
        if not values:
            return False, None
        return True, values if slot_type == "list" else values[0]
    if mapping.type == "from_text":  # a clicked button (`/intent{...}`) is not free text
        text = message.text or ""
        return (True, text) if text and not text.startswith("/") else (False, None)
    if mapping.type == "from_intent":
        return (True, mapping.value) if mapping.intent else (False, None)
    if mapping.type == "from_trigger_intent" and tracker.active_loop is None and mapping.intent:
        return True, mapping.value
    return False, None


def extract_slots(tracker: Tracker, domain: Domain) -> tuple[dict[str, Any], list[str]]:
    """Values to set now, and the custom-mapping actions to run afterwards."""
    values: dict[str, Any] = {}
    custom_actions: list[str] = []
    intent = tracker.latest_intent
    for name, slot in domain.slots.items():
        if _ignored_by_form(domain, name, intent, tracker):
            continue
        for mapping in slot.mappings:
            if mapping.type == "custom":
                if (
                    mapping.action
                    and mapping.action not in custom_actions
                    and _conditions_hold(mapping, tracker)
                ):
                    custom_actions.append(mapping.action)
                continue
            found, value = mapped_value(mapping, tracker, domain, slot.type)
            if found:
                values[name] = value
                break
    return values, custom_actions
