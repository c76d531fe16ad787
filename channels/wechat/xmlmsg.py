"""WeChat XML: hardened parsing of pushed messages and the passive reply XML.

WeChat (公众号 and 企业微信) POSTs small flat XML documents with an `<xml>` root. Parsing goes
through defusedxml with DTDs, entities and external references forbidden, after a size check.
Nested elements (ScanCodeInfo, SendLocationInfo, SendPicsInfo …) are flattened as
"Parent.Child"; siblings sharing a tag get an index ("PicList.item[0].PicMd5Sum").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from xml.etree.ElementTree import Element, ParseError

import defusedxml
from defusedxml.ElementTree import fromstring

MAX_BYTES = 64 * 1024
_MAX_DEPTH = 16
_SENDERLESS_EVENT_PREFIX = "kf_"  # WeCom 微信客服 callbacks carry no FromUserName
# Characters XML 1.0 does not allow (C0 controls except TAB/LF/CR, surrogates, U+FFFE/U+FFFF).
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class XMLRejected(ValueError):
    """The body is not an acceptable WeChat XML document."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code  # "xml_invalid" | "xml_forbidden" | "xml_too_large"


def parse_xml(body: bytes | str, max_bytes: int = MAX_BYTES) -> dict[str, str]:
    """The `<xml>` root's children as a flat {name: text} dict ('' when empty)."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    if len(raw) > max_bytes:
        raise XMLRejected("xml_too_large", f"{len(raw)} > {max_bytes} bytes")
    try:
        root = fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DefusedXmlException as exc:
        raise XMLRejected("xml_forbidden", type(exc).__name__) from exc
    except (ParseError, ValueError, UnicodeError) as exc:
        raise XMLRejected("xml_invalid", str(exc)) from exc
    if root.tag != "xml":
        raise XMLRejected("xml_invalid", f"root <{root.tag}> is not <xml>")
    fields: dict[str, str] = {}
    _flatten(root, "", fields, 1)
    return fields


def _flatten(element: Element, prefix: str, out: dict[str, str], depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise XMLRejected("xml_invalid", "nested too deeply")
    counts: dict[str, int] = {}
    for child in element:
        counts[child.tag] = counts.get(child.tag, 0) + 1
    seen: dict[str, int] = {}
    for child in element:
        name = child.tag
        if counts[name] > 1:
            name = f"{name}[{seen.get(child.tag, 0)}]"
            seen[child.tag] = seen.get(child.tag, 0) + 1
        key = f"{prefix}{name}"
        if len(child):
            _flatten(child, key + ".", out, depth + 1)
        else:
            out[key] = child.text or ""


@dataclass(frozen=True, slots=True)
class Location:
    lat: float
    lon: float
    scale: float  # map zoom (location message) or precision in metres (LOCATION event)
    label: str


@dataclass(frozen=True, slots=True)
class Link:
    title: str
    description: str
    url: str


@dataclass(frozen=True, slots=True)
class WeChatMessage:
    """One pushed message or event, with typed accessors over the parsed fields."""

    kind: str
    event: str | None
    to_user: str
    from_user: str
    create_time: int
    msg_id: str | None
    fields: Mapping[str, str]

    def get(self, name: str) -> str:
        return self.fields.get(name, "")

    @property
    def dedup_key(self) -> str:
        """MsgId for messages; sender + CreateTime (+ event) for events, as WeChat advises."""
        if self.msg_id:
            return self.msg_id
        sender = self.from_user or self.open_kfid or self.to_user
        key = f"{sender}:{self.create_time}"
        return f"{key}:{self.event}" if self.event else key

    @property
    def content(self) -> str:
        return self.get("Content")

    @property
    def recognition(self) -> str:
        return self.get("Recognition")

    @property
    def media_id(self) -> str:
        return self.get("MediaId")

    @property
    def thumb_media_id(self) -> str:
        return self.get("ThumbMediaId")

    @property
    def format(self) -> str:
        return self.get("Format")

    @property
    def pic_url(self) -> str:
        return self.get("PicUrl")

    @property
    def event_key(self) -> str:
        return self.get("EventKey")

    @property
    def kf_token(self) -> str:
        return self.get("Token")

    @property
    def open_kfid(self) -> str:
        return self.get("OpenKfId")

    @property
    def location(self) -> Location | None:
        """A location message, a LOCATION event or a location_select menu event."""
        for lat, lon, scale, label in _LOCATION_KEYS:
            if self.get(lat) and self.get(lon):
                try:
                    return Location(
                        float(self.get(lat)),
                        float(self.get(lon)),
                        float(self.get(scale) or 0),
                        self.get(label),
                    )
                except ValueError:
                    return None
        return None

    @property
    def link(self) -> Link | None:
        if self.kind != "link":
            return None
        return Link(self.get("Title"), self.get("Description"), self.get("Url"))


_LOCATION_KEYS = (
    ("Location_X", "Location_Y", "Scale", "Label"),
    ("Latitude", "Longitude", "Precision", "Label"),
    (
        "SendLocationInfo.Location_X",
        "SendLocationInfo.Location_Y",
        "SendLocationInfo.Scale",
        "SendLocationInfo.Label",
    ),
)


def message_from_fields(fields: Mapping[str, str]) -> WeChatMessage:
    """A `WeChatMessage` from `parse_xml` output; XMLRejected("xml_invalid") if malformed."""
    kind = fields.get("MsgType", "").strip().lower()
    if not kind:
        raise XMLRejected("xml_invalid", "no MsgType")
    event = (fields.get("Event", "").strip().lower() or None) if kind == "event" else None
    from_user = fields.get("FromUserName", "").strip()
    if not from_user and not (event or "").startswith(_SENDERLESS_EVENT_PREFIX):
        raise XMLRejected("xml_invalid", "no FromUserName")
    raw_time = fields.get("CreateTime", "").strip() or "0"
    if not raw_time.isascii() or not raw_time.isdigit():
        raise XMLRejected("xml_invalid", "CreateTime is not an integer")
    msg_id = (fields.get("MsgId") or fields.get("MsgID") or "").strip() or None
    return WeChatMessage(
        kind=kind,
        event=event,
        to_user=fields.get("ToUserName", "").strip(),
        from_user=from_user,
        create_time=int(raw_time),
        msg_id=msg_id,
        fields=MappingProxyType(dict(fields)),
    )


def parse_message(body: bytes | str, max_bytes: int = MAX_BYTES) -> WeChatMessage:
    """`parse_xml` then `message_from_fields`."""
    return message_from_fields(parse_xml(body, max_bytes))


# --- passive replies ---------------------------------------------------------------------


def xml_safe(text: str) -> str:
    """`text` without the characters XML 1.0 forbids."""
    return _XML_FORBIDDEN.sub("", text)


def cdata(text: str) -> str:
    """A CDATA section holding `text` exactly (minus XML-forbidden characters)."""
    return "<![CDATA[" + xml_safe(text).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _element(name: str, text: str) -> str:
    return f"<{name}>{cdata(text)}</{name}>"


def _envelope(to_user: str, from_user: str, now: int, msg_type: str, body: str) -> str:
    return (
        "<xml>"
        + _element("ToUserName", to_user)
        + _element("FromUserName", from_user)
        + f"<CreateTime>{int(now)}</CreateTime>"
        + _element("MsgType", msg_type)
        + body
        + "</xml>"
    )


def text_reply(to_user: str, from_user: str, content: str, now: int) -> str:
    return _envelope(to_user, from_user, now, "text", _element("Content", content))


def news_reply(
    to_user: str, from_user: str, title: str, description: str, url: str, pic_url: str, now: int
) -> str:
    item = (
        _element("Title", title)
        + _element("Description", description)
        + _element("PicUrl", pic_url)
        + _element("Url", url)
    )
    body = f"<ArticleCount>1</ArticleCount><Articles><item>{item}</item></Articles>"
    return _envelope(to_user, from_user, now, "news", body)


def transfer_reply(to_user: str, from_user: str, now: int, kf_account: str | None = None) -> str:
    """Hand the message to the OA 客服 system (to one 客服 account when given)."""
    body = f"<TransInfo>{_element('KfAccount', kf_account)}</TransInfo>" if kf_account else ""
    return _envelope(to_user, from_user, now, "transfer_customer_service", body)
