"""The `amount-of-money` dimension: 五十块, 三十八块五, ¥88, 12.5块钱, $20, 15 euros."""

from __future__ import annotations

import re
from collections.abc import Iterator

from bot.nlu.duckling.base import MONEY, Context, Match, ascii_lower, value_info
from bot.nlu.duckling.numerals import (
    ARABIC_B,
    CN_DIGIT_VALUES,
    EN_NUM,
    ZH_NUM,
    parse_arabic,
    parse_en_number,
    parse_zh_number,
)

# Currency words and symbols -> Duckling's unit names.
_ZH_UNITS = {
    "块钱": "CNY", "块": "CNY", "塊": "CNY", "元钱": "CNY", "元": "CNY", "圆": "CNY",
    "人民币": "CNY", "RMB": "CNY", "rmb": "CNY", "美元": "USD", "美金": "USD", "刀": "USD",
    "欧元": "EUR", "英镑": "GBP", "日元": "JPY", "港币": "HKD", "港元": "HKD", "韩元": "KRW",
}  # fmt: skip
_SYMBOLS = {"¥": "CNY", "￥": "CNY", "$": "$", "€": "EUR", "£": "£"}
_EN_WORDS = {
    "dollar": "$", "dollars": "$", "buck": "$", "bucks": "$", "euro": "EUR", "euros": "EUR",
    "pound": "£", "pounds": "£", "yuan": "CNY", "rmb": "CNY", "renminbi": "CNY",
    "yen": "JPY", "usd": "USD", "eur": "EUR", "gbp": "GBP", "cny": "CNY", "jpy": "JPY",
    "cad": "CAD", "aud": "AUD", "hkd": "HKD", "inr": "INR", "cent": "cent", "cents": "cent",
}  # fmt: skip
_EN_SYMBOLS = {**_SYMBOLS, "¥": "JPY", "￥": "JPY"}
_EN_SCALES = {"k": 1000, "thousand": 1000, "m": 1_000_000, "million": 1_000_000}
_EN_SCALES |= {"bn": 1_000_000_000, "billion": 1_000_000_000}


def _alt(words: dict[str, str] | dict[str, int]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_CN_DIGIT = "[一二两三四五六七八九]"
_TOGETHER = set("儿兒去走来吃玩住做干聊逛")
_COUNTERS = "个只件条张本台斤位份次瓶杯盒包袋双套"  # "一百块钱两个": 两 counts things
_ZH_MONEY_RE = re.compile(
    # ¥88, ￥ 12.5, $20, 人民币100
    rf"(?P<sym>[{''.join(_SYMBOLS)}]|人民币|美元|美金|欧元|港币)\s*(?P<n1>{ZH_NUM})"
    # 五十块, 12.5块钱, 三十八块五, 五块五毛, 三块二毛五, 100元人民币
    rf"|(?P<n2>{ZH_NUM})\s*(?P<unit>{_alt(_ZH_UNITS)})"
    rf"(?:(?<![钱币金刀镑])(?P<jiao>{_CN_DIGIT}|\d(?=[毛角]))(?![{_COUNTERS}])"
    rf"(?:[毛角](?:(?P<fen>{_CN_DIGIT}|\d)分?)?)?)?(?:钱)?"
    # 两毛, 五毛钱
    rf"|(?P<n3>{_CN_DIGIT})毛(?:(?P<fen3>{_CN_DIGIT})分?)?钱?"
)
_EN_MONEY_RE = re.compile(
    rf"(?P<sym>[{''.join(_EN_SYMBOLS)}])\s*(?P<n1>{ARABIC_B})(?:\s*(?P<scale>{_alt(_EN_SCALES)})\b)?"
    rf"|\b(?P<code>usd|eur|gbp|cny|rmb|jpy|cad|aud|hkd|inr)\s*(?P<n2>{ARABIC_B})"
    rf"|(?P<n3>{EN_NUM})\s*(?P<word>{_alt(_EN_WORDS)})\b",
)


def _digit(c: str | None) -> int:
    if not c:
        return 0
    return int(c) if c.isdigit() else CN_DIGIT_VALUES[c]


def _means_together(m: re.Match[str]) -> bool:
    """ "一块儿" / "一块去" means "together", not one yuan."""
    after = m.string[m.end() : m.end() + 1]
    return m["n2"] == "一" and m["unit"] in ("块", "塊") and bool(after) and after in _TOGETHER


def zh_money(text: str, ctx: Context) -> Iterator[Match]:
    for m in _ZH_MONEY_RE.finditer(text):
        if m["n3"]:
            value: float | None = _digit(m["n3"]) / 10 + _digit(m["fen3"]) / 100
            unit = "CNY"
        elif m["sym"]:
            value, unit = parse_zh_number(m["n1"]), _SYMBOLS.get(m["sym"]) or _ZH_UNITS[m["sym"]]
        elif _means_together(m):
            continue
        else:
            value, unit = parse_zh_number(m["n2"]), _ZH_UNITS[m["unit"]]
            if value is not None:
                value += _digit(m["jiao"]) / 10 + _digit(m["fen"]) / 100
        if value is not None:
            yield Match(MONEY, m.start(), m.end(), value_info(value, unit=unit))


def en_money(text: str, ctx: Context) -> Iterator[Match]:
    for m in _EN_MONEY_RE.finditer(ascii_lower(text)):
        if m["sym"]:
            value = parse_arabic(m["n1"])
            unit = _EN_SYMBOLS[m["sym"]]
            if value is not None and m["scale"]:
                value *= _EN_SCALES[m["scale"].lower()]
        elif m["code"]:
            value, unit = parse_arabic(m["n2"]), m["code"].upper().replace("RMB", "CNY")
        else:
            value, unit = parse_en_number(m["n3"]), _EN_WORDS[m["word"].lower()]
        if value is not None:
            yield Match(MONEY, m.start(), m.end(), value_info(value, unit=unit))


def money(text: str, ctx: Context) -> Iterator[Match]:
    return en_money(text, ctx) if ctx.language == "en" else zh_money(text, ctx)
