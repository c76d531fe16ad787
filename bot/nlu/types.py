"""Data that flows through the NLU: training examples, entities, parse results.

Offsets (`start`, `end`) always refer to the text the customer sent, end exclusive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.errors import Location

JSONValue = Any  # an entity or slot value: str, int, float, bool, list, dict or None


@dataclass(slots=True)
class Entity:
    entity: str
    value: JSONValue
    start: int
    end: int
    confidence: float = 1.0
    extractor: str = ""
    role: str | None = None
    group: str | None = None
    processors: list[str] = field(default_factory=list)
    additional_info: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Rasa's entity schema (as found in `parse_data.entities`)."""
        out: dict[str, Any] = {
            "entity": self.entity,
            "start": self.start,
            "end": self.end,
            "value": self.value,
            "confidence_entity": round(self.confidence, 4),
            "extractor": self.extractor,
        }
        if self.role is not None:
            out["role"] = self.role
        if self.group is not None:
            out["group"] = self.group
        if self.processors:
            out["processors"] = list(self.processors)
        if self.additional_info is not None:
            out["additional_info"] = self.additional_info
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Entity:
        return cls(
            entity=str(d["entity"]),
            value=d.get("value"),
            start=int(d.get("start", 0) or 0),
            end=int(d.get("end", 0) or 0),
            confidence=float(d.get("confidence_entity", d.get("confidence", 1.0)) or 1.0),
            extractor=str(d.get("extractor", "")),
            role=d.get("role"),
            group=d.get("group"),
            processors=list(d.get("processors", [])),
            additional_info=d.get("additional_info"),
        )


@dataclass(slots=True, frozen=True)
class IntentScore:
    name: str
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "confidence": round(float(self.confidence), 6)}


@dataclass(slots=True)
class ParseResult:
    """What the NLU understood of one message, in Rasa's `parse_data` shape."""

    text: str
    intent: IntentScore
    ranking: list[IntentScore] = field(default_factory=list)
    entities: list[Entity] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    # retrieval intents (Rasa's ResponseSelector): "faq" -> IntentScore("faq/ask_price", 0.93)
    retrieval: dict[str, IntentScore] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "text": self.text,
            "intent": self.intent.to_dict(),
            "entities": [e.to_dict() for e in self.entities],
            "intent_ranking": [r.to_dict() for r in self.ranking],
        }
        if self.retrieval:
            out["response_selector"] = self.response_selector_dict()
        return out

    def response_selector_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"all_retrieval_intents": sorted(self.retrieval)}
        for base, score in self.retrieval.items():
            out[base] = {
                "response": {
                    "intent_response_key": score.name,
                    "utter_action": f"utter_{score.name}",
                    "confidence": round(score.confidence, 6),
                    "responses": [],
                },
                "ranking": [{"intent_response_key": score.name, "confidence": score.confidence}],
            }
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ParseResult:
        intent = d.get("intent") or {}
        return cls(
            text=str(d.get("text") or ""),
            intent=IntentScore(
                str(intent.get("name") or ""), float(intent.get("confidence") or 0.0)
            ),
            ranking=[
                IntentScore(str(r.get("name")), float(r.get("confidence") or 0.0))
                for r in d.get("intent_ranking") or []
            ],
            entities=[Entity.from_dict(e) for e in d.get("entities") or []],
            retrieval={
                base: IntentScore(
                    str(v["response"].get("intent_response_key")),
                    float(v["response"].get("confidence") or 0.0),
                )
                for base, v in (d.get("response_selector") or {}).items()
                if base != "all_retrieval_intents" and isinstance(v, dict) and v.get("response")
            },
        )


@dataclass(slots=True)
class TrainingExample:
    text: str
    intent: str
    entities: list[Entity] = field(default_factory=list)
    location: Location | None = None


@dataclass(slots=True, frozen=True)
class RegexFeature:
    name: str
    pattern: str


@dataclass(slots=True)
class NLUData:
    """Everything an NLU pipeline learns from (Rasa's `nlu:` section)."""

    examples: list[TrainingExample] = field(default_factory=list)
    synonyms: dict[str, str] = field(default_factory=dict)  # variant (lower-cased) -> value
    regexes: list[RegexFeature] = field(default_factory=list)
    lookups: dict[str, list[str]] = field(default_factory=dict)
    language: str = "zh"

    @property
    def intents(self) -> list[str]:
        return sorted({e.intent for e in self.examples})

    @property
    def entity_types(self) -> list[str]:
        return sorted({ent.entity for e in self.examples for ent in e.entities})

    def merge(self, other: NLUData) -> NLUData:
        return NLUData(
            examples=self.examples + other.examples,
            synonyms={**self.synonyms, **other.synonyms},
            regexes=self.regexes + other.regexes,
            lookups={
                k: self.lookups.get(k, []) + other.lookups.get(k, [])
                for k in {*self.lookups, *other.lookups}
            },
            language=self.language,
        )
