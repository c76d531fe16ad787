"""Rasa's FallbackClassifier: low or ambiguous confidence becomes the `nlu_fallback` intent."""

from __future__ import annotations

from typing import ClassVar

from bot.nlu.component import Component, NLUMessage
from bot.nlu.types import IntentScore

NLU_FALLBACK = "nlu_fallback"


class FallbackClassifier(Component):
    name: ClassVar[str] = "FallbackClassifier"
    defaults: ClassVar[dict[str, object]] = {"threshold": 0.3, "ambiguity_threshold": 0.1}

    def process(self, message: NLUMessage) -> None:
        ranking = message.ranking
        if message.intent is None or not ranking:
            return
        threshold = float(self.config["threshold"])
        top = ranking[0].confidence
        second = ranking[1].confidence if len(ranking) > 1 else 0.0
        low = top < threshold
        ambiguous = (top - second) < float(self.config["ambiguity_threshold"])
        if low or ambiguous:
            message.intent = IntentScore(NLU_FALLBACK, threshold)
            message.ranking = [message.intent, *ranking]
