from __future__ import annotations

import pickle

import pytest

from bot.nlu.component import NLUMessage, Normalized, TrainContext
from bot.nlu.regex_extractor import RegexEntityExtractor, lookup_regex
from bot.nlu.types import Entity, NLUData, RegexFeature, TrainingExample


def data() -> NLUData:
    return NLUData(
        examples=[TrainingExample("查北京", "q", [Entity("city", "北京", 1, 3)])],
        regexes=[
            RegexFeature("phone", r"1[3-9]\d{9}"),
            RegexFeature("zipcode", r"\d{6}"),  # no such entity: a feature only (Rasa)
            RegexFeature("city", r"[A-Z][a-z]+ City"),
            RegexFeature("broken", r"("),
        ],
        lookups={"city": ["上海", "Pro"], "fruit": ["苹果"]},
    )


def extract(text: str, norm: Normalized | None = None, **config: object) -> list[tuple]:
    ext = RegexEntityExtractor(dict(config))
    ext.train(data(), TrainContext(artifacts={"entities": ["phone", "broken"]}))
    ext = pickle.loads(pickle.dumps(ext))
    return [
        (e.entity, e.value, e.start, e.end, e.extractor)
        for e in ext.extract(NLUMessage(text, norm=norm))
    ]


def test_regexes_and_lookups_named_like_entities() -> None:
    got = extract("打13812345678，邮编100000，去上海，买苹果")
    assert got == [
        ("phone", "13812345678", 1, 12, "RegexEntityExtractor"),
        ("city", "上海", 23, 25, "RegexEntityExtractor"),
    ]


def test_case_sensitivity() -> None:
    assert extract("go to dodge city")[0][1] == "dodge city"
    assert extract("go to dodge city", case_sensitive=True) == []
    assert extract("Dodge City", case_sensitive=True)[0][1] == "Dodge City"


def test_switches() -> None:
    assert extract("上海 13812345678", use_regexes=False) == [
        ("city", "上海", 0, 2, "RegexEntityExtractor")
    ]
    assert [g[0] for g in extract("上海 13812345678", use_lookup_tables=False)] == ["phone"]


def test_word_boundaries_only_for_ascii_edges() -> None:
    assert extract("iPhone Pro")[0][1] == "Pro"
    assert extract("prototype") == []
    assert extract("prototype", use_word_boundaries=False)[0][1] == "pro"
    assert extract("去上海玩")[0][1] == "上海"  # no boundary needed between Chinese characters
    assert lookup_regex(["a", "ab", " "], False) == "(ab|a)"


def test_offsets_map_to_original_text() -> None:
    norm = Normalized("138", [(0, 1), (0, 1), (1, 3)])
    ext = RegexEntityExtractor()
    ext.train(
        NLUData(
            examples=[TrainingExample("x", "q", [Entity("num", "1", 0, 1)])],
            regexes=[RegexFeature("num", r"\d+")],
        ),
        TrainContext(),
    )
    [entity] = ext.extract(NLUMessage("幺三八", norm=norm))
    assert (entity.value, entity.start, entity.end) == ("138", 0, 3)


@pytest.mark.parametrize("text", ["", "😀上海😀", "\x00\x07上\u200b海", "上海" * 50_000])
def test_never_raises(text: str) -> None:
    for _, _, start, end, _ in extract(text):
        assert 0 <= start < end <= len(text)
