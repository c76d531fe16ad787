"""What a customer's 微信客服 message means for the engine: a registry keyed by `msgtype`.

Text goes to the engine as it is (a clicked menu item whose id is a `/intent…` payload goes as
that payload). Media the bot cannot read becomes a short marker the NLU can take ("[图片]",
"[位置] 名称 地址" …) with the details in the metadata; unknown types get a polite fixed reply
instead of a turn. Voice gets one too unless the channel has an ASR: `listen` names its media,
and `heard` turns the transcript into the turn's text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bot.messages import InboundMessage
from channels.wechat.kf_api import KfMessage

CHANNEL = "wecom"
TEXTS = {
    "voice": "抱歉，暂时无法收听语音消息，麻烦您用文字告诉我您的问题，谢谢。",
    "voice_unclear": "抱歉，这条语音我没有听清楚，麻烦您再说一遍，或者直接发送文字给我。",
    "unsupported": "抱歉，暂时还不支持这种类型的消息，麻烦您用文字描述一下您的需求，谢谢。",
    "failed": "抱歉，系统开了个小差，请您稍后再试一次。",
    "transfer": "正在为您转接人工客服，请稍候。",
}


@dataclass(frozen=True, slots=True)
class Understood:
    """The text (and payload) for a turn, or a fixed `reply` instead of a turn. `listen`: a
    voice message's media id, for the channel's ASR (its transcript replaces `reply`)."""

    text: str = ""
    payload: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    reply: str | None = None
    listen: str = ""
    nbest: tuple[tuple[str, float], ...] = ()


def _part(msg: KfMessage, key: str) -> Mapping[str, Any]:
    value = msg.raw.get(key)
    return value if isinstance(value, Mapping) else {}


def _joined(*parts: Any) -> str:
    return " ".join(str(p).strip() for p in parts if p and str(p).strip())


def _text(msg: KfMessage) -> Understood:
    payload = msg.menu_id if msg.menu_id.startswith("/") else None
    meta = {"menu_id": msg.menu_id} if msg.menu_id else {}
    return Understood(text=msg.text, payload=payload, metadata=meta)


def _media(label: str) -> Callable[[KfMessage], Understood]:
    def understand(msg: KfMessage) -> Understood:
        media_id = str(_part(msg, msg.msgtype).get("media_id") or "")
        return Understood(text=f"[{label}]", metadata={"media_id": media_id} if media_id else {})

    return understand


def _location(msg: KfMessage) -> Understood:
    loc = _part(msg, "location")
    meta = {k: loc[k] for k in ("latitude", "longitude", "name", "address") if k in loc}
    return Understood(text=_joined("[位置]", loc.get("name"), loc.get("address")), metadata=meta)


def _link(msg: KfMessage) -> Understood:
    link = _part(msg, "link")
    meta = {k: link[k] for k in ("title", "desc", "url", "pic_url") if k in link}
    return Understood(text=_joined("[链接]", link.get("title"), link.get("desc")), metadata=meta)


def _miniprogram(msg: KfMessage) -> Understood:
    app = _part(msg, "miniprogram")
    meta = {k: app[k] for k in ("title", "appid", "pagepath") if k in app}
    return Understood(text=_joined("[小程序]", app.get("title")), metadata=meta)


def _business_card(msg: KfMessage) -> Understood:
    card = _part(msg, "business_card")
    return Understood(text="[名片]", metadata={"userid": str(card.get("userid") or "")})


def _voice(msg: KfMessage) -> Understood:
    media_id = str(_part(msg, "voice").get("media_id") or "").strip()
    meta = {"media_id": media_id} if media_id else {}
    return Understood(reply=TEXTS["voice"], listen=media_id, metadata=meta)


def heard(understood: Understood, text: str, nbest: list[tuple[str, float]]) -> Understood:
    """A voice message recognised by our ASR (an empty `text`: ask again)."""
    if not text:
        return replace(understood, reply=TEXTS["voice_unclear"])
    meta = {**understood.metadata, "asr": "zhike"}
    return replace(understood, text=text, reply=None, metadata=meta, nbest=tuple(nbest))


def _reply(name: str) -> Callable[[KfMessage], Understood]:
    return lambda msg: Understood(reply=TEXTS[name])


UNDERSTAND: dict[str, Callable[[KfMessage], Understood]] = {
    "text": _text,
    "image": _media("图片"),
    "video": _media("视频"),
    "file": _media("文件"),
    "location": _location,
    "link": _link,
    "miniprogram": _miniprogram,
    "business_card": _business_card,
    "voice": _voice,
}


def understand(msg: KfMessage) -> Understood:
    return UNDERSTAND.get(msg.msgtype, _reply("unsupported"))(msg)


def inbound(msg: KfMessage, understood: Understood) -> InboundMessage:
    """The turn for a customer's message (the conversation is the customer's external id)."""
    metadata: dict[str, Any] = {"open_kfid": msg.open_kfid, "msgtype": msg.msgtype}
    metadata.update(understood.metadata)
    return InboundMessage(
        channel=CHANNEL,
        conversation_id=msg.external_userid,
        sender_id=msg.external_userid,
        text=understood.text,
        payload=understood.payload,
        message_id=msg.msgid,
        metadata=metadata,
        asr_nbest=list(understood.nbest),
    )


def greeting(msg: KfMessage) -> InboundMessage:
    """The welcome turn for an enter_session event (the `/greet` payload)."""
    event = msg.event
    metadata: dict[str, Any] = {"open_kfid": msg.open_kfid, "event": "enter_session"}
    for key in ("scene", "scene_param"):
        if event.get(key):
            metadata[key] = str(event[key])
    return InboundMessage(
        channel=CHANNEL,
        conversation_id=msg.external_userid,
        sender_id=msg.external_userid,
        payload="/greet",
        message_id=msg.msgid,
        metadata=metadata,
    )
