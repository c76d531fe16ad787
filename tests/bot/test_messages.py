"""The channel contract: `InboundMessage.content` and `OutboundMessage.to_rasa_dict` shapes."""

from __future__ import annotations

import dataclasses

import pytest

from bot.messages import Button, InboundMessage, OutboundMessage


# ------------------------------------------------------------------------------ inbound
def test_content_is_the_text_without_a_payload() -> None:
    msg = InboundMessage(channel="web", conversation_id="c1", text="我想查账单")
    assert msg.content == "我想查账单"
    assert msg.payload is None and msg.sender_id == "" and msg.dtmf is None


def test_content_prefers_the_button_payload() -> None:
    msg = InboundMessage("web", "c1", text="3月账单", payload='/query_bill{"month": "3月"}')
    assert msg.content == '/query_bill{"month": "3月"}'


def test_an_empty_payload_falls_back_to_the_text() -> None:
    assert InboundMessage("web", "c1", text="你好", payload="").content == "你好"


def test_content_of_an_empty_message() -> None:
    assert InboundMessage("voice", "c1").content == ""


def test_mutable_defaults_are_not_shared() -> None:
    a, b = InboundMessage("web", "a"), InboundMessage("web", "b")
    a.metadata["k"] = 1
    a.asr_nbest.append(("你好", 0.9))
    assert b.metadata == {} and b.asr_nbest == []


# ------------------------------------------------------------------------------ outbound
def test_text_message() -> None:
    msg = OutboundMessage("text", "您好，请问有什么可以帮您？")
    assert msg.to_rasa_dict("user-1") == {
        "recipient_id": "user-1",
        "text": "您好，请问有什么可以帮您？",
    }


def test_empty_text_is_left_out() -> None:
    assert OutboundMessage("text").to_rasa_dict("u") == {"recipient_id": "u"}


def test_buttons_keep_title_and_payload_only() -> None:
    msg = OutboundMessage(
        "buttons",
        "请选择杯型",
        [Button("大杯", '/inform{"size": "大杯"}', key="1"), Button("小杯", "/inform", key="2")],
    )
    assert msg.to_rasa_dict("u") == {
        "recipient_id": "u",
        "text": "请选择杯型",
        "buttons": [
            {"title": "大杯", "payload": '/inform{"size": "大杯"}'},
            {"title": "小杯", "payload": "/inform"},
        ],
    }


def test_image() -> None:
    msg = OutboundMessage("image", url="https://example.com/menu.png")
    assert msg.to_rasa_dict("u") == {"recipient_id": "u", "image": "https://example.com/menu.png"}


def test_image_without_url_has_no_image_key() -> None:
    assert "image" not in OutboundMessage("image", "菜单").to_rasa_dict("u")


def test_url_of_a_text_message_is_not_an_image() -> None:
    assert OutboundMessage("text", "看这里", url="https://x/y").to_rasa_dict("u") == {
        "recipient_id": "u",
        "text": "看这里",
    }


def test_custom_payload() -> None:
    msg = OutboundMessage("custom", metadata={"custom": {"type": "card", "items": [1, 2]}})
    assert msg.to_rasa_dict("u") == {
        "recipient_id": "u",
        "custom": {"type": "card", "items": [1, 2]},
    }


def test_custom_metadata_on_a_text_message_is_sent_too() -> None:
    msg = OutboundMessage("text", "订单已提交", metadata={"custom": {"order": "A1"}})
    assert msg.to_rasa_dict("u") == {
        "recipient_id": "u",
        "text": "订单已提交",
        "custom": {"order": "A1"},
    }


def test_link_becomes_a_custom_link() -> None:
    msg = OutboundMessage("link", "查看详情", url="https://example.com/faq")
    assert msg.to_rasa_dict("u") == {
        "recipient_id": "u",
        "text": "查看详情",
        "custom": {"type": "link", "url": "https://example.com/faq"},
    }


def test_link_keeps_an_explicit_custom_payload() -> None:
    msg = OutboundMessage("link", url="https://x", metadata={"custom": {"mine": True}})
    assert msg.to_rasa_dict("u")["custom"] == {"mine": True}


@pytest.mark.parametrize("kind", ["handoff", "hangup"])
def test_handoff_and_hangup_carry_only_their_text(kind: str) -> None:
    msg = OutboundMessage(kind, "正在为您转接人工客服", metadata={"reason": "用户要求"})
    assert msg.to_rasa_dict("u") == {"recipient_id": "u", "text": "正在为您转接人工客服"}


def test_to_rasa_dict_does_not_alias_the_message() -> None:
    msg = OutboundMessage("buttons", "选", [Button("是", "/affirm")])
    shape = msg.to_rasa_dict("u")
    shape["buttons"].append({"title": "x", "payload": "y"})
    assert len(msg.buttons) == 1


def test_button_is_immutable() -> None:
    button = Button("是", "/affirm", key="1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        button.title = "否"  # type: ignore[misc]
