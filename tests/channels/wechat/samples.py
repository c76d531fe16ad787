"""WeChat callback XML samples, shaped as WeChat documents them, for tests of all WeChat modules.

公众号 (Official Account) messages and events, the 企业微信 微信客服 `kf_msg_or_event` callback,
and signed / encrypted request builders (query parameters + body as WeChat sends them; the AES
part uses wechatpy directly, not our `channels.wechat.crypto`).

    oa_text("查话费", from_user="o6_…", msg_id="1", create_time=1700000000)
    SAMPLES["oa_voice_recognition"]()        # every sample by name, defaults for everything
    SAMPLE_KINDS["oa_scan"] == ("event", "scan")
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from wechatpy.crypto import PrpCrypto as OfficialPrp
from wechatpy.enterprise.crypto import PrpCrypto as WeComPrp

OPENID = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"  # 发送方帐号 (an OpenID)
OA_ID = "gh_3ad31f0a8c2e"  # 开发者微信号 (the account's original id)
APP_ID = "wx5823bf96d3bd56c7"
CORP_ID = "ww5823bf96d3bd56c7"
OPEN_KFID = "wkAJ2GCAAAZSfhHCt7IFSvLKtMPxyJTw"
KF_TOKEN = "ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR"  # sync_msg token from the callback
MSG_ID = "1234567890123456"
CREATE_TIME = 1348831860
TOKEN = "zhike_callback_token"
AES_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")  # 43 chars
NONCE = "1320562132"


class Bare(str):
    """A value WeChat sends without CDATA (numbers, coordinates)."""


Value = str | int


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def xml_doc(*fields: tuple[str, Value]) -> str:
    """`<xml>` with one child per field: strings as CDATA, ints and `Bare` values bare."""
    lines = [
        f"<{name}>{value}</{name}>"
        if isinstance(value, int | Bare)
        else f"<{name}>{_cdata(value)}</{name}>"
        for name, value in fields
    ]
    return "<xml>\n" + "\n".join(lines) + "\n</xml>"


def _head(to_user: str, from_user: str, create_time: int, msg_type: str) -> list[tuple[str, Value]]:
    return [
        ("ToUserName", to_user),
        ("FromUserName", from_user),
        ("CreateTime", create_time),
        ("MsgType", msg_type),
    ]


def _message(
    msg_type: str,
    body: list[tuple[str, Value]],
    *,
    from_user: str,
    to_user: str,
    msg_id: str,
    create_time: int,
) -> str:
    msg_id_field: list[tuple[str, Value]] = [("MsgId", Bare(msg_id))] if msg_id else []
    return xml_doc(*_head(to_user, from_user, create_time, msg_type), *body, *msg_id_field)


def _event(
    event: str, body: list[tuple[str, Value]], *, from_user: str, to_user: str, create_time: int
) -> str:
    head = _head(to_user, from_user, create_time, "event")
    return xml_doc(*head, ("Event", event), *body)


# --- 公众号 messages ------------------------------------------------------------------------


def oa_text(
    content: str = "你好，我想查一下话费",
    *,
    from_user: str = OPENID,
    to_user: str = OA_ID,
    msg_id: str = MSG_ID,
    create_time: int = CREATE_TIME,
) -> str:
    return _message(
        "text",
        [("Content", content)],
        from_user=from_user,
        to_user=to_user,
        msg_id=msg_id,
        create_time=create_time,
    )


def oa_image(
    pic_url: str = "http://mmbiz.qpic.cn/mmbiz_jpg/abc/0",
    media_id: str = "image_media_id",
    *,
    from_user: str = OPENID,
    to_user: str = OA_ID,
    msg_id: str = MSG_ID,
    create_time: int = CREATE_TIME,
) -> str:
    body: list[tuple[str, Value]] = [("PicUrl", pic_url), ("MediaId", media_id)]
    return _message(
        "image", body, from_user=from_user, to_user=to_user, msg_id=msg_id, create_time=create_time
    )


def oa_voice(
    media_id: str = "voice_media_id",
    format: str = "amr",
    recognition: str | None = None,
    *,
    from_user: str = OPENID,
    to_user: str = OA_ID,
    msg_id: str = MSG_ID,
    create_time: int = CREATE_TIME,
) -> str:
    """A voice message; `recognition` is WeChat's ASR text (语音识别 turned on)."""
    body: list[tuple[str, Value]] = [("MediaId", media_id), ("Format", format)]
    if recognition is not None:
        body.append(("Recognition", recognition))
    return _message(
        "voice", body, from_user=from_user, to_user=to_user, msg_id=msg_id, create_time=create_time
    )


def oa_video(
    media_id: str = "video_media_id",
    thumb_media_id: str = "thumb_media_id",
    *,
    msg_type: str = "video",
    from_user: str = OPENID,
    to_user: str = OA_ID,
    msg_id: str = MSG_ID,
    create_time: int = CREATE_TIME,
) -> str:
    body: list[tuple[str, Value]] = [("MediaId", media_id), ("ThumbMediaId", thumb_media_id)]
    return _message(
        msg_type, body, from_user=from_user, to_user=to_user, msg_id=msg_id, create_time=create_time
    )


oa_shortvideo = partial(oa_video, msg_type="shortvideo")


def oa_location(
    lat: str = "23.134521",
    lon: str = "113.358803",
    scale: str = "20",
    label: str = "广东省广州市天河区天河路",
    *,
    from_user: str = OPENID,
    to_user: str = OA_ID,
    msg_id: str = MSG_ID,
    create_time: int = CREATE_TIME,
) -> str:
    body: list[tuple[str, Value]] = [
        ("Location_X", Bare(lat)),
        ("Location_Y", Bare(lon)),
        ("Scale", Bare(scale)),
        ("Label", label),
    ]
    return _message(
        "location",
        body,
        from_user=from_user,
        to_user=to_user,
        msg_id=msg_id,
        create_time=create_time,
    )


def oa_link(
    title: str = "话费套餐说明",
    description: str = "最新资费一览",
    url: str = "https://www.example.com/plans?id=1&from=wx",
    *,
    from_user: str = OPENID,
    to_user: str = OA_ID,
    msg_id: str = MSG_ID,
    create_time: int = CREATE_TIME,
) -> str:
    body: list[tuple[str, Value]] = [("Title", title), ("Description", description), ("Url", url)]
    return _message(
        "link", body, from_user=from_user, to_user=to_user, msg_id=msg_id, create_time=create_time
    )


# --- 公众号 events (no MsgId: WeChat advises FromUserName + CreateTime for dedup) ----------


def oa_subscribe(
    event_key: str | None = None,
    ticket: str | None = None,
    *,
    from_user: str = OPENID,
    to_user: str = OA_ID,
    create_time: int = CREATE_TIME,
) -> str:
    """关注; with `event_key="qrscene_123123"` and a ticket when followed from a QR code."""
    body: list[tuple[str, Value]] = []
    if event_key is not None:
        body.append(("EventKey", event_key))
    if ticket is not None:
        body.append(("Ticket", ticket))
    return _event("subscribe", body, from_user=from_user, to_user=to_user, create_time=create_time)


def oa_unsubscribe(
    *, from_user: str = OPENID, to_user: str = OA_ID, create_time: int = CREATE_TIME
) -> str:
    return _event("unsubscribe", [], from_user=from_user, to_user=to_user, create_time=create_time)


def oa_scan(
    event_key: str = "123123",
    ticket: str = "TICKET",
    *,
    from_user: str = OPENID,
    to_user: str = OA_ID,
    create_time: int = CREATE_TIME,
) -> str:
    """An already-following user scanned a parametric QR code (EventKey = scene_id)."""
    body: list[tuple[str, Value]] = [("EventKey", event_key), ("Ticket", ticket)]
    return _event("SCAN", body, from_user=from_user, to_user=to_user, create_time=create_time)


def oa_location_event(
    lat: str = "23.137466",
    lon: str = "113.352425",
    precision: str = "119.385040",
    *,
    from_user: str = OPENID,
    to_user: str = OA_ID,
    create_time: int = CREATE_TIME,
) -> str:
    body: list[tuple[str, Value]] = [
        ("Latitude", Bare(lat)),
        ("Longitude", Bare(lon)),
        ("Precision", Bare(precision)),
    ]
    return _event("LOCATION", body, from_user=from_user, to_user=to_user, create_time=create_time)


def oa_click(
    event_key: str = "MENU_QUERY_BILL",
    *,
    from_user: str = OPENID,
    to_user: str = OA_ID,
    create_time: int = CREATE_TIME,
) -> str:
    body: list[tuple[str, Value]] = [("EventKey", event_key)]
    return _event("CLICK", body, from_user=from_user, to_user=to_user, create_time=create_time)


def oa_view(
    url: str = "https://www.example.com/account",
    menu_id: str | None = None,
    *,
    from_user: str = OPENID,
    to_user: str = OA_ID,
    create_time: int = CREATE_TIME,
) -> str:
    """A menu link was tapped (EventKey = the URL; MenuId when personalised menus are used)."""
    body: list[tuple[str, Value]] = [("EventKey", url)]
    if menu_id is not None:
        body.append(("MenuId", menu_id))
    return _event("VIEW", body, from_user=from_user, to_user=to_user, create_time=create_time)


# --- 企业微信 微信客服 -----------------------------------------------------------------------


def kf_msg_or_event(
    token: str = KF_TOKEN,
    open_kfid: str = OPEN_KFID,
    *,
    to_user: str = CORP_ID,
    create_time: int = CREATE_TIME,
) -> str:
    """New 微信客服 messages to pull with sync_msg (no FromUserName, no MsgId)."""
    return xml_doc(
        ("ToUserName", to_user),
        ("CreateTime", create_time),
        ("MsgType", "event"),
        ("Event", "kf_msg_or_event"),
        ("Token", token),
        ("OpenKfId", open_kfid),
    )


SAMPLES: dict[str, Callable[..., str]] = {
    "oa_text": oa_text,
    "oa_image": oa_image,
    "oa_voice": oa_voice,
    "oa_voice_recognition": partial(oa_voice, recognition="我想查一下这个月的话费"),
    "oa_video": oa_video,
    "oa_shortvideo": oa_shortvideo,
    "oa_location": oa_location,
    "oa_link": oa_link,
    "oa_subscribe": oa_subscribe,
    "oa_subscribe_qrscene": partial(oa_subscribe, event_key="qrscene_123123", ticket="TICKET"),
    "oa_unsubscribe": oa_unsubscribe,
    "oa_scan": oa_scan,
    "oa_location_event": oa_location_event,
    "oa_click": oa_click,
    "oa_view": oa_view,
    "kf_msg_or_event": kf_msg_or_event,
}

# (MsgType, Event) lower-cased, as `WeChatMessage.kind` / `.event` report them.
SAMPLE_KINDS: dict[str, tuple[str, str | None]] = {
    "oa_text": ("text", None),
    "oa_image": ("image", None),
    "oa_voice": ("voice", None),
    "oa_voice_recognition": ("voice", None),
    "oa_video": ("video", None),
    "oa_shortvideo": ("shortvideo", None),
    "oa_location": ("location", None),
    "oa_link": ("link", None),
    "oa_subscribe": ("event", "subscribe"),
    "oa_subscribe_qrscene": ("event", "subscribe"),
    "oa_unsubscribe": ("event", "unsubscribe"),
    "oa_scan": ("event", "scan"),
    "oa_location_event": ("event", "location"),
    "oa_click": ("event", "click"),
    "oa_view": ("event", "view"),
    "kf_msg_or_event": ("event", "kf_msg_or_event"),
}


# --- signed and encrypted requests ---------------------------------------------------------


@dataclass(frozen=True)
class SignedRequest:
    """What WeChat sends: query parameters and the POST body ('' for GET checks)."""

    query: dict[str, str]
    body: str = ""


def sign(*parts: str) -> str:
    """WeChat's callback signature: SHA-1 of the sorted parts joined."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def _cipher(text: str, aes_key: str, receive_id: str, *, wecom: bool) -> str:
    prp = (WeComPrp if wecom else OfficialPrp)(base64.b64decode(aes_key + "="))
    return str(prp.encrypt(text, receive_id).decode("ascii"))


def oa_verify(
    token: str = TOKEN, timestamp: str = "1700000000", nonce: str = NONCE, echostr: str = "echo123"
) -> SignedRequest:
    """The 公众号 URL check (GET): echo `echostr` back when `signature` is right."""
    query = {"signature": sign(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
    return SignedRequest({**query, "echostr": echostr})


def oa_plain(
    inner_xml: str, *, token: str = TOKEN, timestamp: str, nonce: str = NONCE, openid: str = OPENID
) -> SignedRequest:
    """A 明文模式 push: the XML as is, signed in the query."""
    query = {"signature": sign(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
    return SignedRequest({**query, "openid": openid}, inner_xml)


def oa_encrypted(
    inner_xml: str,
    *,
    token: str = TOKEN,
    aes_key: str = AES_KEY,
    app_id: str = APP_ID,
    timestamp: str,
    nonce: str = NONCE,
    to_user: str = OA_ID,
    openid: str = OPENID,
) -> SignedRequest:
    """A 安全模式 push: `<xml><ToUserName/><Encrypt/></xml>`, `msg_signature` over Encrypt."""
    encrypted = _cipher(inner_xml, aes_key, app_id, wecom=False)
    query = {
        "signature": sign(token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "openid": openid,
        "encrypt_type": "aes",
        "msg_signature": sign(token, timestamp, nonce, encrypted),
    }
    return SignedRequest(query, xml_doc(("ToUserName", to_user), ("Encrypt", encrypted)))


def wecom_encrypted(
    inner_xml: str,
    *,
    token: str = TOKEN,
    aes_key: str = AES_KEY,
    corp_id: str = CORP_ID,
    timestamp: str,
    nonce: str = NONCE,
    agent_id: str | None = None,
) -> SignedRequest:
    """A 企业微信 callback POST: `<xml><ToUserName/><Encrypt/>[<AgentID/>]</xml>`."""
    encrypted = _cipher(inner_xml, aes_key, corp_id, wecom=True)
    fields: list[tuple[str, Value]] = [("ToUserName", corp_id), ("Encrypt", encrypted)]
    if agent_id is not None:
        fields.append(("AgentID", agent_id))
    query = {
        "msg_signature": sign(token, timestamp, nonce, encrypted),
        "timestamp": timestamp,
        "nonce": nonce,
    }
    return SignedRequest(query, xml_doc(*fields))


def wecom_verify(
    echo: str = "5927782489442352469",
    *,
    token: str = TOKEN,
    aes_key: str = AES_KEY,
    corp_id: str = CORP_ID,
    timestamp: str,
    nonce: str = NONCE,
) -> SignedRequest:
    """The 企业微信 URL check (GET): decrypt `echostr` and answer the plain `echo`."""
    encrypted = _cipher(echo, aes_key, corp_id, wecom=True)
    return SignedRequest(
        {
            "msg_signature": sign(token, timestamp, nonce, encrypted),
            "timestamp": timestamp,
            "nonce": nonce,
            "echostr": encrypted,
        }
    )
