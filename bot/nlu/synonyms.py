"""Entity synonyms (Rasa's `EntitySynonymMapper`) and the text helpers the extractors share.

The helpers let every extractor work on the normalised text (`message.normalized_text`) and
report offsets in the text the customer sent, whether or not a normaliser ran before it.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.nlu.component import Component, NLUMessage, Normalized, TrainContext
from bot.nlu.normalize import normalize
from bot.nlu.types import Entity, NLUData

logger = logging.getLogger(__name__)


def normalized(text: str, language: str) -> Normalized:
    """The project's normalisation of `text` (the identity should the normaliser fail)."""
    try:
        return normalize(text, language)
    except Exception:  # a normaliser bug must not stop extraction
        logger.exception("normalize() failed; using the raw text")
        return Normalized.identity(text)


def fold(text: str) -> str:
    """Lower-case `text` character by character, keeping its length (offsets stay valid)."""
    out = []
    for ch in text:
        low = ch.lower()
        out.append(low if len(low) == 1 else ch)
    return "".join(out)


def match_key(text: str, language: str) -> str:
    """The form under which values are compared: normalised, folded, trimmed."""
    return fold(normalized(text, language).text).strip()


def source_span(message: NLUMessage, start: int, end: int) -> tuple[int, int]:
    """Map a span of `message.normalized_text` back to the text the customer sent."""
    if message.norm is None:
        return start, end
    return message.norm.to_original(start, end)


def learn_synonyms(data: NLUData) -> dict[str, str]:
    """Rasa's synonyms: the declared ones plus annotated values that differ from their text."""
    synonyms: dict[str, str] = {}
    for example in data.examples:
        for ent in example.entities:
            surface = example.text[ent.start : ent.end]
            if isinstance(ent.value, str) and surface and surface != ent.value:
                synonyms[surface.lower()] = ent.value
    for variant, value in data.synonyms.items():
        synonyms[str(variant).lower()] = value
    return synonyms


class EntitySynonymMapper(Component):
    """Replace entity values by their canonical synonym value, as Rasa does."""

    name = "EntitySynonymMapper"

    def __init__(self, config: dict[str, Any] | None = None, language: str = "zh") -> None:
        super().__init__(config, language)
        self.synonyms: dict[str, str] = {}  # lower-cased variant -> value
        self.keys: dict[str, str] = {}  # normalised, folded variant -> value

    def train(self, data: NLUData, ctx: TrainContext) -> None:
        self.synonyms = learn_synonyms(data)
        self.keys = {match_key(k, self.language): v for k, v in self.synonyms.items()}

    def process(self, message: NLUMessage) -> None:
        self.replace(message.entities)

    def replace(self, entities: list[Entity]) -> None:
        for entity in entities:
            value = self.lookup(str(entity.value))
            if value is None:
                continue
            entity.value = value
            entity.processors.append(self.name)

    def lookup(self, value: str) -> str | None:
        """The canonical value of `value`, or None when it has no synonym."""
        found = self.synonyms.get(value.lower())
        if found is None and self.keys:
            found = self.keys.get(match_key(value, self.language))
        return found
