"""Language-independent time machinery: parts of a time expression, merging, Duckling JSON.

Each language finds atomic `TimePart`s (a date, a part of day, a clock time, or a complete
expression such as "三天后"); `merge_parts` joins adjacent ones ("明天" + "下午" + "三点")
and `render` turns them into Duckling's time value.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from bot.nlu.duckling.base import TIME, Match

GRAIN_ORDER = ["second", "minute", "hour", "day", "week", "month", "quarter", "year"]


@dataclass(slots=True, frozen=True)
class DateSpec:
    """A calendar period: starts at `day`, `grain` long (day/week/month/year), or an interval."""

    day: date
    grain: str = "day"
    until: date | None = None  # exclusive end for intervals ("周末")


@dataclass(slots=True, frozen=True)
class PartOfDay:
    """A part of day: hours [start, end) and how it shifts a 12-hour clock ("pm", "am")."""

    start: int
    end: int
    shift: str  # "am", "pm", "noon", "night", "late"


@dataclass(slots=True, frozen=True)
class Clock:
    hour: int
    minute: int = 0
    grain: str = "hour"
    meridiem: str | None = None  # "am" / "pm" when said explicitly
    second: int | None = None


@dataclass(slots=True)
class TimePart:
    start: int
    end: int
    date: DateSpec | None = None
    pod: PartOfDay | None = None
    clock: Clock | None = None
    info: dict[str, Any] | None = None  # complete on its own ("now", "三天后")
    weak: bool = False  # only a time next to a date or part of day ("一点", "三点五")
    extras: list[TimePart] = field(default_factory=list)


def fmt(dt: datetime) -> str:
    return dt.isoformat(timespec="milliseconds")


def value_json(dt: datetime, grain: str) -> dict[str, Any]:
    single = {"value": fmt(dt), "grain": grain, "type": "value"}
    return {**single, "values": [dict(single)]}


def interval_json(start: datetime, end: datetime, grain: str) -> dict[str, Any]:
    single = {
        "to": {"value": fmt(end), "grain": grain},
        "from": {"value": fmt(start), "grain": grain},
        "type": "interval",
    }
    return {**single, "values": [{**single}]}


def at_midnight(d: date, like: datetime) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=like.tzinfo)


def add_months(d: date, months: int) -> date:
    index = d.year * 12 + d.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(d.day, last))


def last_day(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def week_start(d: date) -> date:
    return d - timedelta(days=d.weekday())


def safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except (ValueError, OverflowError):
        return None


def next_month_day(today: date, month: int | None, day: int | None) -> date | None:
    """The next date (today included) with this month and/or day of month."""
    if month is not None and not 1 <= month <= 12:
        return None
    if day is not None and not 1 <= day <= 31:
        return None
    if month is None and day is not None:
        for offset in range(13):
            first = add_months(today.replace(day=1), offset)
            candidate = safe_date(first.year, first.month, day)
            if candidate and candidate >= today:
                return candidate
        return None
    if month is not None:
        for year in range(today.year, today.year + 9):
            candidate = safe_date(year, month, day or 1)
            end = candidate if day else (candidate and last_day(year, month))
            if candidate and end and end >= today:
                return candidate
    return None


# ---------------------------------------------------------------- clocks on a day


def _hour_on(clock: Clock, pod: PartOfDay | None) -> int:
    hour = clock.hour
    shift = pod.shift if pod else clock.meridiem
    if shift == "night" and (hour == 12 or hour <= 4):
        hour += 24 if hour != 12 else 12  # "晚上12点" is midnight, "晚上1点" the small hours
    elif shift in ("pm", "noon", "night") and hour < 12:
        if shift != "noon" or hour <= 5:
            hour += 12
    elif shift in ("am", "late") and hour == 12:
        hour = 0
    return hour


def clock_on(day: date, clock: Clock, pod: PartOfDay | None, like: datetime) -> datetime:
    base = at_midnight(day, like)
    seconds = clock.second or 0
    return base + timedelta(hours=_hour_on(clock, pod), minutes=clock.minute, seconds=seconds)


def next_clock(now: datetime, clock: Clock, pod: PartOfDay | None) -> datetime:
    """The next occurrence of a clock time; a bare "3点" may be 03:00 or 15:00."""
    ambiguous = pod is None and clock.meridiem is None and 1 <= clock.hour <= 12
    step = timedelta(hours=12 if ambiguous else 24)
    grain = timedelta(hours=1) if clock.grain == "hour" else timedelta(minutes=1)
    candidate = clock_on(now.date(), clock, pod, now)
    if ambiguous and clock.hour == 12:
        candidate -= timedelta(hours=12)
    for _ in range(4):
        if candidate + grain > now:
            return candidate
        candidate += step
    return candidate


# ---------------------------------------------------------------- merging and rendering

_GLUE_RE = re.compile(r"\s*(?:,|的|at|on|in the|of)?\s*", re.IGNORECASE)


def _compatible(a: TimePart, b: TimePart) -> bool:
    if a.info is not None or b.info is not None:
        return False
    kinds = [p for p in (a, b, *a.extras, *b.extras)]
    dates = sum(p.date is not None for p in kinds)
    pods = sum(p.pod is not None for p in kinds)
    clocks = sum(p.clock is not None for p in kinds)
    if dates > 1 or pods > 1 or clocks > 1:
        return False
    day_grain = all(p.date is None or (p.date.grain == "day" and not p.date.until) for p in kinds)
    return day_grain or clocks + pods == 0


def merge_parts(text: str, parts: list[TimePart]) -> list[TimePart]:
    """Join adjacent compatible parts (sorted, non-overlapping) into one expression."""
    out: list[TimePart] = []
    for part in parts:
        prev = out[-1] if out else None
        if (
            prev is not None
            and _GLUE_RE.fullmatch(text, prev.end, part.start)
            and _compatible(prev, part)
        ):
            prev.extras.append(part)
            prev.end = part.end
            continue
        out.append(
            TimePart(part.start, part.end, part.date, part.pod, part.clock, part.info, part.weak)
        )
    return [p for p in out if not (p.weak and not p.extras)]


def _pick(part: TimePart, attr: str) -> Any:
    for p in (part, *part.extras):
        value = getattr(p, attr)
        if value is not None:
            return value
    return None


def _render_date(spec: DateSpec, now: datetime) -> dict[str, Any]:
    start = at_midnight(spec.day, now)
    if spec.until is not None:
        return interval_json(start, at_midnight(spec.until, now), "day")
    return value_json(start, spec.grain)


def _render_pod(day: date | None, pod: PartOfDay, now: datetime) -> dict[str, Any]:
    base = at_midnight(day or now.date(), now)
    start, end = base + timedelta(hours=pod.start), base + timedelta(hours=pod.end)
    if day is None and end <= now:
        start, end = start + timedelta(days=1), end + timedelta(days=1)
    return interval_json(start, end, "hour")


def render(part: TimePart, now: datetime) -> Match | None:
    if part.info is not None and not part.extras:
        return Match(TIME, part.start, part.end, part.info)
    spec: DateSpec | None = _pick(part, "date")
    pod: PartOfDay | None = _pick(part, "pod")
    clock: Clock | None = _pick(part, "clock")
    if clock is not None:
        if spec is not None:
            dt = clock_on(spec.day, clock, pod, now)
        else:
            dt = next_clock(now, clock, pod)
        grain = "second" if clock.second is not None else clock.grain
        return Match(TIME, part.start, part.end, value_json(dt, grain))
    if pod is not None:
        day = spec.day if spec is not None else None
        return Match(TIME, part.start, part.end, _render_pod(day, pod, now))
    if spec is not None:
        return Match(TIME, part.start, part.end, _render_date(spec, now))
    return None


def relative(now: datetime, amount: int, unit: str) -> dict[str, Any] | None:
    """ "三天后" / "in 3 days" (amount < 0 for "ago"): Duckling's shifted time value."""
    try:
        if unit in ("second", "minute", "hour"):
            seconds = {"second": 1, "minute": 60, "hour": 3600}[unit] * amount
            return value_json(now.replace(microsecond=0) + timedelta(seconds=seconds), "second")
        today = now.date()
        if unit == "day":
            return value_json(at_midnight(today + timedelta(days=amount), now), "day")
        if unit == "week":
            return value_json(at_midnight(today + timedelta(weeks=amount), now), "day")
        months = amount * (12 if unit == "year" else 3 if unit == "quarter" else 1)
        return value_json(at_midnight(add_months(today, months), now), "day")
    except (OverflowError, ValueError):
        return None


def now_json(now: datetime) -> dict[str, Any]:
    return value_json(now.replace(microsecond=0), "second")
