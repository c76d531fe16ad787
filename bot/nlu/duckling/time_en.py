"""English time parts: today, tomorrow, next monday, march 5th, at 3pm, in 3 days."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from bot.nlu.duckling.base import ascii_lower
from bot.nlu.duckling.numerals import EN_NUM, parse_en_number, parse_en_words
from bot.nlu.duckling.timecore import (
    Clock,
    DateSpec,
    PartOfDay,
    TimePart,
    add_months,
    next_month_day,
    now_json,
    relative,
    safe_date,
    week_start,
)

_REL_DAY = {
    "today": 0, "tomorrow": 1, "tmrw": 1, "yesterday": -1,
    "the day after tomorrow": 2, "day after tomorrow": 2,
    "the day before yesterday": -2, "day before yesterday": -2,
}  # fmt: skip
_WEEKDAYS = {
    d: i
    for i, d in enumerate(
        ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    )
}
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ]
    )
}
_MONTHS_SHORT = {m[:3]: i for m, i in _MONTHS.items()} | {"sept": 9}
_PODS = {
    "morning": PartOfDay(4, 12, "am"),
    "afternoon": PartOfDay(12, 19, "pm"),
    "evening": PartOfDay(18, 24, "night"),
    "night": PartOfDay(18, 24, "night"),
}
_UNITS = "second|minute|hour|day|week|month|year"
_HOUR_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve"  # for "three o'clock"
)


def _alt(words: dict[str, int]) -> str:
    return "|".join(sorted(words, key=len, reverse=True))


Builder = Callable[[re.Match[str], datetime], TimePart | None]
_RULES: list[tuple[re.Pattern[str], Builder]] = []


def _rule(pattern: str) -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        _RULES.append((re.compile(rf"\b(?:{pattern})\b"), fn))
        return fn

    return register


def _part(m: re.Match[str], **kw: object) -> TimePart:
    return TimePart(m.start(), m.end(), **kw)  # type: ignore[arg-type]


@_rule(_alt(_REL_DAY))
def _rel_day(m: re.Match[str], now: datetime) -> TimePart | None:
    return _part(m, date=DateSpec(now.date() + timedelta(days=_REL_DAY[m[0].lower()])))


@_rule("tonight")
def _tonight(m: re.Match[str], now: datetime) -> TimePart | None:
    return _part(m, date=DateSpec(now.date()), pod=_PODS["evening"])


@_rule(r"(?:right\s+)?now")
def _now(m: re.Match[str], now: datetime) -> TimePart | None:
    return _part(m, info=now_json(now))


@_rule(rf"(?:(?P<pre>next|last|this|coming)\s+)?(?P<wd>{_alt(_WEEKDAYS)})")
def _weekday(m: re.Match[str], now: datetime) -> TimePart | None:
    today, weekday = now.date(), _WEEKDAYS[m["wd"].lower()]
    pre = (m["pre"] or "").lower()
    if pre == "next":
        day = week_start(today) + timedelta(weeks=1, days=weekday)
    elif pre == "last":
        day = today - timedelta(days=(today.weekday() - weekday - 1) % 7 + 1)
    else:
        day = today + timedelta(days=(weekday - today.weekday()) % 7)
    return _part(m, date=DateSpec(day))


@_rule(r"(?P<pre>next|last|this|coming)\s+(?P<unit>week|month|year)")
def _rel_period(m: re.Match[str], now: datetime) -> TimePart | None:
    today, unit = now.date(), m["unit"].lower()
    offset = {"next": 1, "last": -1}.get(m["pre"].lower(), 0)
    if unit == "week":
        return _part(m, date=DateSpec(week_start(today) + timedelta(weeks=offset), "week"))
    if unit == "month":
        return _part(m, date=DateSpec(add_months(today.replace(day=1), offset), "month"))
    return _part(m, date=DateSpec(today.replace(year=today.year + offset, month=1, day=1), "year"))


_MONTH_ANY = f"{_alt(_MONTHS)}|(?:{_alt(_MONTHS_SHORT)})\\.?"
_ORD = r"(?:st|nd|rd|th)?"


@_rule(
    rf"(?P<m1>{_MONTH_ANY})\s+(?:the\s+)?(?P<d1>\d{{1,2}}){_ORD}(?!\d)"
    rf"|(?:the\s+)?(?P<d2>\d{{1,2}}){_ORD}\s+(?:of\s+)?(?P<m2>{_MONTH_ANY})"
)
def _month_day(m: re.Match[str], now: datetime) -> TimePart | None:
    month = _month(m["m1"] or m["m2"])
    day = int(m["d1"] or m["d2"])
    rest = m.string[m.end() : m.end() + 7]
    year_m = re.match(r",?\s*(\d{4})\b", rest)
    if year_m:
        found = safe_date(int(year_m[1]), month, day)
        return TimePart(m.start(), m.end() + year_m.end(), date=DateSpec(found)) if found else None
    found = next_month_day(now.date(), month, day)
    return _part(m, date=DateSpec(found)) if found else None


def _month(word: str) -> int:
    word = word.lower().rstrip(".")
    return _MONTHS.get(word) or _MONTHS_SHORT[word]


@_rule(rf"(?P<m>{_alt({k: v for k, v in _MONTHS.items() if k != 'may'})})(?:\s+(?P<y>\d{{4}}))?")
def _month_only(m: re.Match[str], now: datetime) -> TimePart | None:
    month = _MONTHS[m["m"].lower()]
    year = int(m["y"]) if m["y"] else None
    found = safe_date(year, month, 1) if year else next_month_day(now.date(), month, None)
    return _part(m, date=DateSpec(found, "month")) if found else None


@_rule(
    r"(?<![\d/.-])(?:(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"
    r"|(?P<um>\d{1,2})/(?P<ud>\d{1,2})(?:/(?P<uy>\d{4}))?)(?![\d/.-])"
)
def _numeric_date(m: re.Match[str], now: datetime) -> TimePart | None:
    if m["y"]:
        found = safe_date(int(m["y"]), int(m["m"]), int(m["d"]))
    elif m["uy"]:
        found = safe_date(int(m["uy"]), int(m["um"]), int(m["ud"]))
    else:
        found = next_month_day(now.date(), int(m["um"]), int(m["ud"]))
    return _part(m, date=DateSpec(found)) if found else None


@_rule(
    r"(?:at\s+)?(?P<h>\d{1,2})(?::(?P<m>[0-5]\d))?\s*(?P<ap>[ap])\.?m"
    r"|(?:at\s+)?(?<![\d:])(?P<h2>[01]?\d|2[0-4]):(?P<m2>[0-5]\d)(?![\d:])"
    rf"|(?:at\s+)?(?P<h3>\d{{1,2}}|{_HOUR_WORDS})\s*o'?\s?clock"
    r"|at\s+(?P<h4>\d{1,2})(?![\d:.,])"
)
def _clock(m: re.Match[str], now: datetime) -> TimePart | None:
    hour_text = m["h"] or m["h2"] or m["h3"] or m["h4"]
    hour = int(hour_text) if hour_text.isdigit() else parse_en_words(hour_text.lower())
    minute = int(m["m"] or m["m2"] or 0)
    meridiem = (m["ap"].lower() + "m") if m["ap"] else None
    if hour is None or hour > 24 or (meridiem and not 1 <= hour <= 12):
        return None
    grain = "minute" if (m["m"] or m["m2"]) else "hour"
    return _part(m, clock=Clock(hour, minute, grain, meridiem))


@_rule(r"(?:at\s+)?(?P<w>noon|midday|midnight)")
def _noon(m: re.Match[str], now: datetime) -> TimePart | None:
    hour = 0 if m["w"].lower() == "midnight" else 12
    return _part(m, clock=Clock(hour, 0, "hour", "am" if hour == 0 else "pm"))


@_rule(rf"(?:(?P<this>this)\s+)?(?P<pod>{_alt({k: 0 for k in _PODS})})")
def _pod(m: re.Match[str], now: datetime) -> TimePart | None:
    pod = _PODS[m["pod"].lower()]
    if m["this"]:
        return _part(m, date=DateSpec(now.date()), pod=pod)
    return _part(m, pod=pod, weak=True)  # "good morning" is a greeting


@_rule(
    rf"in\s+(?P<n>{EN_NUM}|half\s+an?)\s+(?P<u>{_UNITS})s?"
    rf"|(?P<n2>{EN_NUM})\s+(?P<u2>{_UNITS})s?\s+(?P<dir>ago|from\s+now|later)"
)
def _relative(m: re.Match[str], now: datetime) -> TimePart | None:
    unit = (m["u"] or m["u2"]).lower()
    n_text = (m["n"] or m["n2"]).lower()
    if n_text.startswith("half"):
        half = {"minute": ("second", 30), "hour": ("minute", 30), "day": ("hour", 12)}
        if unit not in half:
            return None
        unit, amount = half[unit]
    else:
        value = parse_en_number(n_text)
        if value is None or value != int(value) or value > 10_000:
            return None
        amount = int(value)
    sign = -1 if (m["dir"] or "").lower() == "ago" else 1
    info = relative(now, sign * amount, unit)
    return _part(m, info=info) if info else None


def en_time_parts(text: str, now: datetime) -> Iterator[TimePart]:
    lowered = ascii_lower(text)
    for pattern, build in _RULES:
        for m in pattern.finditer(lowered):
            part = build(m, now)
            if part is not None:
                yield part
