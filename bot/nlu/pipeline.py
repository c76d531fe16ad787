"""The NLU interpreter: an ordered pipeline of components built from `config.yml`."""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from typing import Any

from bot.nlu.component import Component, NLUMessage, TrainContext
from bot.nlu.payload import parse_payload
from bot.nlu.retrieval import ResponseSelector
from bot.nlu.types import Entity, IntentScore, NLUData, ParseResult
from bot.project.config import DEFAULT_PIPELINE, ComponentSpec

log = logging.getLogger(__name__)

MAX_NLU_CHARS = 500  # longer messages are understood from their first 500 characters

# name -> "module:Class"; imported lazily so a missing optional part fails with a clear message
COMPONENTS: dict[str, str] = {
    "ZhikeNormalizer": "bot.nlu.normalize:ZhikeNormalizer",
    "JiebaTokenizer": "bot.nlu.tokenizer:JiebaTokenizer",
    "WhitespaceTokenizer": "bot.nlu.tokenizer:WhitespaceTokenizer",
    "ZhikeIntentClassifier": "bot.nlu.intent:ZhikeIntentClassifier",
    "ResponseSelector": "bot.nlu.retrieval:ResponseSelector",
    "RegexEntityExtractor": "bot.nlu.regex_extractor:RegexEntityExtractor",
    "LookupEntityExtractor": "bot.nlu.lookup:LookupEntityExtractor",
    "ZhikeNER": "bot.nlu.ner:ZhikeNER",
    "DucklingEntityExtractor": "bot.nlu.duckling:DucklingEntityExtractor",
    "EntitySynonymMapper": "bot.nlu.synonyms:EntitySynonymMapper",
    "FallbackClassifier": "bot.nlu.fallback:FallbackClassifier",
}
# entity extractors, most trusted first, for resolving overlapping spans of one type
_EXTRACTOR_RANK = [
    "payload",
    "RegexEntityExtractor",
    "DucklingEntityExtractor",
    "LookupEntityExtractor",
    "ZhikeNER",
]


def create_component(spec: ComponentSpec, language: str) -> Component:
    target = COMPONENTS.get(spec.name)
    if target is None:
        raise ValueError(f"unknown NLU component {spec.name!r}")
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    component: Component = cls(spec.options, language)
    return component


def sanitize(text: Any) -> str:
    """Any input -> a valid str (lone surrogates and NULs replaced)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = str(text)
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").replace("\x00", "")


class Interpreter:
    """Trains and runs the NLU pipeline."""

    def __init__(self, specs: list[ComponentSpec] | None = None, language: str = "zh") -> None:
        self.language = language
        specs = specs or [ComponentSpec(n) for n in DEFAULT_PIPELINE]
        self.components = [
            create_component(s, language) for s in specs if s.name != "ResponseSelector"
        ]
        self.intents: list[str] = []
        self.ctx = TrainContext(language=language)

    def train(
        self, data: NLUData, progress: Callable[[str], None] | None = None
    ) -> dict[str, float]:
        """Train every component in order; returns seconds spent per component."""
        self.ctx = TrainContext(language=self.language)
        self.intents = data.intents
        timings: dict[str, float] = {}
        for component in self.components:
            if progress:
                progress(component.name)
            started = time.perf_counter()
            component.train(data, self.ctx)
            timings[component.name] = time.perf_counter() - started
        return timings

    def parse(self, text: Any) -> ParseResult:
        """Understand one message. Never raises: a failing component is logged and skipped."""
        clean = sanitize(text)
        payload = parse_payload(clean) if clean.startswith("/") else None
        if payload is not None:
            return payload
        message = NLUMessage(text=clean[:MAX_NLU_CHARS])
        retrieval: dict[str, IntentScore] = {}
        for component in self.components:
            try:
                component.process(message)
            except Exception:  # a broken component must not lose the message
                log.exception("NLU component %s failed on a message", component.name)
            if component.name == "ZhikeIntentClassifier" and any(
                "/" in r.name for r in message.ranking
            ):
                retrieval = ResponseSelector().fold(message)
        intent = message.intent or IntentScore("nlu_fallback", 0.0)
        return ParseResult(
            text=clean,
            intent=intent,
            ranking=message.ranking[:10],
            entities=resolve_overlaps(message.entities),
            tokens=[t.text for t in message.tokens],
            retrieval=retrieval,
        )


def resolve_overlaps(entities: list[Entity]) -> list[Entity]:
    """Keep one entity per overlapping span of the same type: most trusted, then longest."""

    def rank(e: Entity) -> tuple[int, int]:
        idx = (
            _EXTRACTOR_RANK.index(e.extractor)
            if e.extractor in _EXTRACTOR_RANK
            else len(_EXTRACTOR_RANK)
        )
        return idx, -(e.end - e.start)

    kept: list[Entity] = []
    for ent in sorted(entities, key=rank):
        clash = any(
            k.entity == ent.entity
            and k.role == ent.role
            and ent.start < k.end
            and k.start < ent.end
            and not (ent.start == ent.end == 0)
            for k in kept
        )
        if not clash:
            kept.append(ent)
    return sorted(kept, key=lambda e: (e.start, e.end))
