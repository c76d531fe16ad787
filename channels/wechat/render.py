"""Bot messages → WeChat messages within WeChat's limits.

`render_oa` gives 公众号 客服消息 parts (text, one-article news); `render_kf` gives 微信客服
messages (text, msgmenu, link). Both first turn each `OutboundMessage` into a `_Piece` (a
registry keyed by `kind`), then lay texts out: long texts split by UTF-8 bytes at a paragraph
or sentence boundary, consecutive texts merged, and anything beyond `max_parts` folded into
one last, truncated text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from bot.dialogue.menus import keys as menu_keys
from bot.messages import Button, OutboundMessage

log = logging.getLogger(__name__)

MENU_HINT = "回复数字即可选择："
IMAGE_TITLE = "点击查看图片"
ELLIPSIS = "……"
_SEP = "\n\n"
# Preferred split points, best first: paragraph, line, sentence end, clause, space.
_BOUNDARIES: tuple[tuple[bytes, ...], ...] = tuple(
    tuple(s.encode("utf-8") for s in group)
    for group in (
        ("\n\n",),
        ("\n",),
        ("。", "！", "？", "…", "；", ". ", "! ", "? ", "; "),
        ("，", "、", "：", ", ", ": "),
        (" ",),
    )
)
_LABEL = re.compile(r"^\s*([0-9]{1,2})(?=[\s.、:：)）]|$)")  # as bot.dialogue.menus
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Part:
    """One 公众号 message."""

    kind: str  # "text" | "news"
    text: str = ""
    title: str = ""
    description: str = ""
    url: str = ""
    pic_url: str = ""


@dataclass(frozen=True, slots=True)
class Limits:
    text_bytes: int = 2048  # text content limit (UTF-8 bytes), 公众号 and 微信客服
    max_parts: int = 5  # 客服消息 per customer message
    menu_items: int = 10  # 微信客服 msgmenu list
    menu_head_bytes: int = 1024  # msgmenu head_content
    menu_id_bytes: int = 64  # msgmenu click.id (1–64 bytes per the 微信客服 send_msg docs)
    menu_content_bytes: int = 128  # msgmenu click.content
    link_title_bytes: int = 128  # 微信客服 link title


@dataclass(frozen=True, slots=True)
class KfOut:
    """One 微信客服 message: `msgtype` and the JSON body under that key."""

    msgtype: str  # "text" | "msgmenu" | "link"
    body: Mapping[str, Any]


# --- pieces: what each bot message says, independent of the WeChat product ------------------


@dataclass(frozen=True, slots=True)
class _Piece:
    kind: str  # "text" | "menu" | "link" | "image"
    text: str = ""
    url: str = ""
    buttons: tuple[Button, ...] = field(default=())


def _text(m: OutboundMessage) -> list[_Piece]:
    return [_Piece("text", m.text)] if m.text.strip() else []


def _buttons(m: OutboundMessage) -> list[_Piece]:
    buttons = tuple(b for b in m.buttons if b.payload)  # as the engine's numbered menus do
    if len(buttons) < len(m.buttons):
        log.warning(
            "wechat render: dropped %d button(s) without payload",
            len(m.buttons) - len(buttons),
        )
    return [_Piece("menu", m.text, buttons=buttons)] if buttons else _text(m)


def _link(m: OutboundMessage) -> list[_Piece]:
    if not m.url:
        return _text(m)
    return [_Piece("link", m.text or str(m.metadata.get("title") or ""), m.url)]


def _image(m: OutboundMessage) -> list[_Piece]:
    if not m.url:
        log.warning("wechat render: dropped an image without url")
        return _text(m)
    return [_Piece("image", m.text or str(m.metadata.get("title") or ""), m.url)]


def _custom(m: OutboundMessage) -> list[_Piece]:
    custom = m.metadata.get("custom")
    if isinstance(custom, Mapping) and custom.get("type") == "link" and custom.get("url"):
        return [_Piece("link", str(custom.get("title") or ""), str(custom["url"]))]
    log.debug("wechat render: skipped a custom message")
    return []


def _skip(m: OutboundMessage) -> list[_Piece]:
    return []  # handoff / hangup: the channel acts on them, nothing to show


_PIECES: dict[str, Callable[[OutboundMessage], list[_Piece]]] = {
    "text": _text,
    "buttons": _buttons,
    "link": _link,
    "image": _image,
    "custom": _custom,
    "handoff": _skip,
    "hangup": _skip,
}


def _pieces(messages: Sequence[OutboundMessage]) -> list[_Piece]:
    out: list[_Piece] = []
    for message in messages:
        convert = _PIECES.get(message.kind)
        if convert is None:
            log.warning("wechat render: unknown message kind %r skipped", message.kind)
            continue
        out.extend(convert(message))
    return out


def menu_lines(buttons: Sequence[Button]) -> list[str]:
    """Menu lines like "1. 查话费"; each number is the one the engine maps back to its button."""
    numbers = menu_keys([{"title": b.title} for b in buttons])
    own = all(_own_number(b.title) == n for n, b in zip(numbers, buttons, strict=True))
    return [b.title if own else f"{n}. {b.title}" for n, b in zip(numbers, buttons, strict=True)]


def _own_number(title: str) -> int | None:
    """The number a title starts with ("5 非常满意"), read as the engine reads it."""
    match = _LABEL.match(title)
    return int(match.group(1)) if match else None


def menu_text(text: str, buttons: Sequence[Button]) -> str:
    lines = [MENU_HINT, *menu_lines(buttons)]
    return (text.strip() + _SEP if text.strip() else "") + "\n".join(lines)


def _link_text(title: str, url: str) -> str:
    """A text message link: WeChat shows `<a href>` in text messages as a tappable link."""
    label = title.replace("<", "").replace(">", "").strip() or url
    return f'<a href="{url.replace(chr(34), "%22")}">{label}</a>'


def _plain_link(title: str, url: str) -> str:
    return f"{title.strip()}：{url}" if title.strip() else url


# --- text layout ------------------------------------------------------------------------

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Rich(Generic[T]):
    value: T
    fallback: str  # the text used when this message is folded into the last part


_Item = str | _Rich[T]


def utf8_split(text: str, max_bytes: int) -> list[str]:
    """`text` in chunks of at most `max_bytes` UTF-8 bytes, cut at the best boundary."""
    if max_bytes < 4:
        raise ValueError("max_bytes must be at least 4 (one UTF-8 character)")
    data = text.encode("utf-8")
    chunks: list[str] = []
    while len(data) > max_bytes:
        cut = _cut_point(data, max_bytes)
        chunks.append(data[:cut].decode("utf-8"))
        data = data[cut:]
    chunks.append(data.decode("utf-8"))
    return [c.strip() for c in chunks if c.strip()]


def _cut_point(data: bytes, max_bytes: int) -> int:
    limit = max_bytes
    while limit > 0 and data[limit] & 0xC0 == 0x80:  # never inside a character
        limit -= 1
    floor = limit // 3  # boundaries too early would give tiny chunks
    for group in _BOUNDARIES:
        found = [(data.rfind(sep, 0, limit), sep) for sep in group]
        best = max((i + len(sep) for i, sep in found if i >= 0), default=0)
        if best > floor:
            return best
    return limit


def truncate(text: str, max_bytes: int) -> str:
    """`text` cut to `max_bytes` UTF-8 bytes, ending with "……" when cut."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    room = max(max_bytes - len(ELLIPSIS.encode("utf-8")), 0)
    head = data[:room].decode("utf-8", errors="ignore").rstrip()
    return head + ELLIPSIS if room else head


def _clean(text: str) -> str:
    return _CONTROL.sub("", text)


def _layout(items: list[_Item[T]], limits: Limits) -> list[_Item[T]]:
    split: list[_Item[T]] = []
    for item in items:
        if isinstance(item, str):
            chunks = utf8_split(_clean(item), limits.text_bytes)
            if len(chunks) > 1:
                log.info(
                    "wechat render: split a %d-byte text into %d parts",
                    len(item.encode("utf-8")),
                    len(chunks),
                )
            split.extend(chunks)
        else:
            split.append(item)
    return _cap(_merge(split, limits.text_bytes), limits)


def _merge(items: list[_Item[T]], max_bytes: int) -> list[_Item[T]]:
    out: list[_Item[T]] = []
    for item in items:
        last = out[-1] if out else None
        if isinstance(item, str) and isinstance(last, str):
            joined = last + _SEP + item
            if len(joined.encode("utf-8")) <= max_bytes:
                out[-1] = joined
                continue
        out.append(item)
    return out


def _cap(items: list[_Item[T]], limits: Limits) -> list[_Item[T]]:
    keep = max(limits.max_parts, 1)
    if len(items) <= keep:
        return items
    tail = items[keep - 1 :]
    folded = _SEP.join(x if isinstance(x, str) else x.fallback for x in tail)
    log.warning(
        "wechat render: %d messages over the %d-part limit folded into the last part",
        len(items) - keep,
        keep,
    )
    short = truncate(folded, limits.text_bytes)
    if short != folded:
        log.warning("wechat render: truncated the last part to %d bytes", limits.text_bytes)
    return [*items[: keep - 1], short]


# --- 公众号 -------------------------------------------------------------------------------


def _oa_item(piece: _Piece) -> _Item[Part]:
    if piece.kind == "menu":
        return menu_text(piece.text, piece.buttons)
    if piece.kind == "link":
        return _link_text(piece.text, piece.url)
    if piece.kind == "image":
        title = piece.text or IMAGE_TITLE
        news = Part("news", title=title, url=piece.url, pic_url=piece.url)
        return _Rich(news, _link_text(title, piece.url))
    return piece.text


def render_oa(messages: list[OutboundMessage], limits: Limits = Limits()) -> list[Part]:
    """客服消息 parts for one turn's bot messages."""
    items = _layout([_oa_item(p) for p in _pieces(messages)], limits)
    return [Part("text", text=x) if isinstance(x, str) else x.value for x in items]


# --- 微信客服 ------------------------------------------------------------------------------


def _menu_item(button: Button, limits: Limits) -> dict[str, Any]:
    ident = button.payload
    if len(ident.encode("utf-8")) > limits.menu_id_bytes:
        log.warning(
            "wechat render: payload over %d bytes, menu id falls back to the title",
            limits.menu_id_bytes,
        )
        ident = truncate(button.title, limits.menu_id_bytes)
    content = truncate(button.title, limits.menu_content_bytes)
    return {"type": "click", "click": {"id": ident, "content": content}}


def _kf_menu(piece: _Piece, limits: Limits) -> _Rich[KfOut]:
    buttons = piece.buttons[: limits.menu_items]
    if len(piece.buttons) > len(buttons):
        log.warning(
            "wechat render: msgmenu keeps %d of %d buttons", len(buttons), len(piece.buttons)
        )
    body: dict[str, Any] = {}
    if piece.text.strip():
        body["head_content"] = truncate(_clean(piece.text), limits.menu_head_bytes)
    body["list"] = [_menu_item(b, limits) for b in buttons]
    return _Rich(KfOut("msgmenu", body), menu_text(piece.text, piece.buttons))


def _kf_link(title: str, url: str, thumb_media_id: str | None, limits: Limits) -> _Item[KfOut]:
    if not thumb_media_id:
        return _plain_link(title, url)
    body = {
        "title": truncate(title.strip() or url, limits.link_title_bytes),
        "desc": "",
        "url": url,
        "thumb_media_id": thumb_media_id,
    }
    return _Rich(KfOut("link", body), _plain_link(title, url))


def _kf_item(piece: _Piece, limits: Limits, thumb_media_id: str | None) -> _Item[KfOut]:
    if piece.kind == "menu":
        return _kf_menu(piece, limits)
    if piece.kind == "link":
        return _kf_link(piece.text, piece.url, thumb_media_id, limits)
    if piece.kind == "image":
        return _kf_link(piece.text or IMAGE_TITLE, piece.url, thumb_media_id, limits)
    return piece.text


def render_kf(
    messages: list[OutboundMessage], limits: Limits = Limits(), thumb_media_id: str | None = None
) -> list[KfOut]:
    """微信客服 messages (send_msg bodies) for one turn's bot messages."""
    items = _layout([_kf_item(p, limits, thumb_media_id) for p in _pieces(messages)], limits)
    return [KfOut("text", {"content": x}) if isinstance(x, str) else x.value for x in items]
