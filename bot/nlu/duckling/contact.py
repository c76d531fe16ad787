"""The `phone-number` and `email` dimensions (language independent, plus spoken Chinese digits)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from bot.nlu.duckling.base import EMAIL, PHONE, Context, Match

_SEP = r"[\s\-.]?"
_CC = r"(?:(?:\+|00)(?P<cc>\d{1,3})[\s\-]*|\(\+(?P<cc2>\d{1,3})\)\s*)"
_PHONE_PATTERNS = [
    # Mainland mobile: 13800138000, 138-0013-8000, 138 0013 8000, +86 138...
    rf"1[3-9]\d{_SEP}\d{{4}}{_SEP}\d{{4}}",
    # 400 / 800 service numbers: 400-123-4567, 4001234567, 800 820 8820
    rf"[48]00{_SEP}\d{{3}}{_SEP}\d{{4}}",
    # Landlines with area code: 010-12345678, (021) 1234 5678, 0755-1234567
    rf"(?:\(0\d{{2,3}}\)|0\d{{2,3}}){_SEP}\s?\d{{3,4}}{_SEP}\d{{4}}",
]
_NOT_BEFORE = r"(?<![0-9A-Za-z+])"
_NOT_AFTER = r"(?![0-9A-Za-z])"
_PHONE_RE = re.compile(
    rf"{_NOT_BEFORE}(?:{_CC})?(?:{'|'.join(_PHONE_PATTERNS)}){_NOT_AFTER}"
    # International with country code: +1 650-701-8887, +44 20 7946 0958
    rf"|{_NOT_BEFORE}(?:\+(?P<cc3>\d{{1,3}})|\(\+(?P<cc4>\d{{1,3}})\))[\s\-]*"
    rf"\d(?:[\s\-.]?\d){{5,13}}{_NOT_AFTER}",
    re.ASCII,
)

# Spoken Chinese digits ("幺三八零零幺三八零零零"): mobile numbers only.
_SPOKEN = "零〇幺一二两三四五六七八九"
_SPOKEN_VALUES = {c: str(i) for i, c in enumerate("零幺二三四五六七八九")} | {
    "〇": "0",
    "一": "1",
    "两": "2",
}
_SPOKEN_RE = re.compile(rf"(?<![{_SPOKEN}\d])[幺一1](?:\s?[{_SPOKEN}\d]){{10}}(?![{_SPOKEN}\d])")


def _phone_value(m: re.Match[str]) -> str:
    for group in ("cc", "cc2", "cc3", "cc4"):
        if m.group(group):
            rest = re.sub(r"\D", "", m.string[m.end(group) : m.end()])
            return f"(+{m.group(group)}) {rest}"
    return re.sub(r"\D", "", m.group())


def phones(text: str, ctx: Context) -> Iterator[Match]:
    for m in _PHONE_RE.finditer(text):
        yield Match(PHONE, m.start(), m.end(), {"value": _phone_value(m)})
    for m in _SPOKEN_RE.finditer(text):
        digits = "".join(_SPOKEN_VALUES.get(c, c) for c in m.group() if not c.isspace())
        if re.fullmatch(r"1[3-9]\d{9}", digits):
            yield Match(PHONE, m.start(), m.end(), {"value": digits})


_EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}@"
    r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}\.)+[A-Za-z]{2,24}(?![A-Za-z0-9\-])"
)


def emails(text: str, ctx: Context) -> Iterator[Match]:
    for m in _EMAIL_RE.finditer(text):
        yield Match(EMAIL, m.start(), m.end(), {"value": m.group()})
