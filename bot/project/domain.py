"""The domain: intents, entities, slots, responses, forms, actions (Rasa 3.x `domain.yml`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.errors import Location

SLOT_TYPES = {"text", "bool", "categorical", "float", "list", "any"}
REQUESTED_SLOT = "requested_slot"
SESSION_STARTED_METADATA = "session_started_metadata"

DEFAULT_INTENTS = ("restart", "back", "out_of_scope", "session_start", "nlu_fallback")
DEFAULT_ACTIONS = (
    "action_listen",
    "action_restart",
    "action_session_start",
    "action_default_fallback",
    "action_deactivate_loop",
    "action_revert_fallback_events",
    "action_default_ask_affirmation",
    "action_default_ask_rephrase",
    "action_two_stage_fallback",
    "action_unlikely_intent",
    "action_back",
    "action_send_text",
    "action_extract_slots",
    "action_handoff",
)
DEFAULT_RESPONSES: dict[str, dict[str, str]] = {
    "zh": {
        "utter_default": "抱歉，我没有理解您的意思，您可以换个说法再试试。",
        "utter_ask_rephrase": "不好意思，我没太明白，麻烦您换个说法再说一遍好吗？",
        "utter_ask_affirmation": "您是想问以下哪个问题？",
        "utter_handoff": "已为您记录，稍后会有人工客服与您联系，请您稍候。",
    },
    "en": {
        "utter_default": "Sorry, I didn't get that. Could you put it another way?",
        "utter_ask_rephrase": "I'm sorry, I didn't quite understand. Could you rephrase that?",
        "utter_ask_affirmation": "Did you mean one of these?",
        "utter_handoff": "I've noted your request; a member of our team will get back to you shortly.",
    },
}


@dataclass(slots=True)
class MappingCondition:
    active_loop: str | None
    requested_slot: str | None = None


@dataclass(slots=True)
class SlotMapping:
    type: str  # from_entity | from_text | from_intent | from_trigger_intent | custom
    entity: str | None = None
    intent: list[str] = field(default_factory=list)
    not_intent: list[str] = field(default_factory=list)
    value: Any = None
    role: str | None = None
    group: str | None = None
    action: str | None = None
    conditions: list[MappingCondition] = field(default_factory=list)


@dataclass(slots=True)
class Slot:
    name: str
    type: str = "text"
    influence_conversation: bool = True
    initial_value: Any = None
    values: list[str] = field(default_factory=list)  # categorical
    min_value: float = 0.0
    max_value: float = 1.0
    mappings: list[SlotMapping] = field(default_factory=list)

    def featurize(self, value: Any) -> str | None:
        """The value as the dialogue policies see it (None = unset / not featurised)."""
        if not self.influence_conversation or self.type == "any" or value is None:
            return None
        return _FEATURIZERS.get(self.type, _featurize_text)(self, value)


def _featurize_text(slot: Slot, value: Any) -> str:
    return "set"


def _featurize_bool(slot: Slot, value: Any) -> str:
    truthy = value if isinstance(value, bool) else str(value).lower() in {"true", "1", "yes"}
    return "true" if truthy else "false"


def _featurize_categorical(slot: Slot, value: Any) -> str:
    text = str(value).lower()
    return text if text in {v.lower() for v in slot.values} else "__other__"


def _featurize_float(slot: Slot, value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "set"
    return f"{min(max(number, slot.min_value), slot.max_value):.2f}"


def _featurize_list(slot: Slot, value: Any) -> str | None:
    return "set" if value else None


_FEATURIZERS: dict[str, Any] = {
    "text": _featurize_text,
    "bool": _featurize_bool,
    "categorical": _featurize_categorical,
    "float": _featurize_float,
    "list": _featurize_list,
}


@dataclass(slots=True)
class ResponseButton:
    title: str
    payload: str


@dataclass(slots=True)
class ResponseCondition:
    slot: str
    value: Any


@dataclass(slots=True)
class ResponseVariant:
    text: str | None = None
    buttons: list[ResponseButton] = field(default_factory=list)
    image: str | None = None
    custom: Any = None
    attachment: Any = None
    channel: str | None = None
    conditions: list[ResponseCondition] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # anything else, passed through


@dataclass(slots=True)
class IntentSpec:
    name: str
    use_entities: bool | list[str] = True
    ignore_entities: list[str] = field(default_factory=list)

    def keeps_entity(self, entity: str) -> bool:
        if entity in self.ignore_entities:
            return False
        return (
            self.use_entities
            if isinstance(self.use_entities, bool)
            else entity in self.use_entities
        )


@dataclass(slots=True)
class Form:
    name: str
    required_slots: list[str]
    ignored_intents: list[str] = field(default_factory=list)


@dataclass(slots=True)
class SessionConfig:
    expiration_minutes: float = 60.0
    carry_over_slots: bool = True


@dataclass(slots=True)
class Domain:
    intents: dict[str, IntentSpec] = field(default_factory=dict)
    entities: list[str] = field(default_factory=list)
    entity_roles: dict[str, list[str]] = field(default_factory=dict)
    entity_groups: dict[str, list[str]] = field(default_factory=dict)
    slots: dict[str, Slot] = field(default_factory=dict)
    responses: dict[str, list[ResponseVariant]] = field(default_factory=dict)
    forms: dict[str, Form] = field(default_factory=dict)
    actions: list[str] = field(default_factory=list)  # custom actions declared
    session_config: SessionConfig = field(default_factory=SessionConfig)
    store_entities_as_slots: bool = True
    raw: dict[str, Any] = field(default_factory=dict)  # the merged YAML, as rasa_sdk expects it
    locations: dict[str, Location] = field(default_factory=dict)  # "response:utter_x" -> where

    @property
    def action_names(self) -> list[str]:
        """Every action the bot can run: built-ins, responses, forms, custom actions."""
        seen: dict[str, None] = dict.fromkeys(DEFAULT_ACTIONS)
        seen.update(dict.fromkeys(self.responses))
        seen.update(dict.fromkeys(r.split("/", 1)[0] for r in self.responses if "/" in r))
        seen.update(dict.fromkeys(self.forms))
        seen.update(dict.fromkeys(self.actions))
        return list(seen)

    def is_retrieval_intent(self, intent: str) -> bool:
        return any(r.startswith(f"utter_{intent}/") for r in self.responses)

    def intent_spec(self, intent: str) -> IntentSpec:
        return self.intents.get(intent) or IntentSpec(intent)

    def as_rasa_dict(self) -> dict[str, Any]:
        """The domain in the JSON shape Rasa sends to action servers."""
        out = dict(self.raw)
        out["forms"] = {
            name: {"required_slots": list(form.required_slots)} for name, form in self.forms.items()
        }
        out.setdefault("config", {"store_entities_as_slots": self.store_entities_as_slots})
        out.setdefault(
            "session_config",
            {
                "session_expiration_time": self.session_config.expiration_minutes,
                "carry_over_slots_to_new_session": self.session_config.carry_over_slots,
            },
        )
        return out
