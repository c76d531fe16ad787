"""The `duration` dimension: 三天, 两个小时, 半年, 一个半小时, 3 days, half an hour."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from bot.nlu.duckling.base import DURATION, Context, Match, ascii_lower
from bot.nlu.duckling.numerals import EN_NUM, ZH_NUM, parse_en_number, parse_zh_number

SECONDS = {
    "second": 1, "minute": 60, "hour": 3600, "day": 86_400, "week": 604_800,
    "month": 2_592_000, "quarter": 7_776_000, "year": 31_536_000,
}  # fmt: skip
# A fraction moves to the next smaller unit: (unit, how many of it make one).
LOWER = {"year": ("month", 12), "quarter": ("month", 3), "month": ("day", 30)}
LOWER |= {"week": ("day", 7), "day": ("hour", 24), "hour": ("minute", 60)}
LOWER |= {"minute": ("second", 60)}

_ZH_UNITS = {
    "秒钟": "second", "秒": "second", "分钟": "minute", "小时": "hour", "钟头": "hour",
    "天": "day", "周": "week", "星期": "week", "礼拜": "week", "月": "month", "年": "year",
    "季度": "quarter",
}  # fmt: skip
_EN_UNITS = {
    "second": "second", "sec": "second", "minute": "minute", "min": "minute", "hour": "hour",
    "hr": "hour", "day": "day", "week": "week", "month": "month", "year": "year",
    "quarter": "quarter",
}  # fmt: skip


def _alt(words: dict[str, str]) -> str:
    return "|".join(sorted(words, key=len, reverse=True))


_ZH_RE = re.compile(
    rf"(?P<n>{ZH_NUM}|半)\s*(?P<ge>个|個)?\s*(?P<half1>半)?\s*(?P<u>{_alt(_ZH_UNITS)})(?P<half2>半)?"
)
_EN_RE = re.compile(
    rf"(?P<n>{EN_NUM}|half\s+an?)\s+(?P<u>{_alt(_EN_UNITS)})s?\b"
    rf"(?P<half>\s+and\s+a\s+half)?",
)


def duration_info(amount: float, unit: str) -> dict[str, Any] | None:
    """Duckling's duration value; fractions move to the next smaller unit (1.5 小时 = 90 分钟)."""
    while amount != int(amount) and unit != "second":
        unit, factor = LOWER[unit]
        amount *= factor
    value = round(amount)
    if value <= 0 or value > 1_000_000:
        return None
    return {
        "type": "value",
        "value": value,
        "unit": unit,
        unit: value,
        "normalized": {"unit": "second", "value": value * SECONDS[unit]},
    }


def zh_durations(text: str, ctx: Context) -> Iterator[Match]:
    for m in _ZH_RE.finditer(text):
        unit = _ZH_UNITS[m["u"]]
        if unit == "month" and not (m["ge"] or m["n"] == "半"):
            continue  # "三月" is March
        amount = 0.5 if m["n"] == "半" else parse_zh_number(m["n"])
        if amount is None or (unit == "year" and amount >= 1000):
            continue  # "2025年" is a year
        if m["half1"] or m["half2"]:
            amount += 0.5
        info = duration_info(amount, unit)
        if info is not None:
            yield Match(DURATION, m.start(), m.end(), info)


def en_durations(text: str, ctx: Context) -> Iterator[Match]:
    for m in _EN_RE.finditer(ascii_lower(text)):
        n = m["n"].lower()
        amount = 0.5 if n.startswith("half") else parse_en_number(n)
        if amount is None:
            continue
        if m["half"]:
            amount += 0.5
        info = duration_info(amount, _EN_UNITS[m["u"].lower()])
        if info is not None:
            yield Match(DURATION, m.start(), m.end(), info)


def durations(text: str, ctx: Context) -> Iterator[Match]:
    return en_durations(text, ctx) if ctx.language == "en" else zh_durations(text, ctx)
