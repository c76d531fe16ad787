"""The knowledge base's shared data types: an FAQ entry, its answer, a search hit.

Everything in `bot/kb/` speaks these types; the store persists them, the index searches their
questions (never their answers) and the engine hook turns hits into events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Protocol


@dataclass(slots=True, frozen=True)
class KBButton:
    title: str
    payload: str  # a Rasa payload (`/intent{...}`) or a URL when it starts with http


@dataclass(slots=True)
class KBAnswer:
    """What the customer gets: text plus optional buttons, a link and an image."""

    text: str
    buttons: list[KBButton] = field(default_factory=list)
    link: str | None = None
    link_title: str | None = None
    image: str | None = None


@dataclass(slots=True)
class FAQEntry:
    id: str
    question: str  # the standard question (标准问)
    answer: KBAnswer
    similar: list[str] = field(default_factory=list)  # 相似问
    voice_answer: str | None = None  # short spoken answer for the IVR
    category: tuple[str, ...] = ()  # category path, e.g. ("宽带", "报修")
    tags: list[str] = field(default_factory=list)
    valid_from: date | None = None
    valid_to: date | None = None
    channels: list[str] = field(default_factory=list)  # empty: every channel
    enabled: bool = True
    updated_at: float = 0.0  # unix seconds of the last edit

    def questions(self) -> list[str]:
        """Standard question first, then the similar ones (what the index sees)."""
        return [self.question, *self.similar]

    def available(self, channel: str | None, today: date) -> bool:
        """Enabled, within its validity dates and allowed on this channel."""
        if not self.enabled:
            return False
        if self.valid_from is not None and today < self.valid_from:
            return False
        if self.valid_to is not None and today > self.valid_to:
            return False
        return not self.channels or channel is None or channel in self.channels


@dataclass(slots=True, frozen=True)
class Hit:
    entry_id: str
    score: float  # calibrated: roughly P(this entry answers the query), 0..1
    question: str  # the indexed question that matched best
    raw: float = 0.0  # the uncalibrated ranking score, for diagnostics


class Searcher(Protocol):
    """What the engine hook and the API need from an index."""

    def search(self, query: str, k: int = 5) -> list[Hit]: ...
