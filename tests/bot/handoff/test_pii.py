"""PII masking: phone numbers, ID cards, bank cards, e-mails; ordinary numbers left alone."""

from __future__ import annotations

import pytest

from bot.handoff.pii import luhn_valid, mask_slot, mask_text, mask_value, pii_kind


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我的手机是13812345678，谢谢", "我的手机是138****5678，谢谢"),
        ("+86 138-1234-5678", "+86 138****5678"),
        ("电话 159 8765 4321 找我", "电话 159****4321 找我"),
        ("8613912345678", "86139****5678"),
        ("身份证110101199003071234号", "身份证110***********1234号"),
        ("身份证 11010119900307123x", "身份证 110***********123X"),
        ("旧证 110101900307123", "旧证 110********7123"),
        ("卡号4111111111111111", "卡号**** **** **** 1111"),
        ("卡号 6222 0212 3456 7890 123", "卡号 **** **** **** 0123"),
        ("邮箱 zhang.san@example.com 收", "邮箱 z***@example.com 收"),
        ("座机010-62345678转123", "座机010-****5678转123"),
        ("(0755)22345678", "0755-****5678"),
    ],
)
def test_mask_text_masks_pii(text: str, expected: str) -> None:
    assert mask_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "订单金额128.50元，2026-11-23 到货",
        "验证码 123456，有效期5分钟",
        "订单号 DD13812345678 已发货",
        "11月23日下午3点",
        "4111111111111112",  # 16 digits failing the Luhn check: an order number, not a card
        "热线 400-123-4567",
        "价格13812345678.5",
        "",
    ],
)
def test_mask_text_leaves_ordinary_numbers(text: str) -> None:
    assert mask_text(text) == text


def test_several_kinds_in_one_message() -> None:
    text = "我叫张三，手机13812345678，卡号4111 1111 1111 1111，退款99.9元"
    assert mask_text(text) == "我叫张三，手机138****5678，卡号**** **** **** 1111，退款99.9元"


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("6222021234567890123") is False


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("phone", "+86 138 1234 5678", "138****5678"),
        ("id_card", "110101199003071234", "110***********1234"),
        ("id_tail", "123X", "****"),
        ("bank_card", "6222021234567890123", "**** **** **** 0123"),
        ("email", "li@qq.com", "l***@qq.com"),
        ("phone", "不方便提供", "不方便提供"),
        ("unknown", "手机13812345678", "手机138****5678"),
    ],
)
def test_mask_value_by_kind(kind: str, value: str, expected: str) -> None:
    assert mask_value(kind, value) == expected


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("phone_number", "phone"),
        ("mobile", "phone"),
        ("customer_phone", "phone"),
        ("手机号", "phone"),
        ("id_number", "id_card"),
        ("身份证", "id_card"),
        ("id_tail", "id_tail"),
        ("card_number", "bank_card"),
        ("银行卡号", "bank_card"),
        ("email", "email"),
        ("order_detail", None),
        ("drink", None),
        ("bank_name", None),
    ],
)
def test_pii_kind_guesses_from_the_name(name: str, kind: str | None) -> None:
    assert pii_kind(name) == kind


def test_mask_slot_uses_the_name_then_the_text() -> None:
    assert mask_slot("id_tail", "1234") == "****"
    assert mask_slot("phone", "13812345678") == "138****5678"
    assert mask_slot("note", "回电13812345678") == "回电138****5678"
    assert mask_slot("amount", "128") == "128"
