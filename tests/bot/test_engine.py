from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.dialogue.custom_actions import InProcessActionRunner
from bot.dialogue.events import (
    ActionExecuted,
    BotUttered,
    Event,
    KnowledgeBaseAnswered,
    SessionStarted,
    SlotSet,
    UserUttered,
    event_from_dict,
)
from bot.dialogue.tracker import Tracker
from bot.engine import MAX_TEXT_CHARS, Engine, TurnResult, outbound
from bot.kb.hook import KBResponder
from bot.kb.service import KnowledgeBase
from bot.messages import InboundMessage
from bot.model import TrainedModel
from bot.stores.base import TrackerStore
from bot.stores.memory import InMemoryTrackerStore
from bot.stores.sqlite import SQLiteTrackerStore

GREETINGS_ZH = {
    "您好，欢迎光临小知茶饮！请问今天想喝点什么？",
    "您好！我是小知，可以帮您点饮品，也可以解答门店的常见问题。",
}
GREETINGS_EN = {
    "Hello! I can book you a table. What would you like to do?",
    "Hi there, welcome to the booking desk. How can I help?",
}


async def turn(engine: Engine, text: str, conv: str = "c", **kw: object) -> TurnResult:
    msg = InboundMessage(channel="web", conversation_id=conv, text=text, **kw)  # type: ignore[arg-type]
    return await engine.handle_turn(msg)


def said(result: TurnResult) -> list[str]:
    return [m.text for m in result.messages if m.text]


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TrackerStore]:
    s: TrackerStore = (
        InMemoryTrackerStore()
        if request.param == "memory"
        else SQLiteTrackerStore(tmp_path / "t.db")
    )
    yield s
    await s.close()


# ------------------------------------------------------------------ end to end, free text
async def test_chinese_conversation_end_to_end(zh_model: TrainedModel, store: TrackerStore) -> None:
    engine = Engine(zh_model, store)
    assert said(await turn(engine, "你好"))[0] in GREETINGS_ZH
    assert said(await turn(engine, "你们几点开门")) == [
        "门店营业时间为每天上午十点至晚上十点，节假日照常营业。"
    ]
    ask = await turn(engine, "我要点单")
    assert said(ask) == ["请问您想点哪款饮品呢？"]
    assert said(await turn(engine, "杨枝甘露吧")) == ["请问您需要大杯、中杯还是小杯？"]
    assert said(await turn(engine, "中杯就行")) == ["请问甜度需要全糖、半糖、少糖还是无糖？"]
    done = await turn(engine, "不加糖")
    assert said(done) == ["好的，为您确认一下：杨枝甘露，中杯，无糖。", "请问确认下单吗？"]
    assert said(await turn(engine, "确认")) == ["已为您下单，请稍候取餐，感谢您的耐心等待。"]
    assert said(await turn(engine, "好的，拜拜")) == ["感谢您的光临，祝您生活愉快，再见！"]


async def test_english_conversation_end_to_end(en_model: TrainedModel, en_root: Path) -> None:
    engine = Engine(en_model, runner=InProcessActionRunner(en_root))
    assert said(await turn(engine, "hello there"))[0] in GREETINGS_EN
    first = await turn(engine, "I'd like a table for 4 at an italian place")
    slots = {e.key: e.value for e in first.events if isinstance(e, SlotSet)}
    assert slots["cuisine"] == "italian" and slots["party_size"] == 4.0
    assert said(first) == ["Where would you like to sit?"]
    assert said(await turn(engine, '/inform{"seating": "outdoor"}')) == [
        "Will anyone in your party need vegetarian dishes?"
    ]
    assert said(await turn(engine, "/deny")) == [
        "Is it a special occasion, such as a birthday or an anniversary?"
    ]
    await turn(engine, "it's for my mum's birthday")
    done = await turn(engine, "a high chair for the baby please")
    assert said(done)[0] == "Booking italian for 4.0, seating: outdoor, occasion: birthday."
    assert said(await turn(engine, "are you a bot?")) == ["I am a booking assistant, not a person."]


# ------------------------------------------------------------------ persistence
async def test_tracker_is_persisted_and_reloaded(
    zh_payload_model: TrainedModel, store: TrackerStore
) -> None:
    engine = Engine(zh_payload_model, store)
    await turn(engine, '/order_drink{"drink": "柠檬茶"}')
    stored = await store.load("c")
    assert stored is not None and stored.version == len(stored.events)
    assert [e["event"] for e in stored.events][:3] == ["action", "session_started", "action"]
    # a fresh engine over the same store carries on where the first one stopped
    again = Engine(zh_payload_model, store)
    assert said(await turn(again, '/inform{"size": "大杯"}')) == [
        "请问甜度需要全糖、半糖、少糖还是无糖？"
    ]
    tracker = await again.load_tracker("c")
    assert tracker.get_slot("drink") == "柠檬茶" and tracker.get_slot("size") == "大杯"
    assert tracker.active_loop == "drink_form"
    assert tracker.persisted == len(tracker.events)
    reread = [event_from_dict(e).to_dict() for e in (await store.load("c")).events]  # type: ignore[union-attr]
    assert reread == [e.to_dict() for e in tracker.events]


async def test_conversations_are_separate(
    zh_payload_model: TrainedModel, store: TrackerStore
) -> None:
    engine = Engine(zh_payload_model, store)
    await turn(engine, '/inform{"drink": "柠檬茶"}', conv="a")
    await turn(engine, "/greet", conv="b")
    assert (await engine.load_tracker("a")).get_slot("drink") == "柠檬茶"
    assert (await engine.load_tracker("b")).get_slot("drink") is None
    assert sorted(await store.conversation_ids()) == ["a", "b"]


async def test_concurrent_turns_of_one_conversation_never_interleave(
    zh_payload_model: TrainedModel, store: TrackerStore
) -> None:
    engine = Engine(zh_payload_model, store)
    texts = ["/greet", "/bot_challenge", "/goodbye", "/greet", "/bot_challenge", "/goodbye"]
    await asyncio.gather(*(turn(engine, t) for t in texts))
    stored = await store.load("c")
    assert stored is not None
    events = [event_from_dict(e) for e in stored.events]
    # each user message is followed by its own complete answer before the next one arrives
    blocks: list[list[Event]] = []
    for e in events:
        if isinstance(e, UserUttered):
            blocks.append([e])
        elif blocks:
            blocks[-1].append(e)
    assert len(blocks) == len(texts)
    expected = {
        "greet": "utter_greet",
        "bot_challenge": "utter_iamabot",
        "goodbye": "utter_goodbye",
    }
    for block in blocks:
        user = block[0]
        assert isinstance(user, UserUttered)
        names = [e.name for e in block if isinstance(e, ActionExecuted)]
        assert names == [expected[user.intent_name or ""], "action_listen"]
        assert sum(isinstance(e, BotUttered) for e in block) == 1
    assert sum(isinstance(e, SessionStarted) for e in events) == 1


# ------------------------------------------------------------------ sessions
async def age(store: TrackerStore, conv: str, seconds: float) -> None:
    stored = await store.load(conv)
    assert stored is not None
    old = [{**e, "timestamp": e["timestamp"] - seconds} for e in stored.events]
    await store.replace(conv, old)


async def test_session_expiry_starts_a_new_session(
    zh_payload_model: TrainedModel, store: TrackerStore
) -> None:
    engine = Engine(zh_payload_model, store)
    await turn(engine, '/order_drink{"drink": "柠檬茶"}')
    await age(store, "c", 31 * 60)  # zh_mini: 30 minutes, no carry-over
    result = await turn(engine, "/bot_challenge")
    assert isinstance(result.events[1], SessionStarted)
    tracker = await engine.load_tracker("c")
    assert tracker.get_slot("drink") is None and tracker.active_loop is None
    assert said(result) == ["您好，我是小知茶饮的智能客服助手，不是真人哦。"]


async def test_session_not_expired_within_the_limit(
    zh_payload_model: TrainedModel, store: TrackerStore
) -> None:
    engine = Engine(zh_payload_model, store)
    await turn(engine, '/order_drink{"drink": "柠檬茶"}')
    await age(store, "c", 29 * 60)
    result = await turn(engine, "/bot_challenge")
    assert not any(isinstance(e, SessionStarted) for e in result.events)
    assert (await engine.load_tracker("c")).get_slot("drink") == "柠檬茶"


async def test_new_session_carries_slots_over_when_configured(
    en_payload_model: TrainedModel, store: TrackerStore
) -> None:
    engine = Engine(en_payload_model, store)
    await turn(engine, '/book_table{"cuisine": "greek"}', metadata={"user": "u1"})
    await age(store, "c", 61 * 60)
    result = await turn(engine, "/greet", metadata={"user": "u1"})
    assert any(isinstance(e, SessionStarted) for e in result.events)
    tracker = await engine.load_tracker("c")
    assert tracker.get_slot("cuisine") == "greek"
    assert tracker.get_slot("session_started_metadata") == {"user": "u1"}
    assert said(result)[0] in GREETINGS_EN  # conversation_start rule applies in the new session


# ------------------------------------------------------------------ bad input never raises
BAD_INPUTS = [
    "",
    "   ",
    "好" * 100_000,
    "x" * 100_000,
    "😀😀🎉🙏",
    "\x00\x01\x02\x1b[31m\x7f",
    "你好hello ПРИВЕТ مرحبا 123",
    "\ud800\udfff孤立代理\udc00",
    b"\xff\xfe\xe4\xbd invalid \xc3".decode("utf-8", errors="replace"),
    "/",
    "/{}",
    '/order_drink{"drink": ',
    '/inform{"size": ["大杯", "小杯"]}',
    "\u202e\u200b\ufeff",
]


@pytest.mark.parametrize("text", BAD_INPUTS, ids=range(len(BAD_INPUTS)))
async def test_bad_input_through_the_engine(zh_model: TrainedModel, text: str) -> None:
    engine = Engine(zh_model)
    result = await turn(engine, text)
    assert isinstance(result.events[-1], ActionExecuted)
    assert result.events[-1].name == "action_listen"
    user = next(e for e in result.events if isinstance(e, UserUttered))
    assert user.text is not None and len(user.text) <= MAX_TEXT_CHARS
    assert "\x00" not in user.text
    user.text.encode("utf-8")  # stored text is always valid UTF-8
    json.dumps([e.to_dict() for e in result.events], ensure_ascii=False).encode("utf-8")
    assert said(await turn(engine, "你好"))  # and the conversation goes on


@pytest.mark.parametrize("text", BAD_INPUTS, ids=range(len(BAD_INPUTS)))
def test_bad_input_through_the_interpreter(zh_model: TrainedModel, text: str) -> None:
    parse = zh_model.interpreter.parse(text)
    assert isinstance(parse.intent.name, str)
    json.dumps(parse.to_dict(), ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize("text", BAD_INPUTS[:9], ids=range(9))
def test_bad_input_through_the_english_interpreter(en_model: TrainedModel, text: str) -> None:
    parse = en_model.interpreter.parse(text)
    json.dumps(parse.to_dict(), ensure_ascii=False).encode("utf-8")


def test_interpreter_accepts_bytes_and_non_strings(zh_model: TrainedModel) -> None:
    assert zh_model.interpreter.parse(b"\xff\xfe\xe4\xbd").text == "\ufffd\ufffd\ufffd"
    assert zh_model.interpreter.parse(None).text == "None"
    assert zh_model.interpreter.parse(12345).text == "12345"


async def test_button_payload_wins_over_text(zh_payload_model: TrainedModel) -> None:
    engine = Engine(zh_payload_model)
    result = await turn(engine, "大杯", payload="/bot_challenge")
    assert said(result) == ["您好，我是小知茶饮的智能客服助手，不是真人哦。"]


async def test_engine_parse_and_close(zh_payload_model: TrainedModel) -> None:
    engine = Engine(zh_payload_model)
    assert engine.parse('/inform{"size": "大杯"}').entities[0].value == "大杯"
    await engine.close()  # no runner: nothing to close


# ------------------------------------------------------------------ outbound rendering
def test_outbound_renders_every_kind() -> None:
    events: list[Event] = [
        BotUttered(
            text="请选择",
            data={
                "buttons": [{"title": "是", "payload": "/affirm"}],
                "image": "https://x/y.png",
                "custom": {"a": 1},
                "attachment": {"f": 1},
            },
        ),
        BotUttered(text=None),
        ActionExecuted(name="utter_x"),
    ]
    out = outbound(events)
    assert [m.kind for m in out] == ["buttons", "image", "custom", "custom"]
    assert out[0].buttons[0].key == "1" and out[0].buttons[0].payload == "/affirm"
    assert out[1].url == "https://x/y.png"
    assert out[2].metadata == {"custom": {"a": 1}}
    assert out[3].metadata == {"custom": {"attachment": {"f": 1}}}


# ------------------------------------------------------------------ knowledge base
TEA_FAQ = Path(__file__).parents[1] / "fixtures" / "kb" / "tea_faq.yml"


@pytest.fixture
def tea_kb(tmp_path: Path) -> Iterator[KBResponder]:
    import shutil

    (tmp_path / "kb").mkdir()
    shutil.copy(TEA_FAQ, tmp_path / "kb" / "faq.yml")
    hook = KBResponder(KnowledgeBase.open(tmp_path))
    yield hook
    hook.close()


def kb_events(result: TurnResult) -> list[KnowledgeBaseAnswered]:
    return [e for e in result.events if isinstance(e, KnowledgeBaseAnswered)]


async def test_unclaimed_question_is_answered_from_the_kb(
    zh_model: TrainedModel, tea_kb: KBResponder
) -> None:
    engine = Engine(zh_model, kb=tea_kb)
    result = await turn(engine, "积分能换什么东西")  # zh_mini's NLU: nlu_fallback
    assert [e.entry_id for e in kb_events(result)] == ["faq_points"]
    actions = [e.name for e in result.events if isinstance(e, ActionExecuted)]
    assert actions == [*actions[:-2], "action_knowledge_base", "action_listen"]
    assert any("100积分可抵扣1元" in t for t in said(result))
    tracker = await engine.load_tracker("c")  # the KB event is stored with the turn
    assert any(isinstance(e, KnowledgeBaseAnswered) for e in tracker.events)


async def test_retrieval_intent_faq_still_answers_before_the_kb(
    zh_model: TrainedModel, tea_kb: KBResponder
) -> None:
    engine = Engine(zh_model, kb=tea_kb)
    result = await turn(engine, "可以用微信付款吗")  # data/faq.yml: faq/payment
    assert kb_events(result) == []
    assert said(result)


async def test_clarification_button_leads_to_the_chosen_answer(
    zh_model: TrainedModel, tea_kb: KBResponder
) -> None:
    from dataclasses import replace

    tea_kb.kb.settings = replace(tea_kb.kb.settings, answer_threshold=1.0, clarify_threshold=0.0)
    engine = Engine(zh_model, kb=tea_kb)
    first = await turn(engine, "积分和发票")
    menu = [m for m in first.messages if m.buttons]
    assert menu and menu[0].text == "您是想问以下哪个问题？"
    button = menu[0].buttons[0]
    second = await turn(engine, button.title, payload=button.payload)
    answered = kb_events(second)
    assert answered and answered[0].outcome == "answer"
    assert answered[0].query == "积分和发票"
    assert answered[0].entry_id and button.payload.endswith(f'"{answered[0].entry_id}"}}')


async def test_a_number_answers_the_numbered_menu(
    zh_model: TrainedModel, tea_kb: KBResponder
) -> None:
    from dataclasses import replace

    tea_kb.kb.settings = replace(tea_kb.kb.settings, answer_threshold=1.0, clarify_threshold=0.0)
    engine = Engine(zh_model, kb=tea_kb)
    first = await turn(engine, "积分和发票")
    menu = next(m for m in first.messages if m.buttons)
    second = await turn(engine, "２")  # as typed on WeChat, where buttons are a numbered list
    answered = kb_events(second)
    assert answered and answered[0].outcome == "answer"
    assert menu.buttons[1].payload.endswith(f'"{answered[0].entry_id}"}}')
    user = [e for e in second.events if isinstance(e, UserUttered)][-1]
    assert user.text == menu.buttons[1].payload and user.metadata["display_text"] == "２"
    third = await turn(engine, "２")  # no menu any more: just text
    assert [e.text for e in third.events if isinstance(e, UserUttered)] == ["２"]


async def test_nothing_matching_falls_back_as_before(
    zh_model: TrainedModel, tea_kb: KBResponder
) -> None:
    from dataclasses import replace

    tea_kb.kb.settings = replace(tea_kb.kb.settings, answer_threshold=1.0, clarify_threshold=1.0)
    engine = Engine(zh_model, kb=tea_kb)
    result = await turn(engine, "积分和发票")  # nlu_fallback, and the KB passes
    assert kb_events(result) == []
    assert any(
        isinstance(e, ActionExecuted) and e.name == "action_two_stage_fallback"
        for e in result.events
    )


# ------------------------------------------------------------------ tracker cache
async def test_cached_tracker_sees_turns_taken_by_another_worker(
    zh_model: TrainedModel, tmp_path: Path
) -> None:
    first, second = SQLiteTrackerStore(tmp_path / "t.db"), SQLiteTrackerStore(tmp_path / "t.db")
    a, b = Engine(zh_model, first), Engine(zh_model, second)
    try:
        await turn(a, "你好", conv="shared")
        assert len(a.cache) == 1
        await turn(b, "我要一杯奶茶", conv="shared")  # the other worker
        await turn(a, "大杯", conv="shared")
        fresh = await a.load_tracker("shared")
        cached = a.cache.take("shared")
        assert cached is not None

        def shape(t: Tracker) -> list[tuple[str, object]]:
            return [
                (e.type_name, e.to_dict().get("text") or e.to_dict().get("name")) for e in t.events
            ]

        assert shape(cached) == shape(fresh) and cached.slots == fresh.slots
        texts = [e.text for e in fresh.events if isinstance(e, UserUttered)]
        assert texts == ["你好", "我要一杯奶茶", "大杯"]
    finally:
        await first.close()
        await second.close()


async def test_failed_save_drops_the_cached_tracker(zh_model: TrainedModel, tmp_path: Path) -> None:
    store = SQLiteTrackerStore(tmp_path / "t.db")
    engine = Engine(zh_model, store)
    try:
        await turn(engine, "你好", conv="c1")
        await store.append("c1", [{"event": "slot", "name": "x", "value": 1}], expected_version=999)
    except Exception:
        pass
    try:
        await store.replace("c1", [])  # rewritten behind the engine's back
        result = await turn(engine, "你好", conv="c1")
        assert said(result)
        tracker = await engine.load_tracker("c1")
        assert sum(isinstance(e, UserUttered) for e in tracker.events) == 1
    finally:
        await store.close()
