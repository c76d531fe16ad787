from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.errors import ProjectError
from bot.nlu.jsonl import dump_rasa_yaml, parse_jsonl, read_jsonl, write_jsonl, write_rasa_yaml
from bot.nlu.types import RegexFeature

LINES = [
    '{"text": "我想订北京到上海的票", "intent": "book", "entities": ['
    '{"start": 3, "end": 5, "entity": "city", "value": "北京"},'
    '{"start": 6, "end": 8, "entity": "city", "value": "上海市", "role": "to"}]}',
    '{"text": "你好", "intent": "greet"}',
    "",
]


def test_jsonl_round_trip(tmp_path: Path) -> None:
    data = parse_jsonl(LINES, "x.jsonl")
    assert [e.intent for e in data.examples] == ["book", "greet"]
    assert data.examples[0].entities[1].role == "to"
    assert str(data.examples[1].location) == "x.jsonl:2"
    path = tmp_path / "d.jsonl"
    write_jsonl(data, path)
    again = read_jsonl(path)
    assert [(e.text, e.intent) for e in again.examples] == [
        (e.text, e.intent) for e in data.examples
    ]
    assert again.examples[0].entities[1].value == "上海市"


def test_bad_line_reports_location() -> None:
    with pytest.raises(ProjectError) as err:
        parse_jsonl(['{"text": "x"}', "{not json"], "bad.jsonl")
    assert "bad.jsonl:2" in str(err.value)


def test_rasa_yaml_annotations(tmp_path: Path) -> None:
    data = parse_jsonl(LINES)
    data.synonyms = {"沪": "上海市", "上海市": "上海市"}
    data.regexes = [RegexFeature("phone", r"1[3-9]\d{9}")]
    data.lookups = {"city": ["北京", "上海"]}
    text = dump_rasa_yaml(data)
    assert text.startswith('version: "3.1"\nnlu:\n')
    assert (
        '- 我想订[北京](city)到[上海]{"entity": "city", "value": "上海市", "role": "to"}的票'
        in text
    )
    doc = yaml.safe_load(text)
    blocks = {(k, v): b["examples"] for b in doc["nlu"] for k, v in b.items() if k != "examples"}
    assert blocks[("intent", "greet")] == "- 你好\n"
    assert blocks[("synonym", "上海市")] == "- 沪\n"
    assert blocks[("regex", "phone")] == "- 1[3-9]\\d{9}\n"
    assert blocks[("lookup", "city")] == "- 北京\n- 上海\n"
    write_rasa_yaml(data, tmp_path / "nlu.yml")
    assert (tmp_path / "nlu.yml").read_text(encoding="utf-8") == text
