"""YAML 1.2 reading with line numbers and bilingual errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ProjectError
from bot.project.yamlio import LocDict, LocList, line_of, parse_yaml, read_yaml

FIXTURES = Path(__file__).parents[2] / "fixtures" / "projects"


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "Yes", "NO", "On", "OFF", "y", "n"])
def test_yaml_11_booleans_stay_strings(word: str) -> None:
    assert parse_yaml(f"v: {word}")["v"] == word


@pytest.mark.parametrize(
    ("word", "value"),
    [("true", True), ("True", True), ("TRUE", True), ("false", False), ("False", False)],
)
def test_true_and_false_are_booleans(word: str, value: bool) -> None:
    assert parse_yaml(f"v: {word}")["v"] is value


def test_scalars_numbers_and_nulls() -> None:
    doc = parse_yaml("a: 3\nb: 2.5\nc: null\nd: ~\ne:\nf: '3'\ng: -7\nh: 0x1F")
    assert doc == {"a": 3, "b": 2.5, "c": None, "d": None, "e": None, "f": "3", "g": -7, "h": 31}
    assert isinstance(doc["a"], int) and isinstance(doc["b"], float)


def test_base60_times_stay_strings() -> None:
    # YAML 1.1 reads 12:30 as the integer 750; Rasa (YAML 1.2) keeps the string.
    assert parse_yaml("t: 12:30\nu: [9:05, 1:00:00]") == {"t": "12:30", "u": ["9:05", "1:00:00"]}


def test_chinese_text_round_trips() -> None:
    assert parse_yaml("- 你好：欢迎\n- 是") == ["你好：欢迎", "是"]


def test_mapping_key_lines() -> None:
    doc = parse_yaml(
        "version: '3.1'\n\nintents:\n  - greet\n  - bye\nslots:\n  a:\n    type: text\n"
    )
    assert isinstance(doc, LocDict)
    assert doc.line == 1
    assert doc.key_lines == {"version": 1, "intents": 3, "slots": 6}
    assert line_of(doc, "slots") == 6
    assert line_of(doc["slots"], "a") == 7
    assert line_of(doc["slots"]["a"], "type") == 8


def test_list_item_lines() -> None:
    doc = parse_yaml("items:\n  - one\n\n  - two\n  - k: v\n    k2: v2\n")
    items = doc["items"]
    assert isinstance(items, LocList)
    assert items.item_lines == [2, 4, 5]
    assert [line_of(items, i) for i in range(3)] == [2, 4, 5]
    assert items[2].line == 5
    assert items[2].key_lines == {"k": 5, "k2": 6}


def test_line_of_fallbacks() -> None:
    doc = parse_yaml("a:\n  b: 1\nlist:\n  - x\n")
    assert line_of(doc["a"], "missing") == 2  # the mapping itself
    assert line_of(doc["list"], 7) == 4  # out of range -> the list itself
    assert line_of(doc["list"], None) == 4
    assert line_of({"plain": 1}, "plain", default=9) == 9
    assert line_of("scalar", default=3) == 3
    assert line_of(None) == 0


def test_loc_containers_are_plain_dicts_and_lists() -> None:
    doc = parse_yaml("a: [1, 2]\nb: {c: d}")
    assert doc == {"a": [1, 2], "b": {"c": "d"}}
    assert isinstance(doc, dict) and isinstance(doc["a"], list)


def test_empty_document_is_none() -> None:
    assert parse_yaml("") is None
    assert parse_yaml("# only a comment\n") is None


def test_merge_keys_are_flattened() -> None:
    doc = parse_yaml("base: &b\n  x: 1\nchild:\n  <<: *b\n  y: 2\n")
    assert doc["child"] == {"x": 1, "y": 2}


def test_malformed_yaml_names_file_line_and_is_bilingual() -> None:
    text = "responses:\n  utter_a:\n    - text: hi\n   utter_b:\n    - text: bye\n"
    with pytest.raises(ProjectError) as info:
        parse_yaml(text, "domain.yml")
    err = info.value
    assert err.location is not None
    assert err.location.file == "domain.yml"
    assert err.location.line == 4
    assert "YAML" in err.zh and "缩进" in err.zh
    assert "malformed YAML" in err.en
    assert str(err).startswith("domain.yml:4: ")
    assert " / " in str(err)


def test_unclosed_quote_reports_a_line() -> None:
    with pytest.raises(ProjectError) as info:
        parse_yaml('a: 1\nb: "open\n', "x.yml")
    assert info.value.location is not None and info.value.location.line >= 2


def test_unhashable_key_is_a_project_error() -> None:
    with pytest.raises(ProjectError) as info:
        parse_yaml("? [a, b]\n: value\n", "k.yml")
    assert info.value.location is not None and info.value.location.line == 1


def test_read_yaml_fixture_with_bad_indentation() -> None:
    path = FIXTURES / "malformed" / "bad_yaml_indentation" / "domain.yml"
    with pytest.raises(ProjectError) as info:
        read_yaml(path)
    assert info.value.location is not None
    assert info.value.location.file == str(path)
    assert info.value.location.line == 10


def test_read_yaml_tolerates_bom(tmp_path: Path) -> None:
    path = tmp_path / "bom.yml"
    path.write_bytes("\ufeffintents:\n  - 问候\n".encode())
    doc = read_yaml(path)
    assert doc == {"intents": ["问候"]}
    assert doc.key_lines["intents"] == 1


def test_read_yaml_rejects_non_utf8(tmp_path: Path) -> None:
    path = tmp_path / "gbk.yml"
    path.write_bytes("intents:\n  - 问候\n".encode("gbk"))
    with pytest.raises(ProjectError) as info:
        read_yaml(path)
    assert "UTF-8" in info.value.zh and "UTF-8" in info.value.en
    assert info.value.location is not None and info.value.location.file == str(path)


def test_read_yaml_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ProjectError) as info:
        read_yaml(tmp_path / "nope.yml")
    assert "无法读取" in info.value.zh and "cannot read" in info.value.en
