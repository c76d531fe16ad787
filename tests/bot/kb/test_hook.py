"""KBResponder: answers, clarification buttons that come back as answers, feedback."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot.dialogue.events import BotUttered, Event, KnowledgeBaseAnswered, UserUttered
from bot.dialogue.tracker import Tracker
from bot.kb.hook import (
    CLARIFY_TEXT,
    SORRY_TEXT,
    KBResponder,
    answer_payload,
    feedback_payload,
)
from bot.kb.service import KnowledgeBase
from bot.nlu.payload import parse_payload
from bot.nlu.types import IntentScore, ParseResult

TEA = Path(__file__).parents[2] / "fixtures" / "kb" / "tea_faq.yml"


@pytest.fixture
def responder(tmp_path: Path) -> Iterator[KBResponder]:
    (tmp_path / "kb").mkdir()
    shutil.copy(TEA, tmp_path / "kb" / "faq.yml")
    hook = KBResponder(KnowledgeBase.open(tmp_path))
    yield hook
    hook.close()


def text(message: str, intent: str = "nlu_fallback", confidence: float = 0.2) -> ParseResult:
    return ParseResult(text=message, intent=IntentScore(intent, confidence))


def payload(message: str) -> ParseResult:
    parsed = parse_payload(message)
    assert parsed is not None
    return parsed


def tracker(*events: Event) -> Tracker:
    return Tracker("kb-test", {}, list(events))


def bot_of(events: list[Event] | None) -> BotUttered:
    assert events
    return next(e for e in events if isinstance(e, BotUttered))


def kb_of(events: list[Event] | None) -> KnowledgeBaseAnswered:
    assert events
    return next(e for e in events if isinstance(e, KnowledgeBaseAnswered))


async def test_answers_a_paraphrase_with_the_entry(responder: KBResponder) -> None:
    events = await responder.answer(tracker(), text("积分可以抵扣吗"), "webchat", claimed=False)
    record = kb_of(events)
    assert (record.outcome, record.entry_id) == ("answer", "faq_points")
    assert record.score is not None and record.query == "积分可以抵扣吗"
    assert "100积分可抵扣1元" in (bot_of(events).text or "")
    assert bot_of(events).metadata["kb"]["entry_id"] == "faq_points"


async def test_rich_answer_keeps_buttons_and_link(responder: KBResponder) -> None:
    events = await responder.answer(tracker(), text("有没有外卖配送"), "webchat", claimed=False)
    data = bot_of(events).data
    assert data["buttons"] == [{"title": "我要点单", "payload": "/order_drink"}]
    assert data["custom"]["url"] == "https://www.example.com/delivery"


async def test_voice_gets_the_short_spoken_answer(responder: KBResponder) -> None:
    events = await responder.answer(tracker(), text("晚上几点关门"), "voice", claimed=False)
    assert bot_of(events).text == "门店每天早上九点到晚上十点营业。"


async def test_clarifies_between_thresholds_and_the_button_answers(responder: KBResponder) -> None:
    kb = responder.kb
    kb.settings = replace(kb.settings, answer_threshold=1.0, clarify_threshold=0.0)
    events = await responder.answer(tracker(), text("发票和积分"), "webchat", claimed=False)
    message = bot_of(events)
    assert message.text == CLARIFY_TEXT
    buttons = message.data["buttons"]
    assert 1 <= len(buttons) <= 3
    assert kb_of(events).outcome == "clarify" and kb_of(events).query == "发票和积分"
    chosen = buttons[0]["payload"]
    history = tracker(UserUttered(text="发票和积分"), *events)
    answered = await responder.answer(history, payload(chosen), "webchat", claimed=False)
    record = kb_of(answered)
    assert record.outcome == "answer" and answer_payload(record.entry_id or "") == chosen
    assert record.query == "发票和积分" and record.score == 1.0


async def test_voice_clarification_is_a_numbered_menu(responder: KBResponder) -> None:
    kb = responder.kb
    kb.settings = replace(kb.settings, answer_threshold=1.0, clarify_threshold=0.0)
    events = await responder.answer(tracker(), text("发票和积分"), "voice", claimed=False)
    spoken = bot_of(events).text or ""
    assert spoken.startswith("您是想问以下哪个问题？") and "1，" in spoken


async def test_passes_below_the_clarify_threshold(responder: KBResponder) -> None:
    kb = responder.kb
    kb.settings = replace(kb.settings, answer_threshold=1.0, clarify_threshold=1.0)
    assert await responder.answer(tracker(), text("积分可以抵扣吗"), "webchat", False) is None


async def test_a_confident_intent_keeps_the_message(responder: KBResponder) -> None:
    parse = text("积分可以抵扣吗", intent="order_drink", confidence=0.999)
    assert await responder.answer(tracker(), parse, "webchat", claimed=True) is None
    kb = responder.kb
    kb.settings = replace(kb.settings, override_intent_below=0.5)
    weaker = text("积分可以抵扣吗", intent="order_drink", confidence=0.6)
    assert await responder.answer(tracker(), weaker, "webchat", claimed=True) is None


async def test_a_clear_answer_beats_a_weak_intent(responder: KBResponder) -> None:
    kb = responder.kb
    kb.settings = replace(kb.settings, answer_threshold=0.0, override_intent_below=0.6)
    parse = text("会员积分怎么用？", intent="order_drink", confidence=0.3)
    events = await responder.answer(tracker(), parse, "webchat", claimed=True)
    assert kb_of(events).entry_id == "faq_points"


async def test_unsolved_after_an_answer_is_recorded(responder: KBResponder) -> None:
    answered = await responder.answer(tracker(), text("积分可以抵扣吗"), "webchat", False)
    assert answered
    history = tracker(UserUttered(text="积分可以抵扣吗"), *answered, UserUttered(text="没有解决"))
    events = await responder.answer(history, text("没有解决"), "webchat", claimed=True)
    assert kb_of(events).outcome == "feedback"
    assert bot_of(events).text == SORRY_TEXT
    assert bot_of(events).data["buttons"][0]["payload"] == "/request_human"
    rows = responder.kb.store.feedback("faq_points")
    assert [(r.kind, r.query, r.conversation_id) for r in rows] == [
        ("unsolved", "积分可以抵扣吗", "kb-test")
    ]


async def test_unsolved_words_without_an_answer_are_ordinary_text(responder: KBResponder) -> None:
    kb = responder.kb
    kb.settings = replace(kb.settings, answer_threshold=1.0, clarify_threshold=1.0)
    assert await responder.answer(tracker(), text("没有解决"), "webchat", claimed=False) is None


async def test_thumbs_down_payload_is_recorded(responder: KBResponder) -> None:
    answered = await responder.answer(tracker(), text("能开发票吗"), "webchat", False)
    history = tracker(UserUttered(text="能开发票吗"), *(answered or []))
    down = payload(feedback_payload("faq_invoice", helpful=False))
    events = await responder.answer(history, down, "webchat", claimed=False)
    assert kb_of(events).outcome == "feedback" and bot_of(events).text == SORRY_TEXT
    up = payload(feedback_payload("faq_invoice", helpful=True))
    await responder.answer(history, up, "webchat", claimed=False)
    kinds = sorted(r.kind for r in responder.kb.store.feedback("faq_invoice"))
    assert kinds == ["thumbs_down", "thumbs_up"]


async def test_unknown_entry_in_a_payload_passes(responder: KBResponder) -> None:
    events = await responder.answer(tracker(), payload(answer_payload("nope")), "webchat", False)
    assert events is None
