from __future__ import annotations

from bot.nlu.types import Entity, IntentScore, NLUData, ParseResult, TrainingExample
from bot.testing.nlu_eval import evaluate

TEST = NLUData(
    examples=[
        TrainingExample("去北京", "travel", [Entity("city", "北京", 1, 3)]),
        TrainingExample("去上海", "travel", [Entity("city", "上海", 1, 3)]),
        TrainingExample("你好", "greet"),
        TrainingExample("明天天气", "weather", [Entity("date", "明天", 0, 2)]),
    ]
)

PREDICTIONS = {
    "去北京": ParseResult(
        "去北京", IntentScore("travel", 0.9), entities=[Entity("city", "北京", 1, 3)]
    ),
    "去上海": ParseResult(
        "去上海", IntentScore("greet", 0.6), entities=[Entity("city", "沪", 1, 3)]
    ),
    "你好": ParseResult("你好", IntentScore("greet", 0.8), entities=[Entity("city", "你", 0, 1)]),
    "明天天气": ParseResult("明天天气", IntentScore("weather", 0.7)),
}


def test_report_figures() -> None:
    seen: list[NLUData] = []
    report = evaluate(seen.append, lambda t: PREDICTIONS[t], TEST, train=TEST)
    assert seen == [TEST]
    assert report.accuracy == 0.75
    assert (
        report.per_intent["travel"].recall == 0.5 and report.per_intent["travel"].precision == 1.0
    )
    assert report.per_intent["greet"].precision == 0.5 and report.per_intent["greet"].support == 1
    assert report.macro_f1 == round((2 / 3 + 2 / 3 + 1.0) / 3, 4)
    assert [(c.gold, c.predicted, c.count) for c in report.confusions] == [("travel", "greet", 1)]
    city = report.entities.per_type["city"]
    assert (city.precision, city.recall) == (round(2 / 3, 4), 1.0)
    assert report.entities.per_type["date"].recall == 0.0
    assert report.entities.micro.precision == round(
        2 / 3, 4
    ) and report.entities.micro.recall == round(2 / 3, 4)
    assert report.entities.value_accuracy == 0.5
    assert report.parse_latency_ms.p50 <= report.parse_latency_ms.p99
    d = report.to_dict()
    assert d["accuracy"] == 0.75 and d["confusions"][0]["gold"] == "travel"


def test_without_training() -> None:
    report = evaluate(lambda d: None, lambda t: PREDICTIONS[t], TEST)
    assert report.train_seconds < 0.01 and report.examples == 4
