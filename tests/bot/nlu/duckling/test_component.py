"""The `DucklingEntityExtractor` pipeline component."""

from __future__ import annotations

from datetime import datetime

from bot.nlu.component import NLUMessage, Normalized
from bot.nlu.duckling import DucklingEntityExtractor
from bot.nlu.types import Entity

NOW = datetime(2026, 3, 4, 10, 30)


def test_process_appends_entities_from_original_text() -> None:
    component = DucklingEntityExtractor({"dimensions": ["time", "number"]}, "zh", clock=lambda: NOW)
    message = NLUMessage(text="明天 两个", norm=Normalized.identity("明天 2个"))
    message.entities.append(Entity("product", "x", 0, 1))
    component.process(message)
    assert [(e.entity, e.value, e.extractor) for e in message.entities] == [
        ("product", "x", ""),
        ("time", "2026-03-05T00:00:00.000+08:00", "DucklingEntityExtractor"),
        ("number", 2, "DucklingEntityExtractor"),
    ]
    assert message.entities[2].start == 3


def test_config_keys_like_rasa() -> None:
    component = DucklingEntityExtractor(
        {
            "dimensions": ["time"],
            "timezone": "America/New_York",
            "locale": "en_US",
            "url": "http://localhost:8000",
            "timeout": 3,
        },
        "zh",
        clock=lambda: NOW,
    )
    message = NLUMessage(text="tomorrow, 3 days")
    component.process(message)
    assert [(e.entity, e.value) for e in message.entities] == [
        ("time", "2026-03-05T00:00:00.000-05:00")
    ]
    assert component.name == "DucklingEntityExtractor"


def test_defaults_follow_pipeline_language() -> None:
    message = NLUMessage(text="call me at 3pm")
    DucklingEntityExtractor(None, "en", clock=lambda: NOW).process(message)
    assert [e.entity for e in message.entities] == ["time"]
    message = NLUMessage(text="")
    DucklingEntityExtractor().process(message)
    assert message.entities == []
