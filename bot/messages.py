"""The channel contract: what comes in from a customer and what goes back out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class InboundMessage:
    """One customer input on any channel (text, a button payload, DTMF digits or ASR n-best)."""

    channel: str
    conversation_id: str
    text: str = ""
    sender_id: str = ""
    payload: str | None = None  # a clicked button's payload (e.g. `/query_bill{"month": "3月"}`)
    dtmf: str | None = None
    asr_nbest: list[tuple[str, float]] = field(default_factory=list)
    message_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def content(self) -> str:
        """What the engine should understand: the payload if any, else the text."""
        return self.payload if self.payload else self.text


@dataclass(slots=True, frozen=True)
class Button:
    title: str
    payload: str
    key: str | None = None  # "1", "2" … for numbered menus and DTMF


@dataclass(slots=True)
class OutboundMessage:
    """One bot output; channels render each `kind` in their own medium."""

    kind: str  # text | buttons | link | image | custom | handoff | hangup
    text: str = ""
    buttons: list[Button] = field(default_factory=list)
    url: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_rasa_dict(self, recipient_id: str) -> dict[str, Any]:
        """Rasa REST channel shape: {recipient_id, text, buttons, image, custom}."""
        out: dict[str, Any] = {"recipient_id": recipient_id}
        if self.text:
            out["text"] = self.text
        if self.buttons:
            out["buttons"] = [{"title": b.title, "payload": b.payload} for b in self.buttons]
        if self.kind == "image" and self.url:
            out["image"] = self.url
        if self.kind == "custom" or self.metadata.get("custom") is not None:
            out["custom"] = self.metadata.get("custom")
        if self.kind == "link" and self.url:
            out.setdefault("custom", {"type": "link", "url": self.url})
        return out
