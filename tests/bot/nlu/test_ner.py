from __future__ import annotations

import pickle

import pytest

from bot.nlu.component import NLUMessage, Normalized, TrainContext
from bot.nlu.ner import ZhikeNER, bio_spans, cut_at, normalized_span
from bot.nlu.types import Entity, NLUData, TrainingExample

CITIES = ["北京", "上海", "广州", "深圳", "成都", "重庆", "武汉", "西安", "南京", "天津"]
TEMPLATES = ["查{}的天气", "{}明天下雨吗", "帮我看看{}的天气预报", "{}今天热不热"]


def city_data() -> NLUData:
    examples = []
    for i, city in enumerate(CITIES * 3):
        template = TEMPLATES[i % len(TEMPLATES)]
        text = template.format(city)
        start = text.index(city)
        ent = Entity("city", city, start, start + len(city))
        examples.append(TrainingExample(text, "weather", [ent]))
    return NLUData(examples=examples)


@pytest.fixture(scope="module")
def ner() -> ZhikeNER:
    model = ZhikeNER({"epochs": 25, "patience": 25, "max_train_seconds": 30})
    model.train(city_data(), TrainContext())
    return model


def spans(model: ZhikeNER, text: str) -> list[tuple[str, str, int, int]]:
    return [(e.entity, e.value, e.start, e.end) for e in model.extract(NLUMessage(text))]


def test_learns_cities_in_new_sentences(ner: ZhikeNER) -> None:
    assert spans(ner, "查上海的天气") == [("city", "上海", 1, 3)]
    assert spans(ner, "帮我看看重庆的天气预报") == [("city", "重庆", 4, 6)]
    entity = ner.extract(NLUMessage("成都明天下雨吗"))[0]
    assert entity.extractor == "ZhikeNER"
    assert 0.5 < entity.confidence <= 1.0


def test_uses_context_for_unseen_city(ner: ZhikeNER) -> None:
    assert spans(ner, "查杭州的天气") == [("city", "杭州", 1, 3)]


def test_no_entity_in_unrelated_text(ner: ZhikeNER) -> None:
    assert spans(ner, "你好") == []


def test_pickle_round_trip(ner: ZhikeNER) -> None:
    restored = pickle.loads(pickle.dumps(ner))
    assert spans(restored, "查西安的天气") == spans(ner, "查西安的天气")
    assert restored.stats == ner.stats


def test_offsets_map_back_through_normalisation(ner: ZhikeNER) -> None:
    # original "查 上海 的天气" normalised by hand to "查上海的天气" (spaces removed)
    norm = Normalized("查上海的天气", [(0, 1), (2, 3), (3, 4), (5, 6), (6, 7), (7, 8)])
    message = NLUMessage("查 上海 的天气", norm=norm)
    [entity] = ner.extract(message)
    assert (entity.start, entity.end, entity.value) == (2, 4, "上海")


def test_roles_are_learnt_and_returned() -> None:
    examples = []
    for i, (a, b) in enumerate(zip(CITIES, CITIES[1:] + CITIES[:1], strict=True)):
        text = f"从{a}到{b}的机票" if i % 2 else f"我要从{a}去{b}"
        sa, sb = text.index(a), text.index(b)
        ents = [
            Entity("city", a, sa, sa + 2, role="from"),
            Entity("city", b, sb, sb + 2, role="to"),
        ]
        examples.append(TrainingExample(text, "book", ents))
    model = ZhikeNER({"epochs": 30, "patience": 30, "max_train_seconds": 30})
    model.train(NLUData(examples=examples * 2), TrainContext())
    found = model.extract(NLUMessage("从上海到北京的机票"))
    assert [(e.entity, e.role, e.value) for e in found] == [
        ("city", "from", "上海"),
        ("city", "to", "北京"),
    ]


def test_no_annotations_skips_training() -> None:
    model = ZhikeNER()
    model.train(NLUData(examples=[TrainingExample("你好", "greet")]), TrainContext())
    assert model.nlp is None
    assert model.extract(NLUMessage("查北京的天气")) == []
    assert pickle.loads(pickle.dumps(model)).extract(NLUMessage("你好")) == []


def test_char_segmentation_and_english() -> None:
    model = ZhikeNER({"segmentation": "char", "epochs": 20, "patience": 20})
    model.train(city_data(), TrainContext())
    assert spans(model, "查广州的天气") == [("city", "广州", 1, 3)]
    english = ZhikeNER({"epochs": 20, "patience": 20}, language="en")
    texts = [f"weather in {c} today" for c in ["paris", "london", "tokyo", "berlin", "rome"]]
    data = NLUData(
        examples=[
            TrainingExample(t, "w", [Entity("city", t[11:-6], 11, len(t) - 6)]) for t in texts * 4
        ],
        language="en",
    )
    english.train(data, TrainContext(language="en"))
    assert english.nlp is not None and english.nlp.lang == "en"
    assert spans(english, "weather in paris today") == [("city", "paris", 11, 16)]


@pytest.mark.parametrize(
    "text",
    ["", "   ", "😀😀查北京😀的天气", "\x00\x01\u200b北京\x7f", "北京" * 50_000, "\ud800坏"],
)
def test_never_raises(ner: ZhikeNER, text: str) -> None:
    for entity in ner.extract(NLUMessage(text)):
        assert 0 <= entity.start < entity.end <= len(text)


def test_helpers() -> None:
    assert cut_at([(0, 4), (4, 6)], [2, 4, 5]) == [(0, 2), (2, 4), (4, 5), (5, 6)]
    tokens = [(0, 1), (1, 3), (3, 4), (4, 6)]
    assert bio_spans(["O", "B-city", "I-city", "I-x"], tokens) == [
        (1, 4, "city", 1),
        (4, 6, "x", 3),
    ]
    norm = Normalized("ab", [(0, 1), (3, 4)])
    assert normalized_span(norm, 3, 4) == (1, 2)
    assert normalized_span(norm, 1, 3) is None
