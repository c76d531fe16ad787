"""Retrieval intents (`faq/ask_price`): Rasa's ResponseSelector, on top of the intent model.

The intent classifier is trained on full keys (`faq/ask_price`); this component folds the
result back to the base intent (`faq`) and records the full key for `utter_faq`.
"""

from __future__ import annotations

from typing import ClassVar

from bot.nlu.component import Component, NLUMessage
from bot.nlu.types import IntentScore


class ResponseSelector(Component):
    name: ClassVar[str] = "ResponseSelector"

    def fold(self, message: NLUMessage) -> dict[str, IntentScore]:
        """Fold `faq/x` scores into `faq`, returning the best full key per base intent."""
        retrieval: dict[str, IntentScore] = {}
        merged: dict[str, float] = {}
        for score in message.ranking:
            base, sep, _ = score.name.partition("/")
            if sep and base not in retrieval:
                retrieval[base] = score
            merged[base] = merged.get(base, 0.0) + score.confidence
        ranking = sorted(
            (IntentScore(n, c) for n, c in merged.items()), key=lambda s: -s.confidence
        )
        message.ranking = ranking
        if message.intent is not None:
            base = message.intent.name.partition("/")[0]
            message.intent = IntentScore(base, merged.get(base, message.intent.confidence))
        return retrieval
