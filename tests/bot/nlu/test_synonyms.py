from __future__ import annotations

from bot.nlu.component import NLUMessage, Normalized, TrainContext
from bot.nlu.synonyms import EntitySynonymMapper, fold, learn_synonyms, source_span
from bot.nlu.types import Entity, NLUData, TrainingExample


def mapper() -> EntitySynonymMapper:
    data = NLUData(
        examples=[TrainingExample("去魔都", "go", [Entity("city", "上海", 1, 3)])],
        synonyms={"帝都": "北京", "nyc": "New York"},
    )
    m = EntitySynonymMapper()
    m.train(data, TrainContext())
    return m


def test_maps_declared_and_annotated_synonyms_case_insensitively() -> None:
    entities = [
        Entity("city", "帝都", 0, 2),
        Entity("city", "NYC", 3, 6),
        Entity("city", "魔都", 7, 9),
        Entity("city", "广州", 9, 11),
    ]
    message = NLUMessage("x", entities=entities)
    mapper().process(message)
    assert [e.value for e in message.entities] == ["北京", "New York", "上海", "广州"]
    assert [e.processors for e in message.entities] == [["EntitySynonymMapper"]] * 3 + [[]]


def test_non_string_values_compared_as_text() -> None:
    m = EntitySynonymMapper()
    m.train(NLUData(synonyms={"1": "one"}), TrainContext())
    entities = [Entity("n", 1, 0, 1), Entity("n", None, 0, 1)]
    m.replace(entities)
    assert [e.value for e in entities] == ["one", None]


def test_matches_after_trimming() -> None:
    assert mapper().lookup(" 帝都 ") == "北京"
    assert mapper().lookup("上海") is None


def test_learn_synonyms_and_helpers() -> None:
    data = NLUData(
        examples=[TrainingExample("NYC", "x", [Entity("city", "New York", 0, 3)])],
        synonyms={"Big Apple": "New York"},
    )
    assert learn_synonyms(data) == {"nyc": "New York", "big apple": "New York"}
    assert fold("ÀBİc") == "àbİc"  # length kept: İ lower-cases to two characters
    message = NLUMessage("a  b", norm=Normalized("a b", [(0, 1), (1, 3), (3, 4)]))
    assert source_span(message, 1, 3) == (1, 4)
    assert source_span(NLUMessage("ab"), 0, 1) == (0, 1)
