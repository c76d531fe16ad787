"""The contract every NLU component fulfils, and the message it works on.

A pipeline is an ordered list of components. Training calls `train(data)` on each in
order (a component may use what earlier ones learned through `TrainContext`); parsing
calls `process(message)` on each in order, and each fills in its part of the message.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Any, ClassVar

from bot.nlu.types import Entity, IntentScore, NLUData


@dataclass(slots=True)
class Normalized:
    """Normalised text plus, for each of its characters, the span it came from.

    `spans[i]` is the `[start, end)` span of the original text that produced character `i`
    of `text`; a run such as "一百" -> "100" gives each of "1", "0", "0" the span of
    "一百". Removed characters (fillers) simply have no normalised character.
    """

    text: str
    spans: list[tuple[int, int]]

    @classmethod
    def identity(cls, text: str) -> Normalized:
        return cls(text, [(i, i + 1) for i in range(len(text))])

    def surface(self, start: int, end: int, original: str) -> str:
        """The normalised text of a span with the customer's letter case kept (5G, not 5g)."""
        out = []
        for i in range(max(0, start), min(end, len(self.text))):
            char = self.text[i]
            src_start, src_end = self.spans[i]
            if char.isascii() and char.isalpha() and src_end - src_start == 1:
                source = unicodedata.normalize("NFKC", original[src_start:src_end])
                if source.lower() == char:
                    char = source
            out.append(char)
        return "".join(out)

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a span of the normalised text back to the original text."""
        if not self.spans or end <= start:
            pos = self.spans[min(start, len(self.spans) - 1)][0] if self.spans else 0
            return pos, pos
        start = max(0, min(start, len(self.spans) - 1))
        end = max(start + 1, min(end, len(self.spans)))
        return self.spans[start][0], self.spans[end - 1][1]


@dataclass(slots=True)
class Token:
    """A token of the normalised text (offsets into `Normalized.text`)."""

    text: str
    start: int
    end: int


@dataclass(slots=True)
class NLUMessage:
    text: str
    norm: Normalized | None = None
    tokens: list[Token] = field(default_factory=list)
    intent: IntentScore | None = None
    ranking: list[IntentScore] = field(default_factory=list)
    entities: list[Entity] = field(default_factory=list)

    @property
    def normalized_text(self) -> str:
        return self.norm.text if self.norm is not None else self.text

    def surface(self, start: int, end: int) -> str:
        """An entity value for a span of the normalised text (letter case as typed)."""
        if self.norm is None:
            return self.text[start:end]
        return self.norm.surface(start, end, self.text)


@dataclass(slots=True)
class TrainContext:
    """Shared by the components of one pipeline while it trains (and kept for parsing)."""

    language: str = "zh"
    extra_words: set[str] = field(default_factory=set)  # for the segmenter's user dictionary
    artifacts: dict[str, Any] = field(default_factory=dict)


class Component:
    """One NLU step. Subclasses set `name` and override `train` and/or `process`."""

    name: ClassVar[str] = "component"
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, config: dict[str, Any] | None = None, language: str = "zh") -> None:
        self.config: dict[str, Any] = {**self.defaults, **(config or {})}
        self.language = language

    def train(self, data: NLUData, ctx: TrainContext) -> None:
        """Learn from the training data; the default learns nothing."""

    def process(self, message: NLUMessage) -> None:
        """Fill in this component's part of the message; the default does nothing."""
