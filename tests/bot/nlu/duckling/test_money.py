"""Amounts of money, Chinese and English."""

from __future__ import annotations

from datetime import datetime

import pytest

from bot.nlu.duckling import extract

NOW = datetime(2026, 3, 4, 10, 30)


def found(text: str, language: str = "zh") -> list[tuple]:
    return [
        (e.entity, text[e.start : e.end], e.value, (e.additional_info or {}).get("unit"))
        for e in extract(text, language=language, now=NOW)
    ]


@pytest.mark.parametrize(
    ("text", "span", "value", "unit"),
    [
        ("五十块", "五十块", 50, "CNY"),
        ("一共一百元", "一百元", 100, "CNY"),
        ("¥88", "¥88", 88, "CNY"),
        ("￥ 1,299", "￥ 1,299", 1299, "CNY"),
        ("88元", "88元", 88, "CNY"),
        ("12.5块钱", "12.5块钱", 12.5, "CNY"),
        ("三十八块五", "三十八块五", 38.5, "CNY"),
        ("五块五毛", "五块五毛", 5.5, "CNY"),
        ("三块二毛五", "三块二毛五", 3.25, "CNY"),
        ("一块钱", "一块钱", 1, "CNY"),
        ("两毛钱", "两毛钱", 0.2, "CNY"),
        ("1.5万元", "1.5万元", 15000, "CNY"),
        ("两千五百块", "两千五百块", 2500, "CNY"),
        ("100美元", "100美元", 100, "USD"),
        ("50欧元", "50欧元", 50, "EUR"),
        ("人民币200", "人民币200", 200, "CNY"),
        ("三百港币", "三百港币", 300, "HKD"),
        ("$20", "$20", 20, "$"),
    ],
)
def test_zh_money(text: str, span: str, value: float, unit: str) -> None:
    assert found(text) == [("amount-of-money", span, value, unit)]


def test_zh_money_does_not_swallow_a_following_count() -> None:
    assert found("一百块钱两个") == [
        ("amount-of-money", "一百块钱", 100, "CNY"),
        ("number", "两", 2, None),
    ]


@pytest.mark.parametrize(
    ("text", "span", "value", "unit"),
    [
        ("it costs $20", "$20", 20, "$"),
        ("$ 19.99", "$ 19.99", 19.99, "$"),
        ("20 dollars", "20 dollars", 20, "$"),
        ("twenty bucks", "twenty bucks", 20, "$"),
        ("15 euros", "15 euros", 15, "EUR"),
        ("€15", "€15", 15, "EUR"),
        ("£10", "£10", 10, "£"),
        ("USD 200", "USD 200", 200, "USD"),
        ("100 yuan", "100 yuan", 100, "CNY"),
        ("5 cents", "5 cents", 5, "cent"),
        ("$1.5k", "$1.5k", 1500, "$"),
    ],
)
def test_en_money(text: str, span: str, value: float, unit: str) -> None:
    assert found(text, "en") == [("amount-of-money", span, value, unit)]


def test_money_info_shape() -> None:
    (entity,) = extract("$20", {"amount-of-money"}, language="en", now=NOW)
    assert entity.additional_info == {"value": 20, "type": "value", "unit": "$"}


@pytest.mark.parametrize(("text", "language"), [("一块儿去", "zh"), ("dollar sign", "en")])
def test_not_money(text: str, language: str) -> None:
    assert [e for e in found(text, language) if e[0] == "amount-of-money"] == []
