"""Text normalisation with exact source spans (Chinese first, English supported).

Every step maps a `(text, spans)` pair to a new one, so each character of the result knows
which part of the customer's original text produced it. `normalize` never raises.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache

import cn2an
import opencc

from bot.nlu.component import Component, NLUMessage, Normalized, TrainContext
from bot.nlu.types import NLUData

Span = tuple[int, int]
Step = Callable[[str, list[Span]], tuple[str, list[Span]]]

_DIGITS = "零〇一二三四五六七八九幺两"
_DIGIT_VALUE = {"零": "0", "〇": "0", "幺": "1", "两": "2"} | {
    c: str(i) for i, c in enumerate("零一二三四五六七八九") if i
}
_UNITS = "十百千万亿"
_NUMERAL = _DIGITS + _UNITS + "点"
_NUM_RUN = re.compile(f"[{_DIGITS}{_UNITS}](?:[{_DIGITS}{_UNITS}]|点(?=[{_DIGITS}]))*")

# Words whose numerals are not numbers. A word starting (ending) with a numeral is only
# protected when the character before (after) it is not part of a numeral run, so that
# 十一点 -> 11点, 一点五 -> 1.5 and 一万一 -> 11000 still convert.
_PROTECTED_WORDS = [
    "一下",
    "一点",
    "一些",
    "一样",
    "一起",
    "一直",
    "一定",
    "一般",
    "一切",
    "一共",
    "一边",
    "一旦",
    "一向",
    "一律",
    "一致",
    "一再",
    "一会",
    "一阵",
    "一番",
    "一面",
    "一味",
    "一流",
    "一概",
    "一贯",
    "一同",
    "一时",
    "一路",
    "一旁",
    "一心一意",
    "一模一样",
    "一五一十",
    "统一",
    "唯一",
    "同一",
    "万一",
    "之一",
    "一一",
    "专一",
    "十分",
    "万分",
    "千万",
    "万万",
    "百分之",
    "乱七八糟",
    "七上八下",
    "四面八方",
    "五颜六色",
    "三心二意",
    "一言为定",
    "不三不四",
    "一方面",
    "另一方面",
    "九九",
    "三明治",
]
_PROTECTED = re.compile(
    "|".join(sorted(map(re.escape, _PROTECTED_WORDS), key=len, reverse=True))
    + "|(?:星期|礼拜|周)[一二三四五六日天]|初[一二三四五六七八九十]"
    + "|(.)一\\1"  # 看一看, 试一试
)

_LEADING_FILLERS = re.compile(
    r"^(?:(?:嗯+|啊+|呃+|额+|唔+|那个|就是说|然后呢)[\s,，.。、!！?？~～]*)+"
)
_INNER_FILLERS = re.compile(r"呃+|嗯+(?=[\s,，。、])|就是说")
_REPEATED_PUNCT = re.compile(r"([!?.,;:~，。！？、；：～…·\-])\1+")
_DROP_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn"}
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_SPACE_RUN = re.compile(r"\s+")


def _fold_char(ch: str) -> str:
    """Full-width ASCII and the ideographic space to half-width; drop invisible characters."""
    code = ord(ch)
    if 0xFF01 <= code <= 0xFF5E:
        return chr(code - 0xFEE0)
    if code == 0x3000 or ch in "\t\n\r\v\f" or (ch.isspace() and code > 0x7F):
        return " "
    if unicodedata.category(ch) in _DROP_CATEGORIES:
        return ""
    return ch


def _map_chars(text: str, spans: list[Span], fn: Callable[[str], str]) -> tuple[str, list[Span]]:
    """Apply a per-character map that returns zero or one character."""
    out: list[str] = []
    out_spans: list[Span] = []
    for ch, span in zip(text, spans, strict=True):
        new = fn(ch)
        if len(new) == 1:
            out.append(new)
            out_spans.append(span)
        elif len(new) > 1:  # keep spans exact: only 1:1 maps are applied
            out.append(ch)
            out_spans.append(span)
    return "".join(out), out_spans


def _replace(
    text: str,
    spans: list[Span],
    pattern: re.Pattern[str],
    repl: Callable[[re.Match[str]], str | None],
    source: str | None = None,
) -> tuple[str, list[Span]]:
    """Replace regex matches; every new character gets the span of the whole match.

    `repl` returning None keeps the match unchanged (with its own spans). `source`, when
    given, is a same-length stand-in for `text` that the pattern is matched against.
    """
    out: list[str] = []
    out_spans: list[Span] = []
    pos = 0
    for m in pattern.finditer(text if source is None else source):
        new = repl(m)
        if new is None:
            continue
        out.append(text[pos : m.start()])
        out_spans.extend(spans[pos : m.start()])
        if new:
            whole = (spans[m.start()][0], spans[m.end() - 1][1])
            out.append(new)
            out_spans.extend([whole] * len(new))
        pos = m.end()
    out.append(text[pos:])
    out_spans.extend(spans[pos:])
    return "".join(out), out_spans


def _fold(text: str, spans: list[Span]) -> tuple[str, list[Span]]:
    return _map_chars(text, spans, _fold_char)


def _lower(text: str, spans: list[Span]) -> tuple[str, list[Span]]:
    return _map_chars(text, spans, lambda c: c.lower() if "A" <= c <= "Z" or c.isupper() else c)


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def _simplify(text: str, spans: list[Span]) -> tuple[str, list[Span]]:
    if not _CJK.search(text):
        return text, spans
    converted = _t2s().convert(text)
    if len(converted) == len(text):
        return converted, spans
    return _map_chars(text, spans, _t2s().convert)  # phrase rule changed length: go char-wise


def _number_text(run: str) -> str | None:
    """Arabic digits for a Chinese numeral run, or None to leave it alone."""
    if run in "百千万亿":
        return None
    if not any(u in run for u in _UNITS):  # digit by digit: phone numbers, years, 3.5
        if run.count("点") > 1:
            return None
        return "".join(_DIGIT_VALUE.get(c, ".") for c in run)
    try:
        value = cn2an.cn2an(run.replace("幺", "一"), "smart")
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _protected_mask(text: str) -> list[bool]:
    mask = [False] * len(text)
    for m in _PROTECTED.finditer(text):
        s, e = m.start(), m.end()
        if s > 0 and text[s] in _NUMERAL and text[s - 1] in _NUMERAL:
            continue
        if e < len(text) and text[e - 1] in _NUMERAL and text[e] in _NUMERAL:
            continue
        mask[s:e] = [True] * (e - s)
    return mask


def _numerals(text: str, spans: list[Span]) -> tuple[str, list[Span]]:
    if not any(c in _NUMERAL for c in text):
        return text, spans
    mask = _protected_mask(text)
    # Protected characters are masked out so numeral runs stop at them.
    masked = "".join("\0" if p else c for c, p in zip(text, mask, strict=True))
    return _replace(text, spans, _NUM_RUN, lambda m: _number_text(m.group()), source=masked)


def _has_content(text: str) -> bool:
    return any(c.isalnum() for c in text)


def _fillers(text: str, spans: list[Span]) -> tuple[str, list[Span]]:
    new_text, new_spans = _replace(text, spans, _LEADING_FILLERS, lambda m: "")
    new_text, new_spans = _replace(new_text, new_spans, _INNER_FILLERS, lambda m: "")
    if not _has_content(new_text):  # "嗯" on its own means yes: keep it
        return text, spans
    return new_text, new_spans


def _punctuation(text: str, spans: list[Span]) -> tuple[str, list[Span]]:
    out: list[str] = []
    out_spans: list[Span] = []
    pos = 0
    for m in _REPEATED_PUNCT.finditer(text):
        out.append(text[pos : m.start() + 1])
        out_spans.extend(spans[pos : m.start()])
        out_spans.append((spans[m.start()][0], spans[m.end() - 1][1]))
        pos = m.end()
    out.append(text[pos:])
    out_spans.extend(spans[pos:])
    return "".join(out), out_spans


def _whitespace(text: str, spans: list[Span]) -> tuple[str, list[Span]]:
    """Collapse whitespace runs; drop them at the ends and between two Chinese characters."""

    def repl(m: re.Match[str]) -> str:
        s, e = m.start(), m.end()
        if s == 0 or e == len(text):
            return ""
        if _CJK.match(text[s - 1]) and _CJK.match(text[e]):
            return ""
        return " "

    return _replace(text, spans, _SPACE_RUN, repl)


_STEPS: dict[str, tuple[Step, ...]] = {
    "zh": (_fold, _simplify, _lower, _numerals, _fillers, _punctuation, _whitespace),
    "en": (_fold, _lower, _punctuation, _whitespace),
}


def _strip_invalid(text: str) -> Normalized:
    return Normalized.identity(text.encode("utf-8", "ignore").decode("utf-8"))


def normalize(text: str, language: str = "zh") -> Normalized:
    """Normalise `text`; `spans[i]` is the original span of normalised character `i`.
    One turn normalises the same text several times (NLU, synonyms, knowledge base): short
    texts are cached, so the result is shared and must not be changed."""
    if not isinstance(text, str):
        return Normalized("", [])
    if len(text) <= CACHED_CHARS:
        return _cached(text, language)
    return _normalize(text, language)


CACHED_CHARS = 256


@lru_cache(maxsize=4096)
def _cached(text: str, language: str) -> Normalized:
    return _normalize(text, language)


def _normalize(text: str, language: str) -> Normalized:
    steps = _STEPS["zh" if language.lower().startswith("zh") else "en"]
    cur, spans = text, [(i, i + 1) for i in range(len(text))]
    try:
        for step in steps:
            cur, spans = step(cur, spans)
    except Exception:  # never fail on customer input; fall back to the raw (valid) text
        return _strip_invalid(text)
    return Normalized(cur, spans)


class ZhikeNormalizer(Component):
    """Sets `message.norm`: width, script, case, numerals, fillers, whitespace."""

    name = "ZhikeNormalizer"

    def train(self, data: NLUData, ctx: TrainContext) -> None:
        self.language = ctx.language or self.language
        ctx.artifacts["normalizer"] = self

    def process(self, message: NLUMessage) -> None:
        message.norm = normalize(message.text, self.language)
