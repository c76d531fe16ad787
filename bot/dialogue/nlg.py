"""Render domain responses: pick a variant (channel, conditions), fill `{slot}` placeholders."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from bot.dialogue.events import BotUttered
from bot.project.domain import DEFAULT_RESPONSES, Domain, ResponseVariant

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _fill(template: str, values: dict[str, Any]) -> str:
    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in values:
            return m.group(0)
        value = values[key]
        return "" if value is None else str(value)

    return _PLACEHOLDER.sub(sub, template)


def _conditions_hold(variant: ResponseVariant, slots: dict[str, Any]) -> bool:
    return all(_equal(slots.get(c.slot), c.value) for c in variant.conditions)


def _equal(actual: Any, expected: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return str(actual).lower() == str(expected).lower()
    return actual == expected or (actual is not None and str(actual) == str(expected))


@dataclass(slots=True)
class NLG:
    domain: Domain
    rng: random.Random
    language: str = "zh"

    @classmethod
    def create(cls, domain: Domain, language: str = "zh", seed: int | None = None) -> NLG:
        return cls(domain, random.Random(seed), language)

    @property
    def defaults(self) -> dict[str, str]:
        return DEFAULT_RESPONSES.get(self.language, DEFAULT_RESPONSES["en"])

    def has(self, name: str) -> bool:
        return name in self.domain.responses or name in self.defaults

    def choose(
        self, name: str, slots: dict[str, Any], channel: str | None
    ) -> ResponseVariant | None:
        variants = self.domain.responses.get(name)
        if variants is None:
            default = self.defaults.get(name)
            return ResponseVariant(text=default) if default else None
        usable = [v for v in variants if _conditions_hold(v, slots)]
        for_channel = [v for v in usable if v.channel and v.channel == channel]
        generic = [v for v in usable if not v.channel]
        pool = for_channel or generic
        if not pool:
            return None
        conditional = [v for v in pool if v.conditions]
        return self.rng.choice(conditional or pool)

    def render(
        self,
        name: str,
        slots: dict[str, Any],
        channel: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> BotUttered | None:
        variant = self.choose(name, slots, channel)
        if variant is None:
            return None
        values = {**slots, **(extra or {})}
        return render_variant(variant, values, name)


def render_variant(
    variant: ResponseVariant, values: dict[str, Any], name: str | None
) -> BotUttered:
    data: dict[str, Any] = {}
    if variant.buttons:
        data["buttons"] = [
            {"title": _fill(b.title, values), "payload": _fill(b.payload, values)}
            for b in variant.buttons
        ]
    for key, value in (
        ("image", variant.image),
        ("custom", variant.custom),
        ("attachment", variant.attachment),
    ):
        if value is not None:
            data[key] = _fill(value, values) if isinstance(value, str) else value
    data.update(variant.extra)
    text = _fill(variant.text, values) if variant.text is not None else None
    metadata = {"utter_action": name} if name else {}
    return BotUttered(text=text, data=data, metadata=metadata)
