"""Chinese time parts: 今天, 下周三, 3月5号, 2025年12月, 上午十点, 晚上8点半, 月底, 三天后."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, timedelta

from bot.nlu.duckling.numerals import SMALL_NUM, ZH_NUM, parse_small, parse_zh_number
from bot.nlu.duckling.timecore import (
    Clock,
    DateSpec,
    PartOfDay,
    TimePart,
    add_months,
    at_midnight,
    interval_json,
    last_day,
    next_month_day,
    now_json,
    relative,
    safe_date,
    week_start,
)

_CN4 = "[〇零一二三四五六七八九]{4}"
_REL_YEAR = {"今年": 0, "本年": 0, "明年": 1, "去年": -1, "前年": -2, "后年": 2}
_REL_MONTH = {
    "本月": 0, "这个月": 0, "这月": 0, "当月": 0, "下个月": 1, "下月": 1, "下下个月": 2,
    "上个月": -1, "上月": -1, "上上个月": -2,
}  # fmt: skip
_REL_DAY = {
    "大前天": -3, "前天": -2, "昨天": -1, "昨日": -1, "昨儿": -1, "今天": 0, "今日": 0,
    "今儿": 0, "明天": 1, "明日": 1, "明儿": 1, "后天": 2, "大后天": 3,
}  # fmt: skip
_PODS = {
    "凌晨": PartOfDay(0, 6, "late"),
    "半夜": PartOfDay(0, 4, "late"),
    "午夜": PartOfDay(0, 4, "late"),
    "深夜": PartOfDay(22, 24, "night"),
    "清晨": PartOfDay(4, 9, "am"),
    "早上": PartOfDay(4, 12, "am"),
    "早晨": PartOfDay(4, 12, "am"),
    "上午": PartOfDay(4, 12, "am"),
    "中午": PartOfDay(12, 14, "noon"),
    "下午": PartOfDay(12, 19, "pm"),
    "傍晚": PartOfDay(17, 20, "pm"),
    "晚上": PartOfDay(18, 24, "night"),
    "晚间": PartOfDay(18, 24, "night"),
    "夜里": PartOfDay(18, 24, "night"),
    "夜间": PartOfDay(18, 24, "night"),
}
_DAY_POD = {"今早": (0, "早上"), "明早": (1, "早上"), "今晚": (0, "晚上"), "明晚": (1, "晚上")}
_DAY_POD |= {"昨晚": (-1, "晚上"), "今夜": (0, "晚上"), "明夜": (1, "晚上"), "昨夜": (-1, "晚上")}
_WEEK_PREFIX = {None: 0, "这": 0, "这个": 0, "本": 0, "下": 1, "下个": 1, "下下": 2}
_WEEK_PREFIX |= {"下下个": 2, "上": -1, "上个": -1, "上上": -2, "上上个": -2}
_WEEKDAYS = {c: i for i, c in enumerate("一二三四五六日")} | {"天": 6}
_WEEKDAYS |= {str(i + 1): i for i in range(7)}
_PREFIX = "这个|这|本|下下个|下下|下个|下|上上个|上上|上个|上"
_WEEK_WORD = "周|星期|礼拜|禮拜"
_REL_UNITS = {"秒": "second", "秒钟": "second", "分钟": "minute", "小时": "hour"}
_REL_UNITS |= {"钟头": "hour", "天": "day", "日": "day", "周": "week", "星期": "week"}
_REL_UNITS |= {"礼拜": "week", "月": "month", "年": "year"}
_HALF_SECONDS = {"minute": ("second", 30), "hour": ("minute", 30), "day": ("hour", 12)}


def _alt(words: Iterable[str]) -> str:
    return "|".join(sorted(words, key=len, reverse=True))


Builder = Callable[[re.Match[str], datetime], TimePart | None]
_RULES: list[tuple[re.Pattern[str], Builder]] = []


def _rule(pattern: str) -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        _RULES.append((re.compile(pattern), fn))
        return fn

    return register


def _part(m: re.Match[str], **kw: object) -> TimePart:
    return TimePart(m.start(), m.end(), **kw)  # type: ignore[arg-type]


@_rule(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?![\d.])")
def _iso(m: re.Match[str], now: datetime) -> TimePart | None:
    day = safe_date(int(m[1]), int(m[2]), int(m[3]))
    return _part(m, date=DateSpec(day)) if day else None


@_rule(
    rf"(?:(?:(?<!\d)(?P<year>\d{{4}}|{_CN4})年|(?P<ryear>{_alt(_REL_YEAR)}))\s*)?"
    rf"(?:(?P<month>{SMALL_NUM})\s*月份?|(?P<rmonth>{_alt(_REL_MONTH)}))"
    rf"(?:\s*(?P<day>{SMALL_NUM})\s*[日号號]|(?P<point>底|末|初))?"
)
def _year_month_day(m: re.Match[str], now: datetime) -> TimePart | None:
    today = now.date()
    year = _year(m["year"], m["ryear"], today)
    if m["rmonth"]:
        first = add_months(today.replace(day=1), _REL_MONTH[m["rmonth"]])
        if year is not None and m["ryear"] is None:
            return None
        year, month = first.year, first.month
    else:
        month = parse_small(m["month"]) or 0
    day = parse_small(m["day"]) if m["day"] else None
    if year is None:
        found = next_month_day(today, month, day)
        if found is None:
            return None
        year = found.year
    return _month_part(m, year, month, day, m["point"])


def _month_part(
    m: re.Match[str], year: int, month: int, day: int | None, point: str | None
) -> TimePart | None:
    if not 1 <= month <= 12:
        return None
    if point:
        day = 1 if point == "初" else last_day(year, month).day
    if day is None:
        return _part(m, date=DateSpec(date(year, month, 1), "month"))
    found = safe_date(year, month, day)
    return _part(m, date=DateSpec(found)) if found else None


def _year(text: str | None, rel: str | None, today: date) -> int | None:
    if rel:
        return today.year + _REL_YEAR[rel]
    if text:
        value = parse_zh_number(text)
        return int(value) if value and 1000 <= value <= 9999 else None
    return None


@_rule(rf"(?:(?<!\d)(?P<year>\d{{4}}|{_CN4})年|(?P<ryear>{_alt(_REL_YEAR)}))(?P<point>底|末|初)?")
def _year_only(m: re.Match[str], now: datetime) -> TimePart | None:
    year = _year(m["year"], m["ryear"], now.date())
    if year is None:
        return None
    if m["point"]:
        return _part(
            m, date=DateSpec(date(year, 12, 31) if m["point"] != "初" else date(year, 1, 1))
        )
    return _part(m, date=DateSpec(date(year, 1, 1), "year"))


@_rule(r"(?<![年月本这个上下])(?P<scope>月|年)(?P<point>底|末|初)")
def _bare_point(m: re.Match[str], now: datetime) -> TimePart | None:
    today = now.date()
    if m["scope"] == "年":
        return _part(
            m,
            date=DateSpec(
                date(today.year, 1, 1) if m["point"] == "初" else date(today.year, 12, 31)
            ),
        )
    return _month_part(m, today.year, today.month, None, m["point"])


@_rule(_alt(_REL_DAY))
def _rel_day(m: re.Match[str], now: datetime) -> TimePart | None:
    return _part(m, date=DateSpec(now.date() + timedelta(days=_REL_DAY[m[0]])))


@_rule(_alt(_DAY_POD))
def _rel_day_pod(m: re.Match[str], now: datetime) -> TimePart | None:
    offset, pod = _DAY_POD[m[0]]
    return _part(m, date=DateSpec(now.date() + timedelta(days=offset)), pod=_PODS[pod])


@_rule(rf"(?P<pre>{_PREFIX})?(?:{_WEEK_WORD})(?P<wd>[一二三四五六日天1-7])")
def _weekday(m: re.Match[str], now: datetime) -> TimePart | None:
    today = now.date()
    weekday = _WEEKDAYS[m["wd"]]
    if m["pre"] is None:
        day = today + timedelta(days=(weekday - today.weekday()) % 7)
    else:
        day = week_start(today) + timedelta(weeks=_WEEK_PREFIX[m["pre"]], days=weekday)
    return _part(m, date=DateSpec(day))


@_rule(rf"(?P<pre>{_PREFIX})?周末")
def _weekend(m: re.Match[str], now: datetime) -> TimePart | None:
    offset = _WEEK_PREFIX.get(m["pre"], 0)
    friday = at_midnight(week_start(now.date()) + timedelta(weeks=offset, days=4), now)
    start, end = friday + timedelta(hours=18), friday + timedelta(days=3)
    if m["pre"] is None and end <= now:
        start, end = start + timedelta(weeks=1), end + timedelta(weeks=1)
    return _part(m, info=interval_json(start, end, "hour"))


@_rule(rf"(?P<pre>{_PREFIX})(?:周|星期|礼拜|禮拜)")
def _rel_week(m: re.Match[str], now: datetime) -> TimePart | None:
    monday = week_start(now.date()) + timedelta(weeks=_WEEK_PREFIX[m["pre"]])
    return _part(m, date=DateSpec(monday, "week"))


_NOT_A_DATE_AFTER = "楼线線门門床机房位座桌车柜馆院厅口店包间室台窗球队站线路码"


@_rule(
    r"(?<![月\d零〇一二两三四五六七八九十])"
    rf"(?:(?P<d1>{SMALL_NUM})\s*[号號]|(?<!\d)(?P<d2>\d{{1,2}})日)"
    rf"(?![{_NOT_A_DATE_AFTER}])"
)
def _day_only(m: re.Match[str], now: datetime) -> TimePart | None:
    day = parse_small(m["d1"] or m["d2"])
    found = next_month_day(now.date(), None, day) if day else None
    return _part(m, date=DateSpec(found)) if found else None


@_rule(_alt(_PODS))
def _pod(m: re.Match[str], now: datetime) -> TimePart | None:
    return _part(m, pod=_PODS[m[0]], weak=True)  # "下午好" is a greeting, not a time


@_rule(
    rf"(?P<h>{SMALL_NUM})\s*(?P<mark>点|點|时|時)(?:钟|鐘)?"
    rf"(?:(?P<half>半)|(?P<q>一刻|三刻)|(?P<m>{SMALL_NUM})\s*(?P<fen>分)?|(?P<zheng>整))?"
)
def _clock(m: re.Match[str], now: datetime) -> TimePart | None:
    hour = parse_small(m["h"])
    minute = 30 if m["half"] else 15 * (1 + 2 * (m["q"] == "三刻")) if m["q"] else 0
    if m["m"]:
        minute = parse_small(m["m"]) or 0
    if hour is None or hour > 24 or minute > 59:
        return None
    explicit = m["fen"] or m["half"] or m["q"] or m["zheng"] or "钟" in m[0] or "鐘" in m[0]
    weak = (m["mark"] in "时時" and not m["fen"]) or (
        not explicit and (m["h"] == "一" or (m["m"] is not None and len(m["m"]) == 1))
    )
    grain = "minute" if minute or m["half"] or m["q"] or m["m"] else "hour"
    return _part(m, clock=Clock(hour, minute, grain), weak=weak)


@_rule(r"(?<![\d:：])(?P<h>[01]?\d|2[0-4])[:：](?P<m>[0-5]\d)(?:[:：](?P<s>[0-5]\d))?(?![\d:：])")
def _hhmm(m: re.Match[str], now: datetime) -> TimePart | None:
    second = int(m["s"]) if m["s"] else None
    return _part(m, clock=Clock(int(m["h"]), int(m["m"]), "minute", second=second))


@_rule(
    rf"(?P<n>{ZH_NUM}|半)\s*(?P<ge>个)?\s*(?P<u>{_alt(_REL_UNITS)})(?P<half>半)?\s*"
    r"(?P<dir>之后|以后|后|之前|以前|前)"
)
def _relative(m: re.Match[str], now: datetime) -> TimePart | None:
    unit = _REL_UNITS[m["u"]]
    if unit == "month" and not m["ge"]:
        return None
    amount = 0.5 if m["n"] == "半" else parse_zh_number(m["n"])
    if amount is None or amount > 10_000:
        return None
    if m["half"]:
        amount += 0.5
    if amount != int(amount):
        if unit not in _HALF_SECONDS:
            return None
        unit, amount = _HALF_SECONDS[unit][0], amount * (60 if unit != "day" else 24)
    sign = -1 if "前" in m["dir"] else 1
    info = relative(now, sign * int(amount), unit)
    return _part(m, info=info) if info else None


@_rule("现在|此刻")
def _now(m: re.Match[str], now: datetime) -> TimePart | None:
    return _part(m, info=now_json(now))


def zh_time_parts(text: str, now: datetime) -> Iterator[TimePart]:
    for pattern, build in _RULES:
        for m in pattern.finditer(text):
            part = build(m, now)
            if part is not None:
                yield part
