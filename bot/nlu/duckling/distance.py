"""The `distance` dimension: 五公里, 300米, 3 km, 10 miles."""

from __future__ import annotations

import re
from collections.abc import Iterator

from bot.nlu.duckling.base import DISTANCE, Context, Match, ascii_lower, value_info
from bot.nlu.duckling.numerals import EN_NUM, ZH_NUM, parse_en_number, parse_zh_number

_ZH_UNITS = {
    "公里": "kilometre", "千米": "kilometre", "米": "metre", "厘米": "centimetre",
    "公分": "centimetre", "毫米": "millimetre", "英里": "mile", "英尺": "foot", "英寸": "inch",
}  # fmt: skip
_EN_UNITS = {
    "km": "kilometre", "kilometer": "kilometre", "kilometre": "kilometre", "m": "metre",
    "meter": "metre", "metre": "metre", "cm": "centimetre", "centimeter": "centimetre",
    "centimetre": "centimetre", "mm": "millimetre", "mile": "mile", "ft": "foot",
    "foot": "foot", "feet": "foot", "inch": "inch", "inches": "inch", "yard": "yard",
}  # fmt: skip


def _alt(words: dict[str, str]) -> str:
    return "|".join(sorted(words, key=len, reverse=True))


_ZH_RE = re.compile(rf"(?P<n>{ZH_NUM})\s*(?P<u>{_alt(_ZH_UNITS)})")
_EN_RE = re.compile(rf"(?P<n>{EN_NUM})\s*(?P<u>{_alt(_EN_UNITS)})(?:e?s)?\b")


def distances(text: str, ctx: Context) -> Iterator[Match]:
    zh = ctx.language != "en"
    units = _ZH_UNITS if zh else _EN_UNITS
    for m in _ZH_RE.finditer(text) if zh else _EN_RE.finditer(ascii_lower(text)):
        value = parse_zh_number(m["n"]) if zh else parse_en_number(m["n"])
        if value is not None and m["n"].lower() not in {"a", "an"}:
            unit = units[m["u"] if zh else m["u"].lower()]
            yield Match(DISTANCE, m.start(), m.end(), value_info(value, unit=unit))
