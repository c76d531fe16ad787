"""Shared types of the built-in Duckling replacement: a match, the parse context, helpers."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.nlu.types import Entity

EXTRACTOR_NAME = "DucklingEntityExtractor"

NUMBER = "number"
ORDINAL = "ordinal"
TIME = "time"
MONEY = "amount-of-money"
PHONE = "phone-number"
EMAIL = "email"
DURATION = "duration"
DISTANCE = "distance"

ALL_DIMENSIONS: frozenset[str] = frozenset(
    {NUMBER, ORDINAL, TIME, MONEY, PHONE, EMAIL, DURATION, DISTANCE}
)

# On equal spans the earlier dimension wins.
PRIORITY: dict[str, int] = {
    d: i for i, d in enumerate([EMAIL, PHONE, MONEY, TIME, DURATION, DISTANCE, ORDINAL, NUMBER])
}


@dataclass(slots=True, frozen=True)
class Context:
    """What a parse needs besides the text: the reference time (tz-aware) and language."""

    now: datetime
    language: str = "zh"


@dataclass(slots=True)
class Match:
    """One Duckling-style result: `info` is Duckling's `value` object."""

    dim: str
    start: int
    end: int
    info: dict[str, Any]

    @property
    def length(self) -> int:
        return self.end - self.start

    def primary_value(self) -> Any:
        """The value Rasa puts in `entity.value` (intervals become {from, to})."""
        if self.info.get("type") == "interval":
            return {
                "to": (self.info.get("to") or {}).get("value"),
                "from": (self.info.get("from") or {}).get("value"),
            }
        return self.info.get("value")

    def to_entity(self) -> Entity:
        return Entity(
            entity=self.dim,
            value=self.primary_value(),
            start=self.start,
            end=self.end,
            confidence=1.0,
            extractor=EXTRACTOR_NAME,
            additional_info=self.info,
        )


Extractor = Callable[[str, Context], Iterable[Match]]


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """Lower-case ASCII letters only, so offsets stay valid (faster than re.IGNORECASE)."""
    return text.translate(_ASCII_LOWER)


def num(x: float) -> int | float:
    """Duckling serialises whole doubles as integers (`20`, not `20.0`)."""
    if isinstance(x, int) or not math.isfinite(x):
        return x
    rounded = round(x, 6)
    return int(rounded) if rounded == int(rounded) else rounded


def value_info(value: float, **extra: Any) -> dict[str, Any]:
    return {"value": num(value), "type": "value", **extra}
