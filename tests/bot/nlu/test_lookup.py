from __future__ import annotations

import pickle

import pytest

from bot.nlu.component import NLUMessage, Normalized, TrainContext
from bot.nlu.lookup import LookupEntityExtractor, lenient, readings
from bot.nlu.synonyms import EntitySynonymMapper
from bot.nlu.types import Entity, NLUData, TrainingExample


def data() -> NLUData:
    return NLUData(
        examples=[
            TrainingExample("开通漫游", "open", [Entity("service", "国际漫游", 2, 4)]),
            TrainingExample("去南京", "go", [Entity("city", "南京", 1, 3, role="to")]),
            TrainingExample("我是男的", "info", [Entity("gender", "男", 2, 3)]),
        ],
        lookups={
            "service": ["国际漫游", "iPhone", "流量包"],
            "city": ["北京", "北京大学", "重庆", "京"],
        },
        synonyms={"帝都": "北京", "iphone手机": "iPhone"},
    )


def extractor(**config: object) -> LookupEntityExtractor:
    ext = LookupEntityExtractor(dict(config))
    ext.train(data(), TrainContext())
    return ext


def found(ext: LookupEntityExtractor, text: str) -> list[tuple[str, str, int, int, float]]:
    return [
        (e.entity, e.value, e.start, e.end, e.confidence) for e in ext.extract(NLUMessage(text))
    ]


def test_exact_leftmost_longest_non_overlapping() -> None:
    ext = extractor()
    assert found(ext, "北京大学在北京") == [
        ("city", "北京大学", 0, 4, 1.0),
        ("city", "北京", 5, 7, 1.0),
    ]
    assert found(ext, "IPHONE 多少钱")[0][:4] == ("service", "iPhone", 0, 6)


def test_ascii_values_need_word_edges() -> None:
    assert found(extractor(), "iphones") == []


@pytest.mark.parametrize(
    ("text", "value", "span"),
    [
        ("我想开通国际曼游", "国际漫游", (4, 8)),
        ("背景今天冷吗", "北京", (0, 2)),
        ("虫庆", "重庆", (0, 2)),
    ],
)
def test_pinyin_homophones_match_with_lower_confidence(
    text: str, value: str, span: tuple[int, int]
) -> None:
    [(_, got, start, end, confidence)] = found(extractor(), text)
    assert (got, (start, end), confidence) == (value, span, 0.8)


@pytest.mark.parametrize(
    "text",
    [
        "经济",  # single-character value 京 must not match fuzzily (jing)
        "贝壳",  # only the first syllable of 北京
        "国际慢",  # partial value
        "背",
    ],
)
def test_pinyin_negatives(text: str) -> None:
    assert found(extractor(), text) == []


def test_exact_wins_over_fuzzy_and_fuzzy_can_be_disabled() -> None:
    assert found(extractor(), "北京")[0][4] == 1.0
    assert found(extractor(fuzzy=False), "背景") == []


def test_lenient_pinyin_is_opt_in() -> None:
    assert [f[1] for f in found(extractor(), "兰京")] == ["京"]
    assert found(extractor(fuzzy_lenient=True), "兰京")[0][:2] == ("city", "南京")
    assert lenient("zhang") == "zan" and lenient("nong") == "lon"
    assert "chong" in readings("重") and readings("a") == ()


def test_synonym_variants_typed_from_annotations_and_mapped() -> None:
    # 漫游 -> 国际漫游 is typed by the annotated example, 帝都 -> 北京 by the lookup table
    assert found(extractor(), "漫游")[0][:2] == ("service", "漫游")
    ext = extractor()
    mapper = EntitySynonymMapper()
    mapper.train(data(), TrainContext())
    message = NLUMessage("帝都天气")
    ext.process(message)
    mapper.process(message)
    [entity] = message.entities
    assert (entity.entity, entity.value, entity.processors) == (
        "city",
        "北京",
        ["EntitySynonymMapper"],
    )


def test_annotated_values_keep_role_and_min_length() -> None:
    [entity] = extractor().extract(NLUMessage("到南京"))
    assert (entity.value, entity.role) == ("南京", "to")
    assert found(extractor(), "男") == []
    assert found(extractor(min_annotated_length=1), "男")[0][:2] == ("gender", "男")


def test_skips_spans_taken_by_earlier_extractors() -> None:
    message = NLUMessage("北京", entities=[Entity("place", "北京", 0, 2)])
    extractor().process(message)
    assert len(message.entities) == 1
    message = NLUMessage("北京", entities=[Entity("place", "北京", 0, 2)])
    extractor(skip_overlapping=False).process(message)
    assert len(message.entities) == 2


def test_offsets_in_original_text() -> None:
    norm = Normalized("去北京", [(0, 1), (3, 4), (4, 5)])
    [entity] = extractor().extract(NLUMessage("去  北京", norm=norm))
    assert (entity.start, entity.end) == (3, 5)


def test_pickle_and_empty_training() -> None:
    restored = pickle.loads(pickle.dumps(extractor()))
    assert found(restored, "背景")[0][:2] == ("city", "北京")
    empty = LookupEntityExtractor()
    empty.train(NLUData(), TrainContext())
    assert empty.extract(NLUMessage("北京")) == []


@pytest.mark.parametrize(
    "text", ["", "😀北京😀", "\x00\x1b[31m北\u200b京", "背景" * 50_000, "\ud800北京"]
)
def test_never_raises(text: str) -> None:
    for entity in extractor(fuzzy_lenient=True).extract(NLUMessage(text)):
        assert 0 <= entity.start < entity.end <= len(text)
