"""The Domain model: slot featurisation, intent entity filters, action names, Rasa dict shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.project.domain import (
    DEFAULT_ACTIONS,
    DEFAULT_INTENTS,
    DEFAULT_RESPONSES,
    REQUESTED_SLOT,
    SESSION_STARTED_METADATA,
    Domain,
    Form,
    IntentSpec,
    ResponseVariant,
    Slot,
)
from bot.project.domain_loader import DomainBuilder
from bot.project.yamlio import parse_yaml, read_yaml

FIXTURES = Path(__file__).parents[2] / "fixtures" / "projects"


def _domain(text: str) -> Domain:
    builder = DomainBuilder()
    builder.add(parse_yaml(text, "domain.yml"), "domain.yml")
    assert builder.errors == []
    return builder.build()


def _fixture_domain(name: str) -> Domain:
    root = FIXTURES / name
    files = (
        [root / "domain.yml"]
        if (root / "domain.yml").exists()
        else sorted((root / "domain").glob("*.yml"))
    )
    builder = DomainBuilder()
    for path in files:
        builder.add(read_yaml(path), str(path))
    assert builder.errors == []
    return builder.build()


# --- Slot.featurize -----------------------------------------------------------------------


def test_text_slot_featurizes_as_set() -> None:
    slot = Slot("name", "text")
    assert slot.featurize("张三") == "set"
    assert slot.featurize("") == "set"
    assert slot.featurize(None) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "true"),
        (False, "false"),
        ("true", "true"),
        ("1", "true"),
        ("yes", "true"),
        ("false", "false"),
        ("no", "false"),
        (0, "false"),
    ],
)
def test_bool_slot(value: object, expected: str) -> None:
    assert Slot("b", "bool").featurize(value) == expected


def test_categorical_slot_is_case_insensitive_with_other_bucket() -> None:
    slot = Slot("size", "categorical", values=["大杯", "Medium"])
    assert slot.featurize("大杯") == "大杯"
    assert slot.featurize("MEDIUM") == "medium"
    assert slot.featurize("超大杯") == "__other__"
    assert slot.featurize(None) is None


def test_float_slot_clamps_to_range() -> None:
    slot = Slot("n", "float", min_value=1, max_value=20)
    assert slot.featurize(4) == "4.00"
    assert slot.featurize("2.5") == "2.50"
    assert slot.featurize(100) == "20.00"
    assert slot.featurize(-3) == "1.00"
    assert slot.featurize("many") == "set"


def test_list_slot_only_when_non_empty() -> None:
    slot = Slot("l", "list")
    assert slot.featurize(["a"]) == "set"
    assert slot.featurize([]) is None


def test_any_slot_and_non_influencing_slots_are_never_featurized() -> None:
    assert Slot("a", "any").featurize("x") is None
    assert Slot("t", "text", influence_conversation=False).featurize("x") is None
    assert Slot("b", "bool", influence_conversation=False).featurize(True) is None


# --- IntentSpec ---------------------------------------------------------------------------


def test_intent_spec_entity_filters() -> None:
    assert IntentSpec("a").keeps_entity("city")
    assert not IntentSpec("a", use_entities=False).keeps_entity("city")
    assert not IntentSpec("a", use_entities=[]).keeps_entity("city")
    only = IntentSpec("a", use_entities=["city"])
    assert only.keeps_entity("city") and not only.keeps_entity("date")
    ignoring = IntentSpec("a", ignore_entities=["date"])
    assert ignoring.keeps_entity("city") and not ignoring.keeps_entity("date")


def test_intent_spec_lookup_defaults_for_unknown_intent() -> None:
    domain = _domain("intents:\n  - greet:\n      use_entities: []\n")
    assert domain.intent_spec("greet").use_entities == []
    unknown = domain.intent_spec("nope")
    assert unknown.name == "nope" and unknown.use_entities is True


# --- defaults and action names ------------------------------------------------------------


def test_defaults_are_added() -> None:
    domain = _domain("intents: [greet]\n")
    for intent in DEFAULT_INTENTS:
        assert intent in domain.intents
    assert {"restart", "back", "out_of_scope", "session_start", "nlu_fallback"} <= set(
        domain.intents
    )
    assert SESSION_STARTED_METADATA in domain.slots
    assert REQUESTED_SLOT not in domain.slots  # only added with forms
    for action in (
        "action_listen",
        "action_restart",
        "action_session_start",
        "action_default_fallback",
        "action_deactivate_loop",
        "action_extract_slots",
        "action_two_stage_fallback",
        "action_back",
    ):
        assert action in DEFAULT_ACTIONS
        assert action in domain.action_names


def test_requested_slot_added_with_forms() -> None:
    domain = _domain(
        "slots:\n  a:\n    type: text\n    mappings: [{type: from_text}]\n"
        "forms:\n  f:\n    required_slots: [a]\n"
    )
    slot = domain.slots[REQUESTED_SLOT]
    assert slot.type == "any" and slot.influence_conversation is False


def test_action_names_order_and_content() -> None:
    domain = _domain(
        "responses:\n  utter_greet: [{text: hi}]\n  utter_faq/ask_x: [{text: x}]\n"
        "  utter_faq/ask_y: [{text: y}]\n"
        "slots:\n  a:\n    type: text\n    mappings: [{type: custom}]\n"
        "forms:\n  my_form:\n    required_slots: [a]\n"
        "actions:\n  - action_hello\n  - validate_my_form\n"
    )
    names = domain.action_names
    assert names[: len(DEFAULT_ACTIONS)] == list(DEFAULT_ACTIONS)
    for name in (
        "utter_greet",
        "utter_faq/ask_x",
        "utter_faq",
        "my_form",
        "action_hello",
        "validate_my_form",
    ):
        assert name in names
    assert names.count("utter_faq") == 1
    assert len(names) == len(set(names))


def test_retrieval_intent_detection() -> None:
    domain = _domain("responses:\n  utter_faq/ask_x: [{text: x}]\n  utter_greet: [{text: hi}]\n")
    assert domain.is_retrieval_intent("faq")
    assert not domain.is_retrieval_intent("greet")
    assert not domain.is_retrieval_intent("fa")


def test_default_responses_are_polite_chinese_and_english() -> None:
    assert set(DEFAULT_RESPONSES) == {"zh", "en"}
    assert set(DEFAULT_RESPONSES["zh"]) == set(DEFAULT_RESPONSES["en"])
    assert "utter_default" in DEFAULT_RESPONSES["zh"]
    assert all(
        any("\u4e00" <= ch <= "\u9fff" for ch in t) for t in DEFAULT_RESPONSES["zh"].values()
    )


# --- as_rasa_dict -------------------------------------------------------------------------


def test_as_rasa_dict_shape_for_fixture() -> None:
    domain = _fixture_domain("en_restaurant")
    out = domain.as_rasa_dict()
    json.dumps(out)  # plain JSON
    assert out["forms"] == {
        "booking_form": {
            "required_slots": [
                "cuisine",
                "party_size",
                "seating",
                "vegetarian",
                "occasion",
                "notes",
            ]
        }
    }
    assert "greet" in out["intents"]
    assert {"chitchat": {"use_entities": []}} in out["intents"]
    assert out["slots"]["party_size"]["type"] == "float"
    assert out["responses"]["utter_greet"][0]["text"].startswith("Hello!")
    assert out["actions"] == [
        "validate_booking_form",
        "action_confirm_booking",
        "action_break_things",
    ]
    assert out["session_config"] == {
        "session_expiration_time": 60,
        "carry_over_slots_to_new_session": True,
    }
    assert out["config"] == {"store_entities_as_slots": True}
    assert out["version"] == "3.1"
    assert type(out) is dict and type(out["slots"]) is dict and type(out["intents"]) is list


def test_as_rasa_dict_converts_2x_forms_and_fills_defaults() -> None:
    domain = _domain(
        "slots:\n  city:\n    type: text\n"
        "forms:\n  trip_form:\n    city:\n      - type: from_entity\n        entity: city\n"
    )
    out = domain.as_rasa_dict()
    assert out["forms"] == {"trip_form": {"required_slots": ["city"]}}
    assert out["session_config"] == {
        "session_expiration_time": 60.0,
        "carry_over_slots_to_new_session": True,
    }
    assert out["config"] == {"store_entities_as_slots": True}
    assert out["slots"] == {"city": {"type": "text"}}


def test_as_rasa_dict_does_not_mutate_raw() -> None:
    domain = Domain(forms={"f": Form("f", ["a"])}, raw={"intents": ["x"]})
    out = domain.as_rasa_dict()
    assert out["forms"] == {"f": {"required_slots": ["a"]}}
    assert "forms" not in domain.raw


def test_zh_fixture_domain_folder_merges_all_files() -> None:
    domain = _fixture_domain("zh_mini")
    assert "order_drink" in domain.intents
    assert domain.entities == ["drink", "size", "sweetness"]
    assert domain.slots["size"].values == ["大杯", "中杯", "小杯"]
    assert domain.forms["drink_form"].required_slots == ["drink", "size", "sweetness"]
    assert "utter_faq" in domain.action_names
    assert domain.session_config.expiration_minutes == 30
    assert domain.session_config.carry_over_slots is False
    assert isinstance(domain.responses["utter_greet"][0], ResponseVariant)
