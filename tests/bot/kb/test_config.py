"""knowledge_base settings: endpoints.yml section, ZHIKE_KB_* overrides, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.kb.config import KBSettingsError, kb_settings


def test_defaults_then_section_then_environment() -> None:
    s = kb_settings({"answer_threshold": 0.7, "db": "data/kb.db"}, {"ZHIKE_KB_SUGGESTIONS": "2"})
    assert s.answer_threshold == 0.7 and s.db == Path("data/kb.db") and s.suggestions == 2
    assert kb_settings(None).enabled is True
    assert kb_settings({}, {"ZHIKE_KB_ENABLED": "false"}).enabled is False


@pytest.mark.parametrize(
    ("section", "fragment"),
    [
        ({"answer_threshold": 1.5}, "answer_threshold"),
        ({"suggestions": 0}, "suggestions"),
        ({"enabled": "maybe"}, "enabled"),
        ({"answer_threshold": 0.2, "clarify_threshold": 0.5}, "clarify_threshold"),
        ({"thresold": 0.5}, "thresold"),
    ],
)
def test_bad_values_are_reported_in_both_languages(
    section: dict[str, object], fragment: str
) -> None:
    with pytest.raises(KBSettingsError) as caught:
        kb_settings(section)
    message = str(caught.value)
    assert fragment in message and "知识库" in message
