"""Numbers and ordinals, Chinese and English."""

from __future__ import annotations

from datetime import datetime

import pytest

from bot.nlu.duckling import extract

NOW = datetime(2026, 3, 4, 10, 30)


def found(text: str, language: str = "zh", dims: set[str] | None = None) -> list[tuple]:
    return [
        (e.entity, text[e.start : e.end], e.value)
        for e in extract(text, dims, language=language, now=NOW)
    ]


@pytest.mark.parametrize(
    ("text", "span", "value"),
    [
        ("我要一百二十三个", "一百二十三", 123),
        ("两千五就行", "两千五", 2500),
        ("预算1.5万左右", "1.5万", 15000),
        ("大概三点五公斤", "三点五", 3.5),
        ("来两个", "两", 2),
        ("一共十五件", "十五", 15),
        ("一百零五位客人", "一百零五", 105),
        ("三万五的车", "三万五", 35000),
        ("一亿两千万", "一亿两千万", 120_000_000),
        ("买3件", "3", 3),
        ("共1,200份", "1,200", 1200),
        ("零", "零", 0),
        ("房间三零五", "三零五", 305),
        ("百分之二十的折扣", "百分之二十", 0.2),
        ("壹佰贰拾", "壹佰贰拾", 120),
        ("12.5", "12.5", 12.5),
    ],
)
def test_zh_numbers(text: str, span: str, value: float) -> None:
    assert found(text, dims={"number"}) == [("number", span, value)]


@pytest.mark.parametrize(
    "text",
    ["请稍等一下", "便宜一点", "统一价格", "万一不行呢", "十分感谢", "千万别这样", "唯一的办法", "我们一起去",
     "一样的", "万先生您好", "一定到", "其中之一"],
)  # fmt: skip
def test_zh_words_that_are_not_numbers(text: str) -> None:
    assert found(text, dims={"number"}) == []


def test_no_number_inside_a_longer_digit_run() -> None:
    assert found("订单号202503011234", dims={"number"}) == [
        ("number", "202503011234", 202503011234)
    ]
    assert found("12345678901234567890", dims={"number"}) == []  # identifiers, not numbers


def test_integral_values_are_ints() -> None:
    (entity,) = extract("三十", {"number"}, now=NOW)
    assert isinstance(entity.value, int)
    assert entity.additional_info == {"value": 30, "type": "value"}


@pytest.mark.parametrize(
    ("text", "span", "value"),
    [
        ("twenty-one apples", "twenty-one", 21),
        ("it costs 3.5", "3.5", 3.5),
        ("1,200 people", "1,200", 1200),
        ("one hundred and five guests", "one hundred and five", 105),
        ("Two thousand three hundred", "Two thousand three hundred", 2300),
        ("ninety nine", "ninety nine", 99),
        ("I have 7 kids", "7", 7),
        ("ZERO", "ZERO", 0),
    ],
)
def test_en_numbers(text: str, span: str, value: float) -> None:
    assert found(text, "en", {"number"}) == [("number", span, value)]


def test_en_separate_numbers_stay_separate() -> None:
    assert [v for _, _, v in found("one two three", "en", {"number"})] == [1, 2, 3]


@pytest.mark.parametrize("text", ["hello there", "someone", "phone", "anyone at home", "tone"])
def test_en_non_numbers(text: str) -> None:
    assert found(text, "en", {"number"}) == []


@pytest.mark.parametrize(
    ("text", "language", "span", "value"),
    [
        ("第三个", "zh", "第三", 3),
        ("排第1名", "zh", "第1", 1),
        ("第十二期", "zh", "第十二", 12),
        ("the third one", "en", "third", 3),
        ("1st floor", "en", "1st", 1),
        ("the twenty-first", "en", "twenty-first", 21),
        ("22nd", "en", "22nd", 22),
    ],
)
def test_ordinals(text: str, language: str, span: str, value: int) -> None:
    assert found(text, language, {"ordinal"}) == [("ordinal", span, value)]
