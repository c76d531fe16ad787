"""What an Official Account message or event means for the engine: a registry keyed by type.

Each handler turns a `WeChatMessage` into a `Decision`: a turn to run (an `InboundMessage`), a
fixed polite reply, or nothing (events that need no answer, such as `unsubscribe` or `VIEW`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.messages import InboundMessage
from channels.wechat.xmlmsg import WeChatMessage

log = logging.getLogger(__name__)

CHANNEL = "wechat"
TEXTS = {
    "voice_unclear": "抱歉，这条语音我没有听清楚，麻烦您再说一遍，或者直接发送文字给我。",
    "media_received": "已收到您发来的内容。麻烦您用文字简单描述一下遇到的问题，我马上为您处理。",
    "unsupported": "抱歉，暂时还不支持这种类型的消息，请您发送文字或语音给我。",
    "failed": "抱歉，系统开了个小差，请您稍后再试一次。",
    "handoff_wechat": "正在为您转接人工客服，请稍候。",
}


@dataclass(frozen=True, slots=True)
class Decision:
    """Run `turn`, or answer `reply` (a TEXTS key) at once, or neither (ignore).
    `listen`: a voice message's media id; with our ASR, its transcript runs the turn (`heard`)
    instead of `reply`."""

    turn: InboundMessage | None = None
    reply: str | None = None
    media: bool = False  # an image/video/location the bot itself cannot read
    note: str = ""  # why it was ignored (logged)
    extra: dict[str, str] = field(default_factory=dict)
    listen: str = ""


def _inbound(msg: WeChatMessage, text: str = "", payload: str | None = None) -> InboundMessage:
    return InboundMessage(
        channel=CHANNEL,
        conversation_id=msg.from_user,
        sender_id=msg.from_user,
        text=text,
        payload=payload,
        message_id=msg.dedup_key,
        metadata={"wechat_type": msg.event or msg.kind, "app": msg.to_user},
    )


def _text(msg: WeChatMessage) -> Decision:
    return Decision(turn=_inbound(msg, msg.content))


def _voice(msg: WeChatMessage) -> Decision:
    if msg.recognition.strip():
        turn = _inbound(msg, msg.recognition.strip())
        turn.metadata["asr"] = "wechat"
        return Decision(turn=turn)
    extra = {"media_id": msg.media_id, "format": msg.format}
    return Decision(reply="voice_unclear", extra=extra, listen=msg.media_id.strip())


def heard(msg: WeChatMessage, text: str, nbest: list[tuple[str, float]]) -> InboundMessage:
    """The turn for a voice message recognised by our own ASR."""
    turn = _inbound(msg, text)
    turn.asr_nbest = nbest
    turn.metadata.update(asr="zhike", media_id=msg.media_id)
    return turn


def _described(label: str) -> Callable[[WeChatMessage], Decision]:
    """Images, videos: shown to an agent as "[图片] …"; the bot itself asks for words."""

    def handle(msg: WeChatMessage) -> Decision:
        turn = _inbound(msg, label)
        turn.metadata.update(media_id=msg.media_id, url=msg.pic_url)
        if msg.pic_url:  # what an agent sees in the console
            turn.metadata["display_text"] = f"{label} {msg.pic_url}"
        return Decision(turn=turn, media=True)

    return handle


def _location(msg: WeChatMessage) -> Decision:
    place = msg.location
    if place is None:
        return Decision(reply="unsupported")
    turn = _inbound(msg, f"[位置] {place.label}".strip())
    turn.metadata["location"] = {"lat": place.lat, "lon": place.lon, "label": place.label}
    return Decision(turn=turn, media=True)


def _link(msg: WeChatMessage) -> Decision:
    link = msg.link
    if link is None:
        return Decision(reply="unsupported")
    turn = _inbound(msg, f"[链接] {link.title} {link.url}".strip())
    turn.metadata["link"] = {"title": link.title, "url": link.url}
    return Decision(turn=turn, media=True)


def _click(msg: WeChatMessage) -> Decision:
    key = msg.event_key.strip()
    if not key:
        return Decision(note="menu click without a key")
    if key.startswith("/"):
        return Decision(turn=_inbound(msg, key, payload=key))
    return Decision(turn=_inbound(msg, key))


def _ignore(note: str) -> Callable[[WeChatMessage], Decision]:
    return lambda msg: Decision(note=note)


HANDLERS: dict[str, Callable[[WeChatMessage], Decision]] = {
    "text": _text,
    "voice": _voice,
    "image": _described("[图片]"),
    "video": _described("[视频]"),
    "shortvideo": _described("[视频]"),
    "location": _location,
    "link": _link,
}
EVENTS: dict[str, Callable[[WeChatMessage], Decision]] = {
    "click": _click,
    "view": _ignore("menu link opened"),
    "unsubscribe": _ignore("unsubscribed"),
    "scan": _ignore("QR code scanned by a follower"),
    "location": _ignore("location reported"),
    "templatesendjobfinish": _ignore("template message report"),
}


def decide(msg: WeChatMessage, subscribe_payload: str | None) -> Decision:
    if msg.kind == "event":
        event = msg.event or ""
        if event == "subscribe":
            if not subscribe_payload:
                return Decision(note="subscribed")
            turn = _inbound(msg, subscribe_payload, payload=subscribe_payload)
            if msg.event_key:  # qrscene_… when followed through a QR code
                turn.metadata["scene"] = msg.event_key
            return Decision(turn=turn)
        handler = EVENTS.get(event)
        return handler(msg) if handler else Decision(note=f"unknown event {event!r}")
    handler = HANDLERS.get(msg.kind)
    return handler(msg) if handler else Decision(reply="unsupported", note=f"type {msg.kind!r}")
