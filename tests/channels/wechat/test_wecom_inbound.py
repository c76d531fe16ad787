"""What each 微信客服 message type means for the engine."""

from __future__ import annotations

from typing import Any

from channels.wechat.kf_api import KfMessage
from channels.wechat.wecom_inbound import TEXTS, greeting, inbound, understand


def message(msgtype: str, body: dict[str, Any] | None = None, **raw: Any) -> KfMessage:
    entry: dict[str, Any] = {
        "msgid": "m1",
        "open_kfid": "wk1",
        "external_userid": "wm1",
        "send_time": 1700000000,
        "origin": 3,
        "msgtype": msgtype,
        **raw,
    }
    if body is not None:
        entry[msgtype] = body
    return KfMessage.from_raw(entry)


def test_text_goes_to_the_engine_as_is() -> None:
    msg = message("text", {"content": "我要点单"})
    turn = inbound(msg, understand(msg))
    assert (turn.channel, turn.conversation_id, turn.sender_id) == ("wecom", "wm1", "wm1")
    assert turn.text == "我要点单" and turn.payload is None and turn.message_id == "m1"
    assert turn.metadata["open_kfid"] == "wk1"


def test_a_clicked_menu_item_carries_its_payload() -> None:
    msg = message("text", {"content": "中杯", "menu_id": '/inform{"size": "中杯"}'})
    turn = inbound(msg, understand(msg))
    assert turn.payload == '/inform{"size": "中杯"}' and turn.content == turn.payload
    titled = message("text", {"content": "中杯", "menu_id": "中杯"})  # a title, not a payload
    assert understand(titled).payload is None


def test_media_become_markers_with_their_details() -> None:
    image = understand(message("image", {"media_id": "MEDIA"}))
    assert image.text == "[图片]" and image.metadata == {"media_id": "MEDIA"}
    place = {"latitude": 23.1, "longitude": 113.3, "name": "天河城", "address": "天河路208号"}
    location = understand(message("location", place))
    assert location.text == "[位置] 天河城 天河路208号" and location.metadata["latitude"] == 23.1
    link = understand(message("link", {"title": "订单", "desc": "查看详情", "url": "https://x"}))
    assert link.text == "[链接] 订单 查看详情" and link.metadata["url"] == "https://x"


def test_voice_and_unknown_types_get_a_polite_reply() -> None:
    assert understand(message("voice", {"media_id": "V"})).reply == TEXTS["voice"]
    assert (
        understand(message("channels_shop_order", {"order_id": "1"})).reply == TEXTS["unsupported"]
    )


def test_enter_session_greets_with_the_scene() -> None:
    event = {
        "event_type": "enter_session",
        "open_kfid": "wk1",
        "external_userid": "wm9",
        "scene": "qrcode",
        "scene_param": "门店A",
        "welcome_code": "WC",
    }
    msg = KfMessage.from_raw({"msgid": "e1", "origin": 4, "msgtype": "event", "event": event})
    turn = greeting(msg)
    assert turn.payload == "/greet" and turn.conversation_id == "wm9"
    assert turn.metadata == {
        "open_kfid": "wk1",
        "event": "enter_session",
        "scene": "qrcode",
        "scene_param": "门店A",
    }
