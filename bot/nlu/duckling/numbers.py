"""The `number` and `ordinal` dimensions."""

from __future__ import annotations

import re
from collections.abc import Iterator

from bot.nlu.duckling.base import NUMBER, ORDINAL, Context, Match, ascii_lower, value_info
from bot.nlu.duckling.numerals import (
    ARABIC_B,
    CN_NUM,
    CN_UNITS,
    EN_ORDINALS,
    EN_TENS,
    EN_WORDS_RE,
    MIXED_NUM,
    ZH_NUM,
    parse_arabic,
    parse_zh_number,
    split_en_words,
)

_ZH_NUM_RE = re.compile(rf"百分之(?P<pct>{ZH_NUM})|{MIXED_NUM}|{CN_NUM}")
_ARABIC_RE = re.compile(ARABIC_B)

# "一" followed by these is a word, not the number one ("一下", "一点", "一起").
_AFTER_YI = set("下点些起样直定般切旦致会边向再律度番阵同味贯概道并旁共齐")
# "一" preceded by these is a word ("统一", "唯一", "万一", "之一").
_BEFORE_YI = set("统唯万之逐专同单划纯第")
# Whole spans that are words ("千万别", "十分感谢", "万万不可").
_NOT_NUMBERS = {"万一", "千万", "十分", "万万", "一一", "三三两两"}


def is_word_not_number(text: str, start: int, end: int) -> bool:
    """Whether the Chinese numeral text[start:end] is really part of a word."""
    span = text[start:end]
    if span in _NOT_NUMBERS or text[start : end + 1] in _NOT_NUMBERS:
        return True
    if len(span) == 1 and span in CN_UNITS and span not in "十拾":
        return True  # a lone "万" / "百" is a name or a word, not a number
    if span[-1] == "一" and end < len(text) and text[end] in _AFTER_YI:
        return True
    return span[0] == "一" and start > 0 and text[start - 1] in _BEFORE_YI


def _zh_numbers(text: str, ctx: Context) -> Iterator[Match]:
    for m in _ZH_NUM_RE.finditer(text):
        if m["pct"]:
            pct = parse_zh_number(m["pct"])
            if pct is not None:
                yield Match(NUMBER, m.start(), m.end(), value_info(pct / 100))
            continue
        if not m.group()[0].isdigit() and is_word_not_number(text, m.start(), m.end()):
            continue
        value = parse_zh_number(m.group())
        if value is not None:
            yield Match(NUMBER, m.start(), m.end(), value_info(value))


def _en_numbers(text: str, ctx: Context) -> Iterator[Match]:
    for m in _ARABIC_RE.finditer(text):
        value = parse_arabic(m.group())
        if value is not None:
            yield Match(NUMBER, m.start(), m.end(), value_info(value))
    for m in EN_WORDS_RE.finditer(ascii_lower(text)):
        for start, end, value in split_en_words(text, m.start(), m.end()):
            yield Match(NUMBER, start, end, value_info(value))


def numbers(text: str, ctx: Context) -> Iterator[Match]:
    return _en_numbers(text, ctx) if ctx.language == "en" else _zh_numbers(text, ctx)


# ---------------------------------------------------------------- ordinals

_ZH_ORDINAL_RE = re.compile(rf"第\s*({ZH_NUM})")
_EN_ORDINAL_WORD = "|".join(sorted(EN_ORDINALS, key=len, reverse=True))
_EN_TENS = "|".join(EN_TENS)
_EN_ORDINAL_RE = re.compile(
    rf"(?<![\d.,])(\d{{1,6}})(?:st|nd|rd|th)\b|\b(?:({_EN_TENS})[\s-])?({_EN_ORDINAL_WORD})\b",
)


def _zh_ordinals(text: str) -> Iterator[Match]:
    for m in _ZH_ORDINAL_RE.finditer(text):
        value = parse_zh_number(m.group(1))
        if value is not None and value == int(value):
            yield Match(ORDINAL, m.start(), m.end(), value_info(int(value)))


def _en_ordinals(text: str) -> Iterator[Match]:
    for m in _EN_ORDINAL_RE.finditer(ascii_lower(text)):
        if m.group(1):
            value = int(m.group(1))
        else:
            tens = EN_TENS.get((m.group(2) or "").lower(), 0)
            value = tens + EN_ORDINALS[m.group(3).lower()]
        yield Match(ORDINAL, m.start(), m.end(), value_info(value))


def ordinals(text: str, ctx: Context) -> Iterator[Match]:
    return _en_ordinals(text) if ctx.language == "en" else _zh_ordinals(text)
