"""Working hours: the forms, open/closed around the boundaries in Beijing time, holidays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.handoff.hours import WorkingHours, parse_span

BEIJING = timezone(timedelta(hours=8))


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> float:
    """A Unix time in March 2026, Beijing time; 2026-03-02 is a Monday."""
    return datetime(2026, 3, day, hour, minute, second, tzinfo=BEIJING).timestamp()


MON, FRI, SAT, SUN = 2, 6, 7, 8


def test_fixed_timestamps() -> None:
    assert at(MON, 9) == 1_772_413_200.0  # 2026-03-02 01:00 UTC
    assert datetime.fromtimestamp(at(SUN, 0), BEIJING).strftime("%a") == "Sun"


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("09:00-21:00", (540, 1260)),
        ("9:30 - 18:00", (570, 1080)),
        ("08:00–22:00", (480, 1320)),
        ("08:00~22:00", (480, 1320)),
        ("00:00-24:00", (0, 1440)),
    ],
)
def test_parse_span(text: str, span: tuple[int, int]) -> None:
    assert parse_span(text) == span


@pytest.mark.parametrize(
    "text", ["9-18", "09:00", "21:00-09:00", "09:00-09:00", "09:60-10:00", "25:00-26:00", ""]
)
def test_bad_spans(text: str) -> None:
    with pytest.raises(ValueError, match="working hours"):
        parse_span(text)


def test_every_day_boundaries_in_utc_plus_8() -> None:
    hours = WorkingHours.parse("09:00-21:00")
    assert not hours.is_open(at(MON, 8, 59, 59))
    assert hours.is_open(at(MON, 9))
    assert hours.is_open(at(SUN, 20, 59, 59))
    assert not hours.is_open(at(SUN, 21))
    # 09:00 in Beijing is 01:00 UTC: an implementation in UTC would say closed here
    assert hours.is_open(datetime(2026, 3, 2, 1, 30, tzinfo=UTC).timestamp())


def test_other_offset() -> None:
    hours = WorkingHours.parse("09:00-10:00", utc_offset_hours=0)
    assert hours.is_open(datetime(2026, 3, 2, 9, 30, tzinfo=UTC).timestamp())
    assert not hours.is_open(at(MON, 9, 30))


def test_default_is_always_open() -> None:
    hours = WorkingHours.parse(None)
    assert hours.is_open(at(SUN, 3)) and hours.is_open(at(MON, 23, 59, 59))
    assert WorkingHours().is_open(at(SAT, 0))
    assert hours.describe() == "每天 00:00–24:00"


def test_per_weekday_missing_days_closed() -> None:
    hours = WorkingHours.parse({"mon": "09:00-18:00", "sat": "10:00-16:00", "sun": None})
    assert hours.is_open(at(MON, 17, 59)) and not hours.is_open(at(MON, 18))
    assert not hours.is_open(at(3, 12))  # Tuesday: not listed
    assert hours.is_open(at(SAT, 10)) and not hours.is_open(at(SAT, 9, 59))
    assert not hours.is_open(at(SUN, 12))


def test_holidays() -> None:
    hours = WorkingHours.parse("00:00-24:00", holidays=["2026-03-06"])
    assert not hours.is_open(at(FRI, 0)) and not hours.is_open(at(FRI, 12))
    assert hours.is_open(at(FRI - 1, 23, 59)) and hours.is_open(at(SAT, 0))
    # the holiday is the Beijing date: 2026-03-05 20:00 UTC is already the 6th in Beijing
    assert not hours.is_open(datetime(2026, 3, 5, 20, 0, tzinfo=UTC).timestamp())


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        ("09:00-21:00", "每天 09:00–21:00"),
        (
            {d: "09:00-18:00" for d in ("mon", "tue", "wed", "thu", "fri")},
            "周一至周五 09:00–18:00",
        ),
        ({"mon": "09:00-18:00", "wed": "09:00-18:00"}, "周一、周三 09:00–18:00"),
        ({"sat": "10:00-16:00"}, "周六 10:00–16:00"),
        (
            {"mon": "09:00-18:00", "sat": "10:00-16:00"},
            "周一 09:00–18:00；周六 10:00–16:00",
        ),
        ({"mon": None}, "暂不提供人工服务"),
    ],
)
def test_describe(spec: str | dict[str, str | None], text: str) -> None:
    assert WorkingHours.parse(spec).describe() == text


@pytest.mark.parametrize(
    ("spec", "holidays", "message"),
    [
        ({"monday": "09:00-18:00"}, (), "unknown weekday"),
        ({"mon": "9点到6点"}, (), "working hours"),
        ("always", (), "working hours"),
        (["09:00-18:00"], (), "working hours"),
        ("09:00-18:00", ["10/01/2026"], "isoformat"),
    ],
)
def test_bad_specs(spec: object, holidays: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorkingHours.parse(spec, holidays=holidays)  # type: ignore[arg-type]
