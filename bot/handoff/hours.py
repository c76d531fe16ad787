"""Working hours of the human agents: outside them a handoff becomes a ticket (留言工单).

Written as `"09:00-21:00"` for every day, or per weekday (`mon`…`sun`), in a fixed UTC offset
(China has no daylight saving; default +8). Holidays are dates (`2026-10-01`) with no service.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*[-–~]\s*(\d{1,2}):(\d{2})\s*$")
Span = tuple[int, int]  # minutes since midnight [start, end)


def parse_span(text: str) -> Span:
    match = _SPAN.match(text)
    if not match:
        raise ValueError(f"working hours must look like 09:00-21:00, got {text!r}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if not (0 <= start < end <= 24 * 60 and m1 < 60 and m2 < 60):
        raise ValueError(f"invalid working hours {text!r}")
    return start, end


@dataclass(frozen=True, slots=True)
class WorkingHours:
    days: Mapping[str, Span | None] = field(default_factory=lambda: dict.fromkeys(DAYS, (0, 1440)))
    utc_offset_hours: float = 8.0
    holidays: frozenset[date] = frozenset()

    @classmethod
    def parse(
        cls,
        spec: str | Mapping[str, str | None] | None,
        utc_offset_hours: float = 8.0,
        holidays: Iterable[str] = (),
    ) -> WorkingHours:
        """`"09:00-21:00"`, or `{"mon": "09:00-18:00", …, "sun": null}` (missing days closed)."""
        if spec is None:
            days: dict[str, Span | None] = dict.fromkeys(DAYS, (0, 1440))
        elif isinstance(spec, str):
            days = dict.fromkeys(DAYS, parse_span(spec))
        elif isinstance(spec, Mapping):
            unknown = set(spec) - set(DAYS)
            if unknown:
                raise ValueError(f"unknown weekday(s) {sorted(unknown)}; use {', '.join(DAYS)}")
            days = {d: parse_span(str(spec[d])) if spec.get(d) else None for d in DAYS}
        else:
            raise ValueError(f"working hours must be a text or a weekday mapping, got {spec!r}")
        return cls(days, utc_offset_hours, frozenset(date.fromisoformat(h) for h in holidays))

    def local(self, now: float) -> datetime:
        return datetime.fromtimestamp(now, timezone(timedelta(hours=self.utc_offset_hours)))

    def is_open(self, now: float) -> bool:
        moment = self.local(now)
        if moment.date() in self.holidays:
            return False
        span = self.days.get(DAYS[moment.weekday()])
        minute = moment.hour * 60 + moment.minute
        return span is not None and span[0] <= minute < span[1]

    def describe(self) -> str:
        """In Chinese for customers, e.g. "每天 09:00–21:00" or "周一至周五 09:00–18:00"."""
        spans = {s for s in self.days.values() if s is not None}
        if not spans:
            return "暂不提供人工服务"
        open_days = [d for d in DAYS if self.days.get(d)]
        if len(spans) == 1:
            span = next(iter(spans))
            return f"{_day_range(open_days)} {_fmt(span)}"
        return "；".join(f"{_CN[d]} {_fmt(s)}" for d in DAYS if (s := self.days.get(d)))


_CN = dict(zip(DAYS, ("周一", "周二", "周三", "周四", "周五", "周六", "周日"), strict=True))


def _day_range(days: list[str]) -> str:
    if len(days) == 7:
        return "每天"
    indexes = [DAYS.index(d) for d in days]
    if len(days) == 1:
        return _CN[days[0]]
    if indexes == list(range(indexes[0], indexes[-1] + 1)):
        return f"{_CN[days[0]]}至{_CN[days[-1]]}"
    return "、".join(_CN[d] for d in days)


def _fmt(span: Span) -> str:
    def hhmm(m: int) -> str:
        return f"{m // 60:02d}:{m % 60:02d}"

    return f"{hhmm(span[0])}–{hhmm(span[1])}"
