"""Rasa's `RegexEntityExtractor`: entities from regexes and lookup tables named like an entity.

Matching runs on the normalised text; offsets are reported in the original text and `value` is
the matched (normalised) text. Rasa's `use_word_boundaries` wraps lookup entries in `\\b`,
which never fires between Chinese characters, so here a boundary is only required on the
side of an entry that ends in an ASCII letter or digit (the same result for English).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from bot.nlu.component import Component, NLUMessage, TrainContext
from bot.nlu.synonyms import source_span
from bot.nlu.types import Entity, NLUData

logger = logging.getLogger(__name__)

_ASCII_WORD = re.compile(r"[A-Za-z0-9_]")
_LEFT_EDGE = r"(?<![A-Za-z0-9_])"
_RIGHT_EDGE = r"(?![A-Za-z0-9_])"


@dataclass(slots=True, frozen=True)
class EntityPattern:
    entity: str
    pattern: re.Pattern[str]


def lookup_regex(elements: list[str], word_boundaries: bool) -> str:
    """One alternation for a lookup table, longest entries first."""
    parts = []
    for element in sorted({e.strip() for e in elements if e.strip()}, key=len, reverse=True):
        part = re.escape(element)
        if word_boundaries and _ASCII_WORD.match(element[0]):
            part = _LEFT_EDGE + part
        if word_boundaries and _ASCII_WORD.match(element[-1]):
            part += _RIGHT_EDGE
        parts.append(part)
    return "(" + "|".join(parts) + ")" if parts else ""


def known_entities(data: NLUData, ctx: TrainContext, config: dict[str, Any]) -> set[str]:
    """Entity types annotated in examples or declared (config `entities`, ctx artifact)."""
    declared = list(config.get("entities") or []) + list(ctx.artifacts.get("entities") or [])
    return set(data.entity_types) | {str(e) for e in declared}


class RegexEntityExtractor(Component):
    name = "RegexEntityExtractor"
    defaults: ClassVar[dict[str, Any]] = {
        "case_sensitive": False,
        "use_lookup_tables": True,
        "use_regexes": True,
        "use_word_boundaries": True,
    }

    def __init__(self, config: dict[str, Any] | None = None, language: str = "zh") -> None:
        super().__init__(config, language)
        self.patterns: list[EntityPattern] = []

    def train(self, data: NLUData, ctx: TrainContext) -> None:
        entities = known_entities(data, ctx, self.config)
        sources: list[tuple[str, str]] = []
        if self.config["use_regexes"]:
            sources += [(r.name, r.pattern) for r in data.regexes if r.name in entities]
        if self.config["use_lookup_tables"]:
            bounds = bool(self.config["use_word_boundaries"])
            for name in sorted(data.lookups):
                if name in entities:
                    sources.append((name, lookup_regex(data.lookups[name], bounds)))
        self.patterns = [p for name, src in sources if (p := self._compile(name, src))]
        if not self.patterns:
            logger.warning("RegexEntityExtractor: no regex or lookup table names an entity")

    def _compile(self, entity: str, source: str) -> EntityPattern | None:
        flags = 0 if self.config["case_sensitive"] else re.IGNORECASE
        if not source:
            return None
        try:
            pattern = re.compile(source, flags)
        except re.error as exc:
            logger.warning("RegexEntityExtractor: skipping invalid regex %r (%s)", entity, exc)
            return None
        return EntityPattern(entity, pattern)

    def process(self, message: NLUMessage) -> None:
        message.entities.extend(self.extract(message))

    def extract(self, message: NLUMessage) -> list[Entity]:
        text = message.normalized_text
        found: list[Entity] = []
        for item in self.patterns:
            for match in item.pattern.finditer(text):
                if match.end() <= match.start():
                    continue
                start, end = source_span(message, match.start(), match.end())
                value = message.surface(match.start(), match.end())
                found.append(Entity(item.entity, value, start, end, extractor=self.name))
        return found
