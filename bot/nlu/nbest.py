"""Choosing among the recogniser's n-best hypotheses: the top one unless an alternative the
recogniser found nearly as likely is understood clearly better.

ASR on the phone often gets a word wrong in a way the NLU cannot parse ("查化肥") while its
second guess ("查话费") is the caller's request. Each alternative within `min_ratio` of the
top's ASR confidence is parsed; the one with the best intent confidence wins when it beats
the top hypothesis by `margin` and is not a fallback.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.nlu.types import ParseResult

FALLBACK = "nlu_fallback"


@dataclass(frozen=True, slots=True)
class Choice:
    text: str
    parse: ParseResult
    index: int  # which hypothesis (0 = the recogniser's top one)


def choose(
    parse: Callable[[str], ParseResult],
    first: ParseResult,
    nbest: Sequence[tuple[str, float]],
    *,
    limit: int = 4,
    min_ratio: float = 0.5,
    margin: float = 0.15,
) -> Choice:
    best = Choice(first.text, first, 0)
    if len(nbest) < 2:
        return best
    top = max(nbest[0][1], 1e-6)
    for index, (text, confidence) in enumerate(nbest[1:limit], start=1):
        if not text.strip() or text == first.text or confidence / top < min_ratio:
            continue
        parsed = parse(text)
        if parsed.intent.name == FALLBACK:
            continue
        if parsed.intent.confidence >= best.parse.intent.confidence + margin:
            best = Choice(text, parsed, index)
    return best
