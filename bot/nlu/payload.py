"""Rasa's message payload syntax: `/intent`, `/intent{"entity": "value"}`, `/intent@0.9{...}`."""

from __future__ import annotations

import json
import re

from bot.nlu.types import Entity, IntentScore, ParseResult

_PAYLOAD = re.compile(r"^/(?P<intent>[^{@\s]+)(?:@(?P<conf>[0-9.]+))?(?P<ents>\{.*\})?\s*$", re.S)


def is_payload(text: str) -> bool:
    return text.startswith("/") and _PAYLOAD.match(text) is not None


def parse_payload(text: str) -> ParseResult | None:
    """Parse a payload message; None if `text` is not one (or its JSON is broken)."""
    m = _PAYLOAD.match(text.strip())
    if m is None:
        return None
    try:
        confidence = float(m.group("conf")) if m.group("conf") else 1.0
    except ValueError:
        confidence = 1.0
    entities: list[Entity] = []
    if m.group("ents"):
        try:
            raw = json.loads(m.group("ents"))
        except json.JSONDecodeError:
            return None
        if not isinstance(raw, dict):
            return None
        for name, value in raw.items():
            values = value if isinstance(value, list) else [value]
            entities.extend(Entity(str(name), v, 0, 0, extractor="payload") for v in values)
    intent = IntentScore(m.group("intent"), confidence)
    return ParseResult(text=text, intent=intent, ranking=[intent], entities=entities)
