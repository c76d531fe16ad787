"""Reading `nlu:`, `stories:`, `rules:` and `responses:` training documents."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

from bot.errors import Location
from bot.nlu.types import RegexFeature
from bot.project.stories import (
    ActionStep,
    CheckpointStep,
    LoopStep,
    OrStep,
    SlotStep,
    UserStep,
)
from bot.project.training_loader import TrainingDocs, read_training_doc
from bot.project.yamlio import parse_yaml, read_yaml

FIXTURES = Path(__file__).parents[2] / "fixtures" / "projects"


def _read(text: str, file: str = "data.yml") -> TrainingDocs:
    docs = TrainingDocs()
    read_training_doc(docs, parse_yaml(dedent(text), file), file)
    return docs


def _ok(text: str) -> TrainingDocs:
    docs = _read(text)
    assert docs.errors == [], [str(e) for e in docs.errors]
    return docs


# --- nlu ------------------------------------------------------------------------------------


def test_block_string_examples_with_lines() -> None:
    docs = _ok(
        """\
        version: "3.1"
        nlu:
          - intent: greet
            examples: |
              - 你好
              - 您好呀

              - hello there
          - intent: faq/opening_hours
            examples: |
              - 几点开门
        """
    )
    ex = docs.nlu.examples
    assert [(e.text, e.intent) for e in ex] == [
        ("你好", "greet"),
        ("您好呀", "greet"),
        ("hello there", "greet"),
        ("几点开门", "faq/opening_hours"),
    ]
    assert [e.location for e in ex] == [
        Location("data.yml", 5),
        Location("data.yml", 6),
        Location("data.yml", 8),
        Location("data.yml", 11),
    ]


def test_list_of_dicts_examples_with_metadata() -> None:
    docs = _ok(
        """\
        nlu:
          - intent: greet
            metadata:
              sentiment: neutral
            examples:
              - text: |
                  你好
                metadata:
                  sentiment: positive
              - text: 早上好[小知](bot_name)
              - 纯字符串例句
        """
    )
    ex = docs.nlu.examples
    assert [e.text for e in ex] == ["你好", "早上好小知", "纯字符串例句"]
    assert [e.location.line for e in ex if e.location] == [6, 10, 11]
    assert [(x.entity, x.value, x.start, x.end) for x in ex[1].entities] == [
        ("bot_name", "小知", 3, 5)
    ]


def test_annotated_examples_give_entities_and_synonyms() -> None:
    docs = _ok(
        """\
        nlu:
          - intent: inform
            examples: |
              - [超大杯](size:大杯)
              - 要[柠檬茶](drink)
              - [Soho]{"entity": "area", "role": "current", "group": "1"}
        """
    )
    first, second, third = docs.nlu.examples
    assert first.text == "超大杯" and first.entities[0].value == "大杯"
    assert second.entities[0].entity == "drink"
    assert (third.entities[0].role, third.entities[0].group) == ("current", "1")
    assert docs.nlu.synonyms == {"超大杯": "大杯"}


def test_broken_annotation_is_located_and_bilingual() -> None:
    docs = _read(
        """\
        nlu:
          - intent: inform
            examples: |
              - fine [x](e)
              - broken [x]{entity: e}
        """,
        "nlu.yml",
    )
    assert len(docs.errors) == 1
    err = docs.errors[0]
    assert err.location == Location("nlu.yml", 5)
    assert "实体标注" in err.zh and "annotation" in err.en
    assert [e.text for e in docs.nlu.examples] == ["fine x"]


def test_synonym_regex_lookup() -> None:
    docs = _ok(
        """\
        nlu:
          - synonym: 无糖
            examples: |
              - 不加糖
              - No Sugar
          - regex: booking_ref
            examples: |
              - ZK-\\d{4}
              - BK-\\d{6}
          - lookup: drink
            examples: |
              - 珍珠奶茶
              - 柠檬茶
          - lookup: drink
            examples: |
              - 杨枝甘露
        """
    )
    assert docs.nlu.synonyms == {"不加糖": "无糖", "no sugar": "无糖"}
    assert docs.nlu.regexes == [
        RegexFeature("booking_ref", r"ZK-\d{4}"),
        RegexFeature("booking_ref", r"BK-\d{6}"),
    ]
    assert docs.nlu.lookups == {"drink": ["珍珠奶茶", "柠檬茶", "杨枝甘露"]}


def test_nlu_item_without_kind_is_an_error() -> None:
    docs = _read("nlu:\n  - intent: a\n    examples: |\n      - x\n  - foo: bar\n  - just text\n")
    assert [e.location.line for e in docs.errors if e.location] == [5, 6]
    assert all(e.zh and e.en for e in docs.errors)


def test_empty_examples_are_skipped() -> None:
    docs = _ok("nlu:\n  - intent: a\n    examples: |\n      -\n      - ok\n  - intent: b\n")
    assert [e.text for e in docs.nlu.examples] == ["ok"]


def test_non_mapping_document_is_an_error() -> None:
    docs = _read("- a\n- b\n", "x.yml")
    assert len(docs.errors) == 1 and docs.errors[0].location == Location("x.yml", 1)
    empty = TrainingDocs()
    read_training_doc(empty, None, "e.yml")
    assert empty.errors == [] and empty.stories == []


# --- stories --------------------------------------------------------------------------------


def test_story_steps_of_every_kind() -> None:
    docs = _ok(
        """\
        stories:
          - story: 全部步骤
            steps:
              - checkpoint: start_here
              - intent: inform
                entities:
                  - city: 北京
                  - entity: area
                    value: Soho
                    role: current
                    group: g
                  - date
              - action: utter_ok
              - slot_was_set:
                  - city: 北京
                  - requested_slot: null
                  - cuisine
              - slot_was_set:
                  - flag
              - active_loop: my_form
              - active_loop: null
              - or:
                  - intent: affirm
                  - intent: thank
                  - slot_was_set:
                      - vip: true
              - user: |
                  我想去[上海](city)
              - bot: 好的，已为您记录
              - checkpoint: end_here
        """
    )
    (story,) = docs.stories
    assert story.name == "全部步骤" and not story.is_rule
    assert story.location == Location("data.yml", 2)
    s = story.steps
    assert isinstance(s[0], CheckpointStep) and s[0].name == "start_here"
    user = s[1]
    assert isinstance(user, UserStep) and user.intent == "inform" and user.line == 5
    assert [(e.entity, e.value, e.role, e.group) for e in user.entities] == [
        ("city", "北京", None, None),
        ("area", "Soho", "current", "g"),
    ]
    assert user.entity_names == ["date"]
    assert s[2] == ActionStep("utter_ok", None, 13)
    assert isinstance(s[3], SlotStep)
    assert s[3].slots == [
        ("city", "北京", True),
        ("requested_slot", None, True),
        ("cuisine", None, False),
    ]
    assert s[4] == SlotStep([("flag", None, False)], 18)
    assert s[5] == LoopStep("my_form", 20)
    assert s[6] == LoopStep(None, 21)
    alt = s[7]
    assert isinstance(alt, OrStep) and alt.line == 22
    assert [a.intent for a in alt.alternatives if isinstance(a, UserStep)] == ["affirm", "thank"]
    assert isinstance(alt.alternatives[2], SlotStep)
    assert alt.alternatives[2].slots == [("vip", True, True)]
    e2e = s[8]
    assert isinstance(e2e, UserStep)
    assert e2e.intent is None and e2e.text == "我想去上海"
    assert [(e.entity, e.start, e.end) for e in e2e.entities] == [("city", 3, 5)]
    assert s[9] == ActionStep(None, "好的，已为您记录", 29)
    assert story.start_checkpoints == ["start_here"]
    assert story.end_checkpoints == ["end_here"]


def test_user_step_with_text_and_intent() -> None:
    docs = _ok(
        """\
        stories:
          - story: e2e
            steps:
              - user: |
                  hello there
                intent: greet
              - action: utter_greet
        """
    )
    user = docs.stories[0].steps[0]
    assert isinstance(user, UserStep)
    assert (user.text, user.intent, user.line) == ("hello there", "greet", 4)


def test_explicit_entities_win_over_annotations() -> None:
    docs = _ok(
        "stories:\n  - story: s\n    steps:\n"
        "      - user: 去[上海](city)\n        intent: inform\n        entities:\n"
        "          - city: 上海市\n"
    )
    user = docs.stories[0].steps[0]
    assert isinstance(user, UserStep)
    assert user.text == "去上海"
    assert [(e.entity, e.value) for e in user.entities] == [("city", "上海市")]


def test_broken_annotation_in_user_step_is_an_error() -> None:
    docs = _read("stories:\n  - story: s\n    steps:\n      - user: '[x]{bad}'\n", "s.yml")
    assert len(docs.errors) == 1 and docs.errors[0].location == Location("s.yml", 4)


def test_ellipsis_steps_are_ignored() -> None:
    docs = _ok(
        "rules:\n  - rule: r\n    steps:\n      - ...\n      - intent: a\n      - action: b\n"
        "      - ...\n"
    )
    assert [type(s).__name__ for s in docs.rules[0].steps] == ["UserStep", "ActionStep"]


def test_rules_with_condition_conversation_start_and_no_wait() -> None:
    docs = _ok(
        """\
        rules:
          - rule: 表单中闲聊
            condition:
              - active_loop: booking_form
              - slot_was_set:
                  - requested_slot: cuisine
            steps:
              - intent: chitchat
              - action: utter_chitchat
          - rule: 开场问候
            conversation_start: true
            steps:
              - intent: greet
              - action: utter_greet
          - rule: 不等待
            wait_for_user_input: false
            steps:
              - action: utter_did_that_help
              - intent: affirm
              - action: utter_happy
        """
    )
    cond, start, nowait = docs.rules
    assert all(r.is_rule for r in docs.rules)
    assert cond.conditions == [
        LoopStep("booking_form", 4),
        SlotStep([("requested_slot", "cuisine", True)], 5),
    ]
    assert cond.conversation_start is False and cond.wait_for_user_input is True
    assert start.conversation_start is True
    assert nowait.wait_for_user_input is False
    assert isinstance(nowait.steps[0], ActionStep)  # a rule may start with an action


def test_story_without_steps_and_unknown_steps_are_errors() -> None:
    docs = _read(
        """\
        stories:
          - story: no steps
          - story: bad step
            steps:
              - intent: greet
              - wobble: 1
              - plain string
        """,
        "st.yml",
    )
    assert [e.location.line for e in docs.errors if e.location] == [2, 6, 7]
    assert "steps" in docs.errors[0].zh and "steps" in docs.errors[0].en
    assert len(docs.stories) == 1 and len(docs.stories[0].steps) == 1


def test_unnamed_blocks_get_a_name() -> None:
    docs = _ok("rules:\n  - steps:\n      - intent: a\n      - action: b\n")
    assert docs.rules[0].name == "rule@2"


def test_responses_in_data_files_with_locations() -> None:
    docs = _ok(
        """\
        version: "3.1"
        responses:
          utter_faq/ask_name:
            - text: 我是小知
            - text: 叫我小知就好
              image: https://example.com/x.png
          utter_faq/ask_weather:
            - text: 我不太清楚天气哦
        """
    )
    assert set(docs.responses) == {"utter_faq/ask_name", "utter_faq/ask_weather"}
    assert docs.response_locations["utter_faq/ask_weather"] == Location("data.yml", 7)


def test_several_documents_accumulate() -> None:
    docs = TrainingDocs()
    read_training_doc(docs, parse_yaml("nlu:\n  - intent: a\n    examples: '- x'\n"), "1.yml")
    read_training_doc(docs, parse_yaml("stories:\n  - story: s\n    steps: []\n"), "2.yml")
    read_training_doc(docs, parse_yaml("rules:\n  - rule: r\n    steps: []\n"), "3.yml")
    assert len(docs.nlu.examples) == 1 and len(docs.stories) == 1 and len(docs.rules) == 1
    assert docs.nlu.examples[0].text == "x"


# --- fixtures -------------------------------------------------------------------------------


def test_en_restaurant_fixture_data() -> None:
    docs = TrainingDocs()
    for name in ("nlu.yml", "stories.yml", "rules.yml"):
        path = FIXTURES / "en_restaurant" / "data" / name
        read_training_doc(docs, read_yaml(path), str(path))
    assert docs.errors == []
    nlu_file = str(FIXTURES / "en_restaurant" / "data" / "nlu.yml")
    assert docs.nlu.examples[0].location == Location(nlu_file, 6)
    sushi = next(e for e in docs.nlu.examples if e.text.startswith("book me a sushi"))
    assert sushi.location == Location(nlu_file, 91)
    assert [(x.entity, x.value) for x in sushi.entities] == [
        ("cuisine", "japanese"),
        ("number", "3"),
    ]
    assert docs.nlu.synonyms["curry house"] == "indian"
    assert docs.nlu.synonyms["terrace"] == "outdoor"
    assert docs.nlu.regexes == [RegexFeature("booking_ref", r"ZK-\d{4}")]
    assert len(docs.nlu.lookups["cuisine"]) == 9
    groups = next(e for e in docs.nlu.examples if e.text.startswith("one vegan burger"))
    assert [(x.entity, x.group) for x in groups.entities] == [
        ("diet", "1"),
        ("dish", "1"),
        ("diet", "2"),
        ("dish", "2"),
    ]
    assert len(docs.stories) == 7 and len(docs.rules) == 15
    by_name = {s.name: s for s in docs.stories}
    assert by_name["Start a booking and get interrupted by stop"].end_checkpoints == [
        "check_asked_to_continue"
    ]
    assert by_name["User really stops"].start_checkpoints == ["check_asked_to_continue"]
    or_step = by_name["Opening hours lead to a booking"].steps[3]
    assert isinstance(or_step, OrStep) and or_step.line == 68
    rules = {r.name: r for r in docs.rules}
    assert rules["Welcome the user at the start of a conversation"].conversation_start
    assert not rules["Opening hours, then keep going without waiting"].wait_for_user_input
    assert rules["Vegetarian menu for vegetarian guests"].conditions == [
        SlotStep([("vegetarian", True, True)], 43)
    ]
    submit = rules["Submit the booking form"]
    assert submit.conditions == [LoopStep("booking_form", 75)]
    assert submit.steps[1] == LoopStep(None, 78)


def test_zh_test_stories_fixture() -> None:
    path = FIXTURES / "zh_mini" / "tests" / "test_stories.yml"
    docs = TrainingDocs()
    read_training_doc(docs, read_yaml(path), str(path))
    assert docs.errors == []
    story = next(s for s in docs.stories if s.name == "逐项填写的点单")
    users = [s for s in story.steps if isinstance(s, UserStep)]
    assert users[0].text == "我要点单" and users[0].intent == "order_drink"
    sweet = users[3]
    assert sweet.text == "不加糖"
    assert [(e.entity, e.value) for e in sweet.entities] == [("sweetness", "无糖")]
    faq = next(s for s in docs.stories if s.name == "常见问题（检索意图）")
    assert faq.steps[1] == ActionStep("utter_faq/opening_hours", None, 78)
