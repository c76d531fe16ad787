"""`extract`: run the requested dimension extractors and resolve overlaps."""

from __future__ import annotations

import logging
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from bot.nlu.duckling.base import (
    ALL_DIMENSIONS,
    DISTANCE,
    DURATION,
    EMAIL,
    MONEY,
    NUMBER,
    ORDINAL,
    PHONE,
    PRIORITY,
    TIME,
    Context,
    Extractor,
    Match,
)
from bot.nlu.duckling.contact import emails, phones
from bot.nlu.duckling.distance import distances
from bot.nlu.duckling.duration import durations
from bot.nlu.duckling.money import money
from bot.nlu.duckling.numbers import numbers, ordinals
from bot.nlu.duckling.resolve import longest_first
from bot.nlu.duckling.time import times
from bot.nlu.types import Entity

logger = logging.getLogger(__name__)

DEFAULT_TIMEZONE = "Asia/Shanghai"

EXTRACTORS: dict[str, Extractor] = {
    NUMBER: numbers,
    ORDINAL: ordinals,
    TIME: times,
    MONEY: money,
    PHONE: phones,
    EMAIL: emails,
    DURATION: durations,
    DISTANCE: distances,
}


def resolve_timezone(name: str | None) -> tzinfo:
    try:
        return ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ValueError, KeyError, OSError):  # ZoneInfoNotFoundError is a KeyError
        logger.warning("unknown timezone %r, using %s", name, DEFAULT_TIMEZONE)
        return ZoneInfo(DEFAULT_TIMEZONE)


def language_of(locale: str | None) -> str:
    """ "en_US" / "en" -> "en"; anything else (zh_CN, zh, None) -> "zh"."""
    return "en" if (locale or "").lower().startswith("en") else "zh"


def _reference_time(now: datetime | None, tz: tzinfo) -> datetime:
    if now is None:
        return datetime.now(tz)
    return now.replace(tzinfo=tz) if now.tzinfo is None else now.astimezone(tz)


def _run(dim: str, text: str, ctx: Context) -> list[Match]:
    try:
        return list(EXTRACTORS[dim](text, ctx))
    except Exception:  # an extractor bug must never break parsing
        logger.exception("duckling extractor %s failed", dim)
        return []


def extract(
    text: str,
    dimensions: set[str] | None = None,
    language: str = "zh",
    now: datetime | None = None,
    timezone: str = DEFAULT_TIMEZONE,
) -> list[Entity]:
    """Structured entities in `text` (offsets into it), sorted by position.

    Overlaps are resolved among the requested dimensions: the longest span wins.
    """
    if not isinstance(text, str) or not text:
        return []
    dims = ALL_DIMENSIONS if dimensions is None else ALL_DIMENSIONS & set(dimensions)
    ctx = Context(_reference_time(now, resolve_timezone(timezone)), language_of(language))
    found = [m for dim in sorted(dims) for m in _run(dim, text, ctx)]
    kept = longest_first(found, lambda m: PRIORITY.get(m.dim, 99))
    return [m.to_entity() for m in kept]
