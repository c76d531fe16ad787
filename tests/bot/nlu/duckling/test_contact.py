"""Phone numbers and emails."""

from __future__ import annotations

from datetime import datetime

import pytest

from bot.nlu.duckling import extract

NOW = datetime(2026, 3, 4, 10, 30)


def found(text: str, language: str = "zh") -> list[tuple]:
    return [
        (e.entity, text[e.start : e.end], e.value)
        for e in extract(text, language=language, now=NOW)
    ]


@pytest.mark.parametrize(
    ("text", "span", "value"),
    [
        ("我的手机是13800138000", "13800138000", "13800138000"),
        ("电话138-0013-8000谢谢", "138-0013-8000", "13800138000"),
        ("138 0013 8000", "138 0013 8000", "13800138000"),
        ("+86 13800138000", "+86 13800138000", "(+86) 13800138000"),
        ("+8615912345678", "+8615912345678", "(+86) 15912345678"),
        ("幺三八零零幺三八零零零", "幺三八零零幺三八零零零", "13800138000"),
        ("一五九一二三四五六七八", "一五九一二三四五六七八", "15912345678"),
        ("座机010-12345678", "010-12345678", "01012345678"),
        ("0755-1234567", "0755-1234567", "07551234567"),
        ("(021) 1234 5678", "(021) 1234 5678", "02112345678"),
        ("客服400-123-4567", "400-123-4567", "4001234567"),
        ("800 820 8820", "800 820 8820", "8008208820"),
        ("4008123123", "4008123123", "4008123123"),
    ],
)
def test_zh_phones(text: str, span: str, value: str) -> None:
    assert found(text) == [("phone-number", span, value)]


@pytest.mark.parametrize(
    ("text", "span", "value"),
    [
        ("call +1 650-701-8887", "+1 650-701-8887", "(+1) 6507018887"),
        ("(+33) 1 46 64 79 98", "(+33) 1 46 64 79 98", "(+33) 146647998"),
        ("my cell is 13912345678", "13912345678", "13912345678"),
    ],
)
def test_en_phones(text: str, span: str, value: str) -> None:
    assert found(text, "en") == [("phone-number", span, value)]


@pytest.mark.parametrize(
    "text",
    ["12345", "1380013800", "23800138000", "订单号202503011234", "138001380001", "一二三四五"],
)
def test_not_phones(text: str) -> None:
    assert [f for f in found(text) if f[0] == "phone-number"] == []


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("邮箱abc.def@qq.com谢谢", "abc.def@qq.com"),
        ("mail me at Bob.Smith+tag@example.co.uk.", "Bob.Smith+tag@example.co.uk"),
        ("发到 zhang_san-01@company.com.cn 吧", "zhang_san-01@company.com.cn"),
    ],
)
def test_emails(text: str, span: str) -> None:
    assert found(text, "en" if text.startswith("mail") else "zh") == [("email", span, span)]


@pytest.mark.parametrize("text", ["a@b", "@qq.com", "abc@", "user@localhost", "a@@b.com"])
def test_not_emails(text: str) -> None:
    assert [f for f in found(text) if f[0] == "email"] == []
