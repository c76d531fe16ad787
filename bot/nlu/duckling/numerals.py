"""Numerals: regex fragments and parsers for Chinese, Arabic and English number words."""

from __future__ import annotations

import re

CN_DIGIT_VALUES: dict[str, int] = {
    **dict.fromkeys("零〇", 0),
    **dict.fromkeys("一壹", 1),
    **dict.fromkeys("二两兩贰貳", 2),
    **dict.fromkeys("三叁參", 3),
    **dict.fromkeys("四肆", 4),
    **dict.fromkeys("五伍", 5),
    **dict.fromkeys("六陆陸", 6),
    **dict.fromkeys("七柒", 7),
    **dict.fromkeys("八捌", 8),
    **dict.fromkeys("九玖", 9),
}
CN_SMALL_UNITS: dict[str, int] = {
    **dict.fromkeys("十拾", 10),
    **dict.fromkeys("百佰", 100),
    **dict.fromkeys("千仟", 1000),
}
CN_BIG_UNITS: dict[str, int] = {
    **dict.fromkeys("万萬", 10_000),
    **dict.fromkeys("亿億", 100_000_000),
}
CN_DIGITS = "".join(CN_DIGIT_VALUES)
CN_UNITS = "".join(CN_SMALL_UNITS) + "".join(CN_BIG_UNITS)

MAX_DIGITS = 15  # longer digit runs are identifiers, not quantities

# Arabic numbers: "1,200.5", "3.5", "88"; never starting or ending inside a digit run.
ARABIC = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
ARABIC_B = rf"(?<![\d.,]){ARABIC}(?![\d])"
# Chinese numbers: "一百二十三", "两千五", "三点五"; or Arabic with a Chinese multiplier "1.5万".
# Bounded repetition keeps scans linear inside long runs of numeral characters.
# A Chinese numeral never starts inside another one (this also keeps scans linear).
CN_NUM = rf"(?<![{CN_DIGITS}{CN_UNITS}])[{CN_DIGITS}{CN_UNITS}]{{1,24}}(?:点[{CN_DIGITS}]{{1,12}})?"
MIXED_NUM = rf"{ARABIC_B}(?:[{CN_UNITS}]{{1,2}})?"
ZH_NUM = rf"(?:{MIXED_NUM}|{CN_NUM})"
# Small numbers for dates and clock times.
SMALL_NUM = rf"(?:(?<!\d)\d{{1,2}}(?!\d)|(?<![{CN_DIGITS}{CN_UNITS}])[{CN_DIGITS}十]{{1,3}})"


def parse_arabic(s: str) -> float | None:
    digits = s.replace(",", "")
    if len(digits.split(".")[0]) > MAX_DIGITS or len(digits) > 2 * MAX_DIGITS:
        return None
    try:
        return float(digits) if "." in digits else int(digits)
    except ValueError:
        return None


def _cn_digit_string(s: str) -> int | None:
    """A run of digit characters read one by one: "二零二五" -> 2025, "五" -> 5."""
    if len(s) > MAX_DIGITS:
        return None
    return int("".join(str(CN_DIGIT_VALUES[c]) for c in s))


def parse_cn_int(s: str) -> int | None:
    """Parse a Chinese integer, including colloquial elision ("两千五" = 2500)."""
    if not s or len(s) > 2 * MAX_DIGITS:
        return None
    if all(c in CN_DIGIT_VALUES for c in s):
        return _cn_digit_string(s)
    total, section, digit = 0, 0, -1
    unit_before = 0  # the unit right before the current char, 0 if it was a digit
    elide = 0  # the unit right before the pending digit ("两千五": 1000)
    for c in s:
        if c in CN_DIGIT_VALUES:
            if digit > 0 and CN_DIGIT_VALUES[c] != 0:
                return None  # "二三十" is a range, not a number
            digit, elide, unit_before = CN_DIGIT_VALUES[c], unit_before, 0
        elif c in CN_SMALL_UNITS:
            unit = CN_SMALL_UNITS[c]
            section += (1 if digit < 0 and (unit == 10 or not section) else max(digit, 0)) * unit
            digit, unit_before = -1, unit
        else:
            unit = CN_BIG_UNITS[c]
            section += max(digit, 0) if section or digit >= 0 or total else 1
            total = (total + section) * unit if unit > 10_000 else total + section * unit
            section, digit, unit_before = 0, -1, unit
    if digit > 0:
        section += digit * (elide // 10 if elide else 1)
    return total + section


def parse_cn(s: str) -> float | None:
    """Parse a Chinese number, possibly with a decimal part ("三点五")."""
    int_part, _, frac = s.partition("点")
    whole = parse_cn_int(int_part)
    if whole is None:
        return None
    if not frac:
        return whole
    if not all(c in CN_DIGIT_VALUES for c in frac) or len(frac) > MAX_DIGITS:
        return None
    return float(f"{whole}.{''.join(str(CN_DIGIT_VALUES[c]) for c in frac)}")


def parse_zh_number(s: str) -> float | None:
    """Parse anything `ZH_NUM` matches: "123", "1,200", "1.5万", "一百二十三", "三点五"."""
    s = s.strip()
    if not s:
        return None
    head = s.rstrip(CN_UNITS)
    if head and head[0].isdigit():
        base = parse_arabic(head)
        if base is None:
            return None
        for c in s[len(head) :]:
            base *= CN_SMALL_UNITS.get(c) or CN_BIG_UNITS[c]
        return base
    return parse_cn(s)


def parse_small(s: str) -> int | None:
    """Parse a date / clock number ("12", "十二", "二十三")."""
    if s.isdigit():
        return int(s)
    value = parse_cn_int(s)
    return value if value is not None and value < 100 else None


# ---------------------------------------------------------------- English number words

EN_UNITS: dict[str, int] = {
    w: i
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
        ]
    )
}
EN_TENS: dict[str, int] = {
    w: (i + 2) * 10
    for i, w in enumerate(
        ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
    )
}
EN_SCALES: dict[str, int] = {
    "hundred": 100,
    "thousand": 1000,
    "million": 1_000_000,
    "billion": 1_000_000_000,
}
EN_ORDINALS: dict[str, int] = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
    "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12,
    "thirteenth": 13, "fourteenth": 14, "fifteenth": 15, "sixteenth": 16,
    "seventeenth": 17, "eighteenth": 18, "nineteenth": 19, "twentieth": 20,
    "thirtieth": 30, "fortieth": 40, "fiftieth": 50, "sixtieth": 60,
    "seventieth": 70, "eightieth": 80, "ninetieth": 90, "hundredth": 100,
}  # fmt: skip

_EN_WORD = "|".join(sorted([*EN_UNITS, *EN_TENS, *EN_SCALES], key=len, reverse=True))
# A run of number words: "twenty-one", "one hundred and five", "two thousand".
EN_WORDS = rf"\b(?:{_EN_WORD})(?:(?:[\s-]+|\s+and\s+)(?:{_EN_WORD})){{0,10}}\b"
EN_WORDS_RE = re.compile(EN_WORDS)
_EN_TOKEN_RE = re.compile(r"[a-zA-Z]+")


def _en_combinable(prev: str | None, word: str) -> bool:
    """Whether `word` continues the number ended by `prev` ("twenty" + "one": yes)."""
    if prev is None:
        return True
    if word in EN_SCALES:
        return prev not in EN_SCALES or EN_SCALES[word] > EN_SCALES[prev]
    if prev in EN_TENS:
        return word in EN_UNITS and 0 < EN_UNITS[word] < 10
    return prev in EN_SCALES


def split_en_words(text: str, start: int, end: int) -> list[tuple[int, int, int]]:
    """Split a run of number words into numbers: returns (start, end, value) triples."""
    out: list[tuple[int, int, int]] = []
    total = current = 0
    seg_start = seg_end = -1
    prev: str | None = None
    for m in _EN_TOKEN_RE.finditer(text, start, end):
        word = m.group().lower()
        if word == "and":
            continue
        if not _en_combinable(prev, word):
            out.append((seg_start, seg_end, total + current))
            total = current = 0
            prev = None
        if prev is None:
            seg_start = m.start()
        if word in EN_SCALES:
            scale = EN_SCALES[word]
            if scale == 100:
                current = max(current, 1) * 100
            else:
                total, current = total + max(current, 1) * scale, 0
        else:
            current += EN_UNITS.get(word, EN_TENS.get(word, 0))
        prev, seg_end = word, m.end()
    if prev is not None:
        out.append((seg_start, seg_end, total + current))
    return out


def parse_en_words(s: str) -> int | None:
    """Parse one English number phrase ("twenty-one"); None if it is several numbers."""
    parts = split_en_words(s, 0, len(s))
    return parts[0][2] if len(parts) == 1 else None


EN_NUM = rf"(?:{ARABIC_B}|{EN_WORDS}|\ban?\b)"


def parse_en_number(s: str) -> float | None:
    """Parse anything `EN_NUM` matches ("3.5", "1,200", "twenty-one", "a")."""
    s = s.strip()
    if s.lower() in {"a", "an"}:
        return 1
    if s[:1].isdigit():
        return parse_arabic(s)
    return parse_en_words(s)
