"""Picking an ASR alternative the NLU understands clearly better than the top hypothesis."""

from __future__ import annotations

from bot.engine import Engine
from bot.messages import InboundMessage
from bot.model import TrainedModel
from bot.nlu.nbest import choose
from bot.nlu.types import IntentScore, ParseResult

SCORES = {
    "查化肥": ("nlu_fallback", 0.9),
    "差话费": ("chitchat", 0.4),
    "查话费": ("query_bill", 0.95),
}


def fake_parse(text: str) -> ParseResult:
    name, confidence = SCORES.get(text, ("nlu_fallback", 1.0))
    return ParseResult(text=text, intent=IntentScore(name, confidence))


def test_a_clearly_better_alternative_wins() -> None:
    first = ParseResult(text="差话费", intent=IntentScore("chitchat", 0.4))
    picked = choose(fake_parse, first, [("差话费", 0.8), ("查化肥", 0.7), ("查话费", 0.6)])
    assert (picked.text, picked.index) == ("查话费", 2)


def test_the_top_hypothesis_stays_unless_beaten_by_the_margin() -> None:
    first = ParseResult(text="差话费", intent=IntentScore("chitchat", 0.9))
    picked = choose(fake_parse, first, [("差话费", 0.8), ("查话费", 0.7)])
    assert picked.index == 0  # 0.95 is not 0.15 better than 0.9
    unlikely = ParseResult(text="差话费", intent=IntentScore("chitchat", 0.4))
    far = choose(fake_parse, unlikely, [("差话费", 0.9), ("查话费", 0.2)])
    assert far.index == 0  # the recogniser thought the alternative unlikely
    assert choose(fake_parse, unlikely, [("差话费", 0.9)]).index == 0


async def test_the_engine_understands_the_better_alternative(zh_model: TrainedModel) -> None:
    engine = Engine(zh_model)
    message = InboundMessage(
        channel="voice",
        conversation_id="call-nbest",
        text="泥石鸡汽人嘛",
        asr_nbest=[("泥石鸡汽人嘛", 0.6), ("你是机器人吗", 0.55)],
    )
    result = await engine.handle_turn(message)
    user = [e for e in result.events if getattr(e, "intent_name", None)][-1]
    assert user.intent_name == "bot_challenge"  # type: ignore[attr-defined]
    assert user.metadata["asr_top"] == "泥石鸡汽人嘛"  # type: ignore[attr-defined]
