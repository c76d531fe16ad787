"""Durations, Chinese and English."""

from __future__ import annotations

from datetime import datetime

import pytest

from bot.nlu.duckling import extract

NOW = datetime(2026, 3, 4, 10, 30)


def durations(text: str, language: str = "zh") -> list[tuple]:
    out = []
    for e in extract(text, language=language, now=NOW):
        info = e.additional_info or {}
        out.append((e.entity, text[e.start : e.end], e.value, info.get("unit")))
    return out


@pytest.mark.parametrize(
    ("text", "span", "value", "unit"),
    [
        ("三天", "三天", 3, "day"),
        ("需要两个小时", "两个小时", 2, "hour"),
        ("半年", "半年", 6, "month"),
        ("一个月", "一个月", 1, "month"),
        ("三个月", "三个月", 3, "month"),
        ("半个月", "半个月", 15, "day"),
        ("一个半小时", "一个半小时", 90, "minute"),
        ("1.5小时", "1.5小时", 90, "minute"),
        ("半小时", "半小时", 30, "minute"),
        ("两天半", "两天半", 60, "hour"),
        ("30分钟", "30分钟", 30, "minute"),
        ("10秒", "10秒", 10, "second"),
        ("两个礼拜", "两个礼拜", 2, "week"),
        ("一周", "一周", 1, "week"),
        ("三年", "三年", 3, "year"),
        ("一年半", "一年半", 18, "month"),
        ("两个钟头", "两个钟头", 2, "hour"),
    ],
)
def test_zh_durations(text: str, span: str, value: int, unit: str) -> None:
    assert durations(text) == [("duration", span, value, unit)]


@pytest.mark.parametrize(
    ("text", "span", "value", "unit"),
    [
        ("3 days", "3 days", 3, "day"),
        ("two hours", "two hours", 2, "hour"),
        ("an hour", "an hour", 1, "hour"),
        ("half an hour", "half an hour", 30, "minute"),
        ("1.5 hours", "1.5 hours", 90, "minute"),
        ("two and a half hours", None, None, None),
        ("10 minutes", "10 minutes", 10, "minute"),
        ("a week", "a week", 1, "week"),
        ("6 months", "6 months", 6, "month"),
        ("2 years", "2 years", 2, "year"),
        ("30 secs", "30 secs", 30, "second"),
    ],
)
def test_en_durations(text: str, span: str | None, value: int, unit: str) -> None:
    got = [d for d in durations(text, "en") if d[0] == "duration"]
    if span is None:
        assert got == [] or got[0][1] != text  # not supported as a whole
    else:
        assert got == [("duration", span, value, unit)]


def test_duration_info_matches_duckling() -> None:
    (entity,) = extract("三天", {"duration"}, now=NOW)
    assert entity.value == 3
    assert entity.additional_info == {
        "type": "value",
        "value": 3,
        "unit": "day",
        "day": 3,
        "normalized": {"unit": "second", "value": 259200},
    }


@pytest.mark.parametrize("text", ["三月", "2025年", "几天", "每天"])
def test_zh_not_durations(text: str) -> None:
    assert [d for d in durations(text) if d[0] == "duration"] == []
