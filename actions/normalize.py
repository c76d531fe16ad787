"""Normalisation of spoken / typed Chinese values: phone numbers, amounts, months, ID tails."""

from __future__ import annotations

import re
from datetime import date

# Digit-by-digit reading, as in phone numbers read aloud (幺三八…, 洞 for zero).
_SPOKEN_DIGITS = {
    "零": "0",
    "〇": "0",
    "洞": "0",
    "一": "1",
    "幺": "1",
    "壹": "1",
    "二": "2",
    "两": "2",
    "贰": "2",
    "三": "3",
    "叁": "3",
    "四": "4",
    "肆": "4",
    "五": "5",
    "伍": "5",
    "六": "6",
    "陆": "6",
    "七": "7",
    "柒": "7",
    "拐": "7",
    "八": "8",
    "捌": "8",
    "九": "9",
    "玖": "9",
    "勾": "9",
}
_FULLWIDTH = str.maketrans("０１２３４５６７８９ＸｘＸ", "0123456789XxX")
_MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_ID_TAIL = re.compile(r"(?<![0-9Xx])(\d{5}[0-9Xx]|\d{3}[0-9Xx])(?![0-9Xx])")
_ARABIC_AMOUNT = re.compile(r"(\d+(?:\.\d{1,2})?)\s*(千|k|K)?")
_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000, "万": 10000}
_CN_NUMBER = re.compile(r"[零〇一二两三四五六七八九十百千万壹贰叁肆伍陆柒捌玖拾佰仟]+")


def spoken_digits_to_arabic(text: str) -> str:
    """Turn digit-by-digit Chinese (幺三八…) into Arabic digits, dropping separators."""
    text = text.translate(_FULLWIDTH)
    converted = "".join(_SPOKEN_DIGITS.get(ch, ch) for ch in text)
    # Drop spaces and dashes between digits: "138 1234-5678" -> "13812345678".
    return re.sub(r"(?<=\d)[\s\-－—]+(?=\d)", "", converted)


def extract_mobile(text: str | None) -> str | None:
    """A mainland mobile number found in ``text`` (Arabic or spoken digits), if any."""
    if not text:
        return None
    match = _MOBILE.search(spoken_digits_to_arabic(str(text)))
    return match.group(0) if match else None


def extract_id_tail(text: str | None) -> str | None:
    """The last 4 or 6 characters of an ID card (digits, possibly ending in X), upper-cased."""
    if not text:
        return None
    normalised = spoken_digits_to_arabic(str(text)).replace("叉", "X").replace("艾克斯", "X")
    match = _ID_TAIL.search(normalised)
    return match.group(1).upper() if match else None


def _chinese_number(token: str) -> int | None:
    """Value of a Chinese numeral such as 五十, 两百, 一百五, 三千二百."""
    total, section, digit = 0, 0, None
    last_unit = 1
    for ch in token:
        if ch in _UNITS:
            unit = _UNITS[ch]
            value = 1 if digit is None else digit
            if unit == 10000:
                total += (section + value if digit is not None else section or 1) * unit
                section = 0
            else:
                section += value * unit
            digit, last_unit = None, unit
        else:
            mapped = _SPOKEN_DIGITS.get(ch)
            if mapped is None:
                return None
            digit = int(mapped)
    if digit is not None:
        # "一百五" means 150: a trailing digit scales to one unit below the last unit.
        section += digit * (last_unit // 10 if last_unit >= 100 else 1)
    result = total + section
    return result or None


def parse_amount(text: str | float | int | None) -> float | None:
    """An amount of money in 元 from ``50``, ``50.5元``, ``五十块``, ``两百``, ``一百五``."""
    if text is None:
        return None
    if isinstance(text, int | float):
        return float(text) if text > 0 else None
    raw = str(text).translate(_FULLWIDTH)
    match = _ARABIC_AMOUNT.search(raw)
    if match:
        value = float(match.group(1)) * (1000 if match.group(2) else 1)
        return value if value > 0 else None
    cn = _CN_NUMBER.search(raw)
    if cn:
        number = _chinese_number(cn.group(0))
        return float(number) if number else None
    return None


_RELATIVE_MONTHS = {
    "本月": 0,
    "这个月": 0,
    "这月": 0,
    "当月": 0,
    "上个月": 1,
    "上月": 1,
    "上上个月": 2,
    "上上月": 2,
    "前两个月": 2,
}
_MONTH_NUMBER = re.compile(r"(\d{1,2}|十[一二]?|[一二三四五六七八九])\s*月")


def _shift(today: date, months_back: int) -> str:
    index = today.year * 12 + today.month - 1 - months_back
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def parse_month(text: str | None, today: date | None = None) -> str | None:
    """``YYYY-MM`` for 本月 / 上个月 / 3月 / 三月份 (the latest such month not in the future)."""
    if not text:
        return None
    today = today or date.today()
    for phrase in sorted(_RELATIVE_MONTHS, key=len, reverse=True):
        if phrase in text:
            return _shift(today, _RELATIVE_MONTHS[phrase])
    match = _MONTH_NUMBER.search(text)
    if not match:
        return None
    token = match.group(1)
    number = int(token) if token.isdigit() else _chinese_number(token)
    if number is None or not 1 <= number <= 12:
        return None
    back = (today.month - number) % 12
    return _shift(today, back)


def month_label(month: str) -> str:
    """Human label for ``YYYY-MM``: 2024年3月."""
    year, mon = month.split("-")
    return f"{int(year)}年{int(mon)}月"


def mask_phone(phone: str) -> str:
    """138****5678."""
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) == 11 else phone


def yuan(value: float) -> str:
    """Money in 元 with two decimals."""
    return f"{value:.2f}元"
