"""Building a Domain from domain YAML (one file or a `domain/` folder), with located errors."""

from __future__ import annotations

from textwrap import dedent

import pytest

from bot.errors import Location, ProjectError
from bot.project.domain import Domain, MappingCondition
from bot.project.domain_loader import DomainBuilder
from bot.project.yamlio import parse_yaml


def _build(*texts: str) -> tuple[Domain, list[ProjectError]]:
    builder = DomainBuilder()
    for i, text in enumerate(texts):
        name = f"domain{i}.yml"
        builder.add(parse_yaml(dedent(text), name), name)
    return builder.build(), builder.errors


def _ok(*texts: str) -> Domain:
    domain, errors = _build(*texts)
    assert errors == [], [str(e) for e in errors]
    return domain


def _bilingual(err: ProjectError) -> None:
    assert any("\u4e00" <= ch <= "\u9fff" for ch in err.zh)
    assert err.en.isascii() or any(c.isascii() and c.isalpha() for c in err.en)
    assert err.zh != err.en


# --- intents and entities -------------------------------------------------------------------


def test_intents_with_use_and_ignore_entities() -> None:
    domain = _ok(
        """
        intents:
          - greet
          - book:
              use_entities: [city, date]
          - chitchat:
              use_entities: []
          - inform:
              ignore_entities: [date]
          - all:
              use_entities: true
          - none:
              use_entities: false
          - bare:
        """
    )
    assert domain.intents["greet"].use_entities is True
    assert domain.intents["book"].use_entities == ["city", "date"]
    assert domain.intents["chitchat"].use_entities == []
    assert domain.intents["inform"].ignore_entities == ["date"]
    assert domain.intents["inform"].keeps_entity("city")
    assert not domain.intents["inform"].keeps_entity("date")
    assert domain.intents["all"].use_entities is True
    assert domain.intents["none"].use_entities is False
    assert domain.intents["bare"].use_entities is True
    assert domain.locations["intent:book"] == Location("domain0.yml", 4)


def test_entities_with_roles_and_groups() -> None:
    domain = _ok(
        """
        entities:
          - city:
              roles: [departure, destination]
          - topping:
              groups:
                - 1
                - "2"
          - date
          - city
        """
    )
    assert domain.entities == ["city", "topping", "date"]
    assert domain.entity_roles["city"] == ["departure", "destination"]
    assert domain.entity_groups["topping"] == ["1", "2"]
    assert domain.entity_roles["topping"] == []
    assert "date" not in domain.entity_roles


@pytest.mark.parametrize("section", ["intents", "entities"])
def test_list_sections_must_be_lists(section: str) -> None:
    _, errors = _build(f"version: '3.1'\n{section}:\n  a: b\n")
    assert len(errors) == 1
    assert errors[0].location == Location("domain0.yml", 2)
    assert section in errors[0].zh and section in errors[0].en


# --- slots ----------------------------------------------------------------------------------


def test_every_slot_type() -> None:
    domain = _ok(
        """
        slots:
          t:
            type: text
            initial_value: 你好
            mappings: [{type: custom}]
          b:
            type: bool
            initial_value: false
            mappings: [{type: custom}]
          c:
            type: categorical
            values: [大杯, 中杯, 3]
            mappings: [{type: custom}]
          f:
            type: float
            min_value: 1
            max_value: 20
            initial_value: 2.5
            mappings: [{type: custom}]
          l:
            type: list
            mappings: [{type: custom}]
          a:
            type: any
            mappings: [{type: custom}]
          quiet:
            type: text
            influence_conversation: false
            mappings: [{type: custom}]
          qualified:
            type: rasa.shared.core.slots.BooleanSlot
            mappings: [{type: custom}]
          custom_cls:
            type: my_package.slots.MySlot
            mappings: [{type: custom}]
        """
    )
    s = domain.slots
    assert (s["t"].type, s["t"].initial_value, s["t"].influence_conversation) == (
        "text",
        "你好",
        True,
    )
    assert (s["b"].type, s["b"].initial_value) == ("bool", False)
    assert s["c"].type == "categorical" and s["c"].values == ["大杯", "中杯", "3"]
    assert (s["f"].min_value, s["f"].max_value, s["f"].initial_value) == (1.0, 20.0, 2.5)
    assert s["l"].type == "list"
    assert s["a"].type == "any" and s["a"].influence_conversation is False
    assert s["quiet"].influence_conversation is False
    assert s["qualified"].type == "bool"
    assert s["custom_cls"].type == "any"
    assert domain.locations["slot:f"] == Location("domain0.yml", 15)


def test_slot_without_type_defaults_to_text() -> None:
    domain = _ok("slots:\n  x:\n    mappings: [{type: from_text}]\n")
    assert domain.slots["x"].type == "text"


def test_unknown_slot_type_is_an_error_on_the_type_line() -> None:
    domain, errors = _build(
        """
        slots:
          ok:
            type: text
            mappings: [{type: custom}]
          visits:
            type: decimal
            mappings: [{type: custom}]
        """
    )
    assert len(errors) == 1
    err = errors[0]
    assert err.location == Location("domain0.yml", 7)
    assert "decimal" in err.zh and "decimal" in err.en
    assert "未知" in err.zh and "unknown type" in err.en
    for known in ("text", "bool", "categorical", "float", "list", "any"):
        assert known in err.en
    assert "visits" not in domain.slots and "ok" in domain.slots


def test_slot_definition_must_be_a_mapping() -> None:
    _, errors = _build("slots:\n  broken: text\n")
    assert len(errors) == 1 and errors[0].location == Location("domain0.yml", 2)
    _bilingual(errors[0])


def test_all_mapping_types_with_conditions() -> None:
    domain = _ok(
        """
        slots:
          s:
            type: any
            mappings:
              - type: from_entity
                entity: area
                role: target
                group: g1
                intent: [inform, book]
                not_intent: chitchat
              - type: from_text
                not_intent: [deny, stop]
                conditions:
                  - active_loop: booking_form
                    requested_slot: s
              - type: from_intent
                intent: affirm
                value: true
                conditions:
                  - active_loop: booking_form
                  - active_loop: other_form
                    requested_slot: x
              - type: from_trigger_intent
                intent: book
                value: chat
              - type: custom
                action: action_fill_s
        """
    )
    m = domain.slots["s"].mappings
    assert [x.type for x in m] == [
        "from_entity",
        "from_text",
        "from_intent",
        "from_trigger_intent",
        "custom",
    ]
    assert (m[0].entity, m[0].role, m[0].group) == ("area", "target", "g1")
    assert m[0].intent == ["inform", "book"] and m[0].not_intent == ["chitchat"]
    assert m[1].not_intent == ["deny", "stop"]
    assert m[1].conditions == [MappingCondition("booking_form", "s")]
    assert m[2].value is True and m[2].intent == ["affirm"]
    assert m[2].conditions == [
        MappingCondition("booking_form", None),
        MappingCondition("other_form", "x"),
    ]
    assert (m[3].intent, m[3].value) == (["book"], "chat")
    assert m[4].action == "action_fill_s"


def test_unknown_mapping_type_is_located() -> None:
    domain, errors = _build(
        """
        slots:
          s:
            type: text
            mappings:
              - type: from_entity
                entity: e
              - type: from_magic
        """
    )
    assert len(errors) == 1
    assert errors[0].location == Location("domain0.yml", 8)
    assert "from_magic" in errors[0].zh and "from_magic" in errors[0].en
    assert [m.type for m in domain.slots["s"].mappings] == ["from_entity"]


# --- responses ------------------------------------------------------------------------------


def test_responses_with_every_variant_feature() -> None:
    domain = _ok(
        """
        slots:
          vip:
            type: bool
            mappings: [{type: custom}]
        responses:
          utter_greet:
            - text: 您好！
            - text: 你好呀
              channel: wechat
            - text: 尊敬的会员您好
              condition:
                - type: slot
                  name: vip
                  value: true
          utter_menu:
            - text: 请选择
              buttons:
                - title: 大杯
                  payload: '/inform{"size": "大杯"}'
                - title: 取消
                  payload: /deny
              image: https://example.com/menu.png
          utter_where:
            - custom:
                type: location
                lat: 51.5
              quick_replies: [a, b]
          utter_old_style:
            - 旧格式的纯文本
          utter_number:
            - text: 42
        """
    )
    greet = domain.responses["utter_greet"]
    assert [v.text for v in greet] == ["您好！", "你好呀", "尊敬的会员您好"]
    assert greet[1].channel == "wechat" and greet[0].channel is None
    assert [(c.slot, c.value) for c in greet[2].conditions] == [("vip", True)]
    menu = domain.responses["utter_menu"][0]
    assert [(b.title, b.payload) for b in menu.buttons] == [
        ("大杯", '/inform{"size": "大杯"}'),
        ("取消", "/deny"),
    ]
    assert menu.image == "https://example.com/menu.png"
    where = domain.responses["utter_where"][0]
    assert where.text is None
    assert where.custom == {"type": "location", "lat": 51.5}
    assert type(where.custom) is dict
    assert where.extra == {"quick_replies": ["a", "b"]}
    assert domain.responses["utter_old_style"][0].text == "旧格式的纯文本"
    assert domain.responses["utter_number"][0].text == "42"
    assert domain.locations["response:utter_menu"] == Location("domain0.yml", 16)
    assert domain.locations["condition:utter_greet:vip"] == Location("domain0.yml", 13)


def test_invalid_response_condition_is_an_error() -> None:
    domain, errors = _build(
        """
        responses:
          utter_a:
            - text: hi
              condition:
                - type: intent
                  name: greet
                - name_missing: true
        """
    )
    assert [e.location.line for e in errors if e.location] == [6, 8]
    assert all("condition" in e.zh and "condition" in e.en for e in errors)
    assert domain.responses["utter_a"][0].conditions == []


@pytest.mark.parametrize("body", ["[]", "hello", "null"])
def test_response_needs_a_non_empty_list(body: str) -> None:
    domain, errors = _build(f"responses:\n  utter_a: {body}\n  utter_b: [{{text: ok}}]\n")
    assert len(errors) == 1
    assert errors[0].location == Location("domain0.yml", 2)
    assert "utter_a" in errors[0].zh and "utter_a" in errors[0].en
    assert "utter_b" in domain.responses and "utter_a" not in domain.responses


def test_malformed_variant_is_an_error() -> None:
    domain, errors = _build("responses:\n  utter_a:\n    - text: ok\n    - [1, 2]\n")
    assert len(errors) == 1 and errors[0].location == Location("domain0.yml", 4)
    assert [v.text for v in domain.responses["utter_a"]] == ["ok"]


# --- forms ----------------------------------------------------------------------------------


def test_forms_3x_required_slots_and_ignored_intents() -> None:
    domain = _ok(
        """
        slots:
          a: {type: text, mappings: [{type: from_text}]}
          b: {type: text, mappings: [{type: from_text}]}
        forms:
          my_form:
            ignored_intents:
              - chitchat
            required_slots:
              - a
              - b
          empty_form: {}
          null_form:
        """
    )
    form = domain.forms["my_form"]
    assert form.required_slots == ["a", "b"]
    assert form.ignored_intents == ["chitchat"]
    assert domain.forms["empty_form"].required_slots == []
    assert domain.forms["null_form"].required_slots == []
    assert domain.locations["form:my_form"] == Location("domain0.yml", 6)
    assert domain.locations["form_slot:my_form:b"] == Location("domain0.yml", 11)


def test_forms_2x_dict_style_gives_slot_mappings() -> None:
    domain = _ok(
        """
        slots:
          cuisine: {type: text}
          people: {type: float}
          has_own: {type: text, mappings: [{type: custom}]}
        forms:
          old_form:
            cuisine:
              - type: from_entity
                entity: cuisine
            people:
              - type: from_entity
                entity: number
            has_own:
              - type: from_text
          newer_form:
            ignored_intents: [chitchat]
            required_slots:
              cuisine:
                - type: from_text
        """
    )
    assert domain.forms["old_form"].required_slots == ["cuisine", "people", "has_own"]
    assert [(m.type, m.entity) for m in domain.slots["cuisine"].mappings] == [
        ("from_entity", "cuisine")
    ]
    assert domain.slots["people"].mappings[0].entity == "number"
    # a slot that already has its own (3.x) mappings keeps them
    assert [m.type for m in domain.slots["has_own"].mappings] == ["custom"]
    newer = domain.forms["newer_form"]
    assert newer.required_slots == ["cuisine"] and newer.ignored_intents == ["chitchat"]


# --- actions, session_config, config, merging -----------------------------------------------


def test_actions_plain_and_dict_entries_deduplicated() -> None:
    domain = _ok("actions:\n  - action_a\n  - action_b:\n      send_domain: true\n  - action_a\n")
    assert domain.actions == ["action_a", "action_b"]
    assert domain.locations["action:action_b"] == Location("domain0.yml", 3)


def test_session_config_and_config() -> None:
    domain = _ok(
        """
        session_config:
          session_expiration_time: 0
          carry_over_slots_to_new_session: false
        config:
          store_entities_as_slots: false
        """
    )
    assert domain.session_config.expiration_minutes == 0
    assert domain.session_config.carry_over_slots is False
    assert domain.store_entities_as_slots is False
    default = _ok("intents: [a]\n")
    assert default.session_config.expiration_minutes == 60
    assert default.session_config.carry_over_slots is True


def test_several_files_merge_like_a_domain_folder() -> None:
    domain = _ok(
        "intents: [greet]\nentities: [city]\n",
        "intents: [bye]\nresponses:\n  utter_greet: [{text: 你好}]\n",
        "slots:\n  city: {type: text, mappings: [{type: from_entity, entity: city}]}\n"
        "actions: [action_x]\n",
    )
    assert {"greet", "bye"} <= set(domain.intents)
    assert domain.locations["intent:bye"] == Location("domain1.yml", 1)
    assert domain.locations["slot:city"] == Location("domain2.yml", 2)
    assert domain.raw["intents"] == ["greet", "bye"]
    assert set(domain.raw["responses"]) == {"utter_greet"}
    assert set(domain.raw["slots"]) == {"city"}
    assert domain.raw["actions"] == ["action_x"]


def test_empty_and_non_mapping_documents() -> None:
    domain, errors = _build("", "- just\n- a list\n")
    assert len(errors) == 1
    assert errors[0].location == Location("domain1.yml", 1)
    _bilingual(errors[0])
    assert "nlu_fallback" in domain.intents


def test_raw_is_plain_json_types() -> None:
    domain = _ok("intents:\n  - a:\n      use_entities: []\nslots:\n  s: {type: text}\n")
    assert type(domain.raw) is dict
    assert type(domain.raw["intents"]) is list
    assert type(domain.raw["intents"][0]) is dict
    assert type(domain.raw["slots"]["s"]) is dict


def test_several_errors_are_all_collected() -> None:
    _, errors = _build(
        """
        slots:
          a:
            type: nonsense
          b: 5
        responses:
          utter_x: []
        """
    )
    assert [e.location.line for e in errors if e.location] == [4, 5, 7]


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        ("TextSlot", "text"),
        ("BooleanSlot", "bool"),
        ("CategoricalSlot", "categorical"),
        ("FloatSlot", "float"),
        ("ListSlot", "list"),
        ("AnySlot", "any"),
    ],
)
def test_qualified_rasa_slot_classes(cls: str, expected: str) -> None:
    domain = _ok(f"slots:\n  s:\n    type: rasa.shared.core.slots.{cls}\n")
    assert domain.slots["s"].type == expected


def test_forms_2x_style_before_slots_in_another_file() -> None:
    # domain/forms.yml sorts before domain/slots.yml
    domain = _ok(
        "forms:\n  old_form:\n    city:\n      - type: from_entity\n        entity: city\n",
        "slots:\n  city:\n    type: text\n",
    )
    assert domain.forms["old_form"].required_slots == ["city"]
    assert [(m.type, m.entity) for m in domain.slots["city"].mappings] == [("from_entity", "city")]


def test_forms_2x_style_bad_mapping_is_reported() -> None:
    _, errors = _build("slots:\n  a: {type: text}\nforms:\n  f:\n    a:\n      - type: nope\n")
    assert len(errors) == 1 and "nope" in errors[0].en
