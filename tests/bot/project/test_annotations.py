"""Rasa inline entity annotations: parsing, errors and rendering back."""

from __future__ import annotations

import pytest

from bot.nlu.types import Entity
from bot.project.annotations import AnnotationError, parse_annotated, render_annotated


def _triples(raw: str) -> list[tuple[str, object, int, int, str | None, str | None]]:
    ann = parse_annotated(raw)
    return [(e.entity, e.value, e.start, e.end, e.role, e.group) for e in ann.entities]


def test_plain_text_has_no_entities() -> None:
    ann = parse_annotated("你好，请问几点开门？")
    assert ann.text == "你好，请问几点开门？"
    assert ann.entities == [] and ann.synonyms == {}


def test_paren_form() -> None:
    ann = parse_annotated("我想去[北京](city)出差")
    assert ann.text == "我想去北京出差"
    assert _triples("我想去[北京](city)出差") == [("city", "北京", 3, 5, None, None)]
    assert ann.text[3:5] == "北京"
    assert ann.synonyms == {}


def test_paren_form_with_value_records_synonym() -> None:
    ann = parse_annotated("去[帝都](city:北京)玩")
    assert ann.text == "去帝都玩"
    assert _triples("去[帝都](city:北京)玩") == [("city", "北京", 1, 3, None, None)]
    assert ann.synonyms == {"帝都": "北京"}


def test_paren_value_may_contain_colon() -> None:
    assert _triples("at [noon](time:12:00)") == [("time", "12:00", 3, 7, None, None)]


def test_json_form_with_all_keys() -> None:
    raw = '订[两张]{"entity": "count", "value": "2", "role": "adult", "group": "g1"}票'
    ann = parse_annotated(raw)
    assert ann.text == "订两张票"
    assert _triples(raw) == [("count", "2", 1, 3, "adult", "g1")]
    assert ann.synonyms == {"两张": "2"}


def test_json_form_without_value_uses_surface() -> None:
    raw = 'from [Soho]{"entity": "area", "role": "current"} to [Camden]{"entity": "area", "role": "target"}'
    ann = parse_annotated(raw)
    assert ann.text == "from Soho to Camden"
    assert _triples(raw) == [
        ("area", "Soho", 5, 9, "current", None),
        ("area", "Camden", 13, 19, "target", None),
    ]
    assert ann.synonyms == {}


def test_json_null_role_is_not_the_string_none() -> None:
    assert _triples('[x]{"entity": "e", "role": null}') == [("e", "x", 0, 1, None, None)]


def test_list_form_gives_several_entities_on_one_span() -> None:
    raw = '去[上海][{"entity": "city"}, {"entity": "destination", "role": "to"}]吧'
    ann = parse_annotated(raw)
    assert ann.text == "去上海吧"
    assert _triples(raw) == [
        ("city", "上海", 1, 3, None, None),
        ("destination", "上海", 1, 3, "to", None),
    ]


def test_several_annotations_offsets_follow_the_stripped_text() -> None:
    raw = "点一杯[大杯](size)的[柠檬茶](drink)，[五分糖](sweetness:半糖)"
    ann = parse_annotated(raw)
    assert ann.text == "点一杯大杯的柠檬茶，五分糖"
    for ent in ann.entities:
        assert ann.text[ent.start : ent.end] in {"大杯", "柠檬茶", "五分糖"}
    assert [e.entity for e in ann.entities] == ["size", "drink", "sweetness"]
    assert ann.synonyms == {"五分糖": "半糖"}


def test_brackets_without_annotation_are_kept() -> None:
    ann = parse_annotated("see [note] (later) and [x]")
    assert ann.text == "see [note] (later) and [x]"
    assert ann.entities == []


@pytest.mark.parametrize(
    "raw",
    [
        "[北京]{entity: city}",  # not JSON
        '[北京]{"entity": "city",}',  # trailing comma
        '[北京][{"entity": "city"}, {"entity": }]',  # broken list
    ],
)
def test_broken_json_raises(raw: str) -> None:
    with pytest.raises(AnnotationError, match="invalid JSON"):
        parse_annotated(raw)


@pytest.mark.parametrize("raw", ['[北京]{"value": "x"}', '[北京][{"entity": "a"}, {"role": "r"}]'])
def test_json_without_entity_key_raises(raw: str) -> None:
    with pytest.raises(AnnotationError, match='"entity"'):
        parse_annotated(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "我想去[北京](city)出差",
        "plain text",
        "[a](b) c [d](e)",
        '订[两张]{"entity": "count", "value": "2", "role": "adult", "group": "g1"}票',
        '[帝都]{"entity": "city", "value": "北京"}',
        'from [Soho]{"entity": "area", "role": "current"}',
        '去[上海][{"entity": "city"}, {"entity": "destination", "role": "to"}]吧',
    ],
)
def test_render_round_trip_is_exact_for_canonical_text(raw: str) -> None:
    ann = parse_annotated(raw)
    assert render_annotated(ann.text, ann.entities) == raw


@pytest.mark.parametrize("raw", ["去[帝都](city:北京)玩", "[curry house](cuisine:indian) please"])
def test_render_round_trip_preserves_meaning(raw: str) -> None:
    first = parse_annotated(raw)
    again = parse_annotated(render_annotated(first.text, first.entities))
    assert again.text == first.text
    assert again.entities == first.entities
    assert again.synonyms == first.synonyms


def test_render_sorts_entities_and_skips_overlaps() -> None:
    text = "abc def"
    ents = [Entity("y", "def", 4, 7), Entity("x", "abc", 0, 3), Entity("z", "bc", 1, 3)]
    assert render_annotated(text, ents) == "[abc](x) [def](y)"


def test_render_non_string_value() -> None:
    text = "two people"
    out = render_annotated(text, [Entity("number", 2, 0, 3)])
    assert out == '[two]{"entity": "number", "value": 2} people'
    assert parse_annotated(out).entities[0].value == "2"
