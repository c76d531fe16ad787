"""Times, Chinese and English, against a fixed reference time (Wednesday 2026-03-04 10:30)."""

from __future__ import annotations

from datetime import datetime

import pytest

from bot.nlu.duckling import extract

NOW = datetime(2026, 3, 4, 10, 30)


def times(text: str, language: str = "zh", now: datetime = NOW) -> list[tuple]:
    return [
        (text[e.start : e.end], e.value, (e.additional_info or {}).get("grain"))
        for e in extract(text, {"time"}, language=language, now=now)
    ]


def day(d: str) -> str:
    return f"{d}T00:00:00.000+08:00"


@pytest.mark.parametrize(
    ("text", "span", "value", "grain"),
    [
        ("今天", "今天", day("2026-03-04"), "day"),
        ("明天有空吗", "明天", day("2026-03-05"), "day"),
        ("后天", "后天", day("2026-03-06"), "day"),
        ("昨天", "昨天", day("2026-03-03"), "day"),
        ("前天", "前天", day("2026-03-02"), "day"),
        ("大后天", "大后天", day("2026-03-07"), "day"),
        ("下周三", "下周三", day("2026-03-11"), "day"),
        ("这周五", "这周五", day("2026-03-06"), "day"),
        ("上周一", "上周一", day("2026-02-23"), "day"),
        ("下个星期天", "下个星期天", day("2026-03-15"), "day"),
        ("星期一", "星期一", day("2026-03-09"), "day"),
        ("周三", "周三", day("2026-03-04"), "day"),
        ("下周", "下周", day("2026-03-09"), "week"),
        ("本月", "本月", day("2026-03-01"), "month"),
        ("这个月", "这个月", day("2026-03-01"), "month"),
        ("上个月", "上个月", day("2026-02-01"), "month"),
        ("下个月", "下个月", day("2026-04-01"), "month"),
        ("三月", "三月", day("2026-03-01"), "month"),
        ("3月份", "3月份", day("2026-03-01"), "month"),
        ("二月", "二月", day("2027-02-01"), "month"),
        ("十二月", "十二月", day("2026-12-01"), "month"),
        ("3月5号", "3月5号", day("2026-03-05"), "day"),
        ("3月1号", "3月1号", day("2027-03-01"), "day"),
        ("十月一日", "十月一日", day("2026-10-01"), "day"),
        ("2025年12月", "2025年12月", day("2025-12-01"), "month"),
        ("2025年12月25日", "2025年12月25日", day("2025-12-25"), "day"),
        ("二零二五年三月", "二零二五年三月", day("2025-03-01"), "month"),
        ("2025-12-01", "2025-12-01", day("2025-12-01"), "day"),
        ("2025年", "2025年", day("2025-01-01"), "year"),
        ("明年", "明年", day("2027-01-01"), "year"),
        ("下个月5号", "下个月5号", day("2026-04-05"), "day"),
        ("15号", "15号", day("2026-03-15"), "day"),
        ("2号", "2号", day("2026-04-02"), "day"),
        ("月底", "月底", day("2026-03-31"), "day"),
        ("下个月底", "下个月底", day("2026-04-30"), "day"),
        ("月初", "月初", day("2026-03-01"), "day"),
        ("年底", "年底", day("2026-12-31"), "day"),
        ("上午十点", "上午十点", "2026-03-04T10:00:00.000+08:00", "hour"),
        ("晚上8点半", "晚上8点半", "2026-03-04T20:30:00.000+08:00", "minute"),
        ("明天下午3点", "明天下午3点", "2026-03-05T15:00:00.000+08:00", "hour"),
        ("明天下午三点十五分", "明天下午三点十五分", "2026-03-05T15:15:00.000+08:00", "minute"),
        ("下周三上午9点", "下周三上午9点", "2026-03-11T09:00:00.000+08:00", "hour"),
        ("3月5号上午十点", "3月5号上午十点", "2026-03-05T10:00:00.000+08:00", "hour"),
        ("今晚8点", "今晚8点", "2026-03-04T20:00:00.000+08:00", "hour"),
        ("明早9点", "明早9点", "2026-03-05T09:00:00.000+08:00", "hour"),
        ("凌晨两点", "凌晨两点", "2026-03-05T02:00:00.000+08:00", "hour"),
        ("中午12点", "中午12点", "2026-03-04T12:00:00.000+08:00", "hour"),
        ("晚上12点", "晚上12点", "2026-03-05T00:00:00.000+08:00", "hour"),
        ("下午一点", "下午一点", "2026-03-04T13:00:00.000+08:00", "hour"),
        ("三点", "三点", "2026-03-04T15:00:00.000+08:00", "hour"),
        ("十点半", "十点半", "2026-03-04T10:30:00.000+08:00", "minute"),
        ("八点一刻", "八点一刻", "2026-03-04T20:15:00.000+08:00", "minute"),
        ("14:30", "14:30", "2026-03-04T14:30:00.000+08:00", "minute"),
        ("2025-12-01 14:30", "2025-12-01 14:30", "2025-12-01T14:30:00.000+08:00", "minute"),
        ("三天后", "三天后", day("2026-03-07"), "day"),
        ("两个月以后", "两个月以后", day("2026-05-04"), "day"),
        ("一个小时后", "一个小时后", "2026-03-04T11:30:00.000+08:00", "second"),
        ("三天前", "三天前", day("2026-03-01"), "day"),
        ("现在", "现在", "2026-03-04T10:30:00.000+08:00", "second"),
    ],
)
def test_zh_times(text: str, span: str, value: str, grain: str) -> None:
    assert times(text) == [(span, value, grain)]


def test_zh_intervals() -> None:
    assert times("明天下午") == [
        (
            "明天下午",
            {"to": "2026-03-05T19:00:00.000+08:00", "from": "2026-03-05T12:00:00.000+08:00"},
            None,
        )
    ]
    (weekend,) = extract("这周末", {"time"}, now=NOW)
    assert weekend.value == {
        "to": "2026-03-09T00:00:00.000+08:00",
        "from": "2026-03-06T18:00:00.000+08:00",
    }
    assert weekend.additional_info is not None
    assert weekend.additional_info["type"] == "interval"


@pytest.mark.parametrize(
    "text",
    [
        "下午好",
        "晚上好",
        "便宜一点",
        "一点点",
        "3号楼",
        "5号线",
        "三个月",
        "三年",
        "一时半会",
        "当时",
        "小时候",
    ],
)
def test_zh_not_times(text: str) -> None:
    assert times(text) == []


@pytest.mark.parametrize(
    ("text", "span", "value", "grain"),
    [
        ("today", "today", day("2026-03-04"), "day"),
        ("see you Tomorrow", "Tomorrow", day("2026-03-05"), "day"),
        ("yesterday", "yesterday", day("2026-03-03"), "day"),
        ("the day after tomorrow", "the day after tomorrow", day("2026-03-06"), "day"),
        ("next monday", "next monday", day("2026-03-09"), "day"),
        ("on friday", "friday", day("2026-03-06"), "day"),
        ("last friday", "last friday", day("2026-02-27"), "day"),
        ("march 5th", "march 5th", day("2026-03-05"), "day"),
        ("March 1", "March 1", day("2027-03-01"), "day"),
        ("5 march 2027", "5 march 2027", day("2027-03-05"), "day"),
        ("the 5th of june", "the 5th of june", day("2026-06-05"), "day"),
        ("Dec. 25", "Dec. 25", day("2026-12-25"), "day"),
        ("june", "june", day("2026-06-01"), "month"),
        ("next month", "next month", day("2026-04-01"), "month"),
        ("this week", "this week", day("2026-03-02"), "week"),
        ("2026-04-01", "2026-04-01", day("2026-04-01"), "day"),
        ("3/15", "3/15", day("2026-03-15"), "day"),
        ("at 3pm", "at 3pm", "2026-03-04T15:00:00.000+08:00", "hour"),
        ("5:30 pm", "5:30 pm", "2026-03-04T17:30:00.000+08:00", "minute"),
        ("at 9am", "at 9am", "2026-03-05T09:00:00.000+08:00", "hour"),
        ("tomorrow at 3pm", "tomorrow at 3pm", "2026-03-05T15:00:00.000+08:00", "hour"),
        ("10am tomorrow", "10am tomorrow", "2026-03-05T10:00:00.000+08:00", "hour"),
        ("monday at 9am", "monday at 9am", "2026-03-09T09:00:00.000+08:00", "hour"),
        ("tonight at 8", "tonight at 8", "2026-03-04T20:00:00.000+08:00", "hour"),
        ("noon", "noon", "2026-03-04T12:00:00.000+08:00", "hour"),
        ("3 o'clock", "3 o'clock", "2026-03-04T15:00:00.000+08:00", "hour"),
        ("in 3 days", "in 3 days", day("2026-03-07"), "day"),
        ("3 days ago", "3 days ago", day("2026-03-01"), "day"),
        ("in two hours", "in two hours", "2026-03-04T12:30:00.000+08:00", "second"),
        ("now", "now", "2026-03-04T10:30:00.000+08:00", "second"),
    ],
)
def test_en_times(text: str, span: str, value: str, grain: str) -> None:
    assert times(text, "en") == [(span, value, grain)]


@pytest.mark.parametrize(
    "text", ["good morning", "may I help you", "the sun", "I am 5", "version 3"]
)
def test_en_not_times(text: str) -> None:
    assert times(text, "en") == []


def test_time_value_shape_matches_duckling() -> None:
    (entity,) = extract("明天", {"time"}, now=NOW)
    single = {"value": "2026-03-05T00:00:00.000+08:00", "grain": "day", "type": "value"}
    assert entity.additional_info == {**single, "values": [single]}


def test_timezone_and_aware_now() -> None:
    from zoneinfo import ZoneInfo

    now = datetime(2026, 3, 4, 23, 30, tzinfo=ZoneInfo("UTC"))  # already the 5th in Shanghai
    (entity,) = extract("今天", {"time"}, now=now)
    assert entity.value == day("2026-03-05")
    (entity,) = extract("today", {"time"}, language="en", now=now, timezone="America/New_York")
    assert entity.value == "2026-03-04T00:00:00.000-05:00"
    (entity,) = extract("今天", {"time"}, now=NOW, timezone="Not/AZone")
    assert entity.value == day("2026-03-04")
