"""Forms through the real engine: payload messages (exact intents), real rasa_sdk validation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.dialogue.actions import ActionContext
from bot.dialogue.custom_actions import InProcessActionRunner
from bot.dialogue.events import (
    ActionExecuted,
    ActionExecutionRejected,
    ActiveLoop,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from bot.dialogue.forms import ActionRejected, FormAction
from bot.dialogue.nlg import NLG
from bot.dialogue.tracker import Tracker
from bot.engine import Engine, TurnResult
from bot.messages import InboundMessage
from bot.model import TrainedModel
from bot.project.domain import Domain, Form, ResponseVariant, Slot

MakeUser = Callable[..., UserUttered]


async def turn(engine: Engine, text: str, conv: str = "c") -> TurnResult:
    return await engine.handle_turn(InboundMessage(channel="rest", conversation_id=conv, text=text))


def said(result: TurnResult) -> list[str]:
    return [m.text for m in result.messages if m.text]


def slot_events(result: TurnResult) -> list[tuple[str, object]]:
    return [(e.key, e.value) for e in result.events if isinstance(e, SlotSet)]


def rejected(result: TurnResult) -> bool:
    return any(isinstance(e, ActionExecutionRejected) for e in result.events)


@pytest.fixture
def zh_engine(zh_payload_model: TrainedModel) -> Engine:
    return Engine(zh_payload_model)


@pytest.fixture(scope="module")
def en_runner(en_root: Path) -> InProcessActionRunner:
    return InProcessActionRunner(en_root)


@pytest.fixture
def en_engine(en_payload_model: TrainedModel, en_runner: InProcessActionRunner) -> Engine:
    return Engine(en_payload_model, runner=en_runner)


# ------------------------------------------------------------------ without validate_<form>
async def test_form_asks_slot_by_slot_then_submits(zh_engine: Engine) -> None:
    first = await turn(zh_engine, "/order_drink")
    assert said(first) == ["请问您想点哪款饮品呢？"]
    assert ("requested_slot", "drink") in slot_events(first)
    assert any(isinstance(e, ActiveLoop) and e.name == "drink_form" for e in first.events)
    size = await turn(zh_engine, '/inform{"drink": "杨枝甘露"}')
    assert said(size) == ["请问您需要大杯、中杯还是小杯？"]
    assert [b.title for b in size.messages[0].buttons] == ["大杯", "中杯", "小杯"]
    assert slot_events(size)[-1] == ("requested_slot", "size")
    sweet = await turn(zh_engine, '/inform{"size": "中杯"}')
    assert said(sweet) == ["请问甜度需要全糖、半糖、少糖还是无糖？"]
    done = await turn(zh_engine, '/inform{"sweetness": "无糖"}')
    assert said(done) == ["好的，为您确认一下：杨枝甘露，中杯，无糖。", "请问确认下单吗？"]
    assert ("requested_slot", None) in slot_events(done)
    tracker = await zh_engine.load_tracker("c")
    assert tracker.active_loop is None
    placed = await turn(zh_engine, "/affirm")
    assert said(placed) == ["已为您下单，请稍候取餐，感谢您的耐心等待。"]


async def test_form_with_everything_given_up_front_submits_at_once(zh_engine: Engine) -> None:
    result = await turn(
        zh_engine, '/order_drink{"drink": "柠檬茶", "size": "大杯", "sweetness": "全糖"}'
    )
    assert said(result) == ["好的，为您确认一下：柠檬茶，大杯，全糖。", "请问确认下单吗？"]
    loops = [e.name for e in result.events if isinstance(e, ActiveLoop)]
    assert loops == ["drink_form", None]


async def test_form_skips_slots_already_filled(zh_engine: Engine) -> None:
    result = await turn(zh_engine, '/order_drink{"drink": "柠檬茶"}')
    assert said(result) == ["请问您需要大杯、中杯还是小杯？"]


async def test_rejection_when_nothing_is_filled_then_interruption_and_resume(
    zh_engine: Engine,
) -> None:
    await turn(zh_engine, "/order_drink")
    result = await turn(zh_engine, "/bot_challenge")
    assert rejected(result)
    assert said(result) == [
        "您好，我是小知茶饮的智能客服助手，不是真人哦。",
        "请问您想点哪款饮品呢？",
    ]
    tracker = await zh_engine.load_tracker("c")
    assert tracker.active_loop == "drink_form"
    assert tracker.get_slot("requested_slot") == "drink"
    # and the form carries on afterwards
    nxt = await turn(zh_engine, '/inform{"drink": "珍珠奶茶"}')
    assert not rejected(nxt)
    assert said(nxt) == ["请问您需要大杯、中杯还是小杯？"]


async def test_faq_inside_the_form_uses_the_interrupt_rule(zh_engine: Engine) -> None:
    await turn(zh_engine, '/order_drink{"drink": "抹茶拿铁"}')
    result = await turn(zh_engine, "/faq")  # no retrieval key from a bare payload: utter_default
    assert rejected(result)
    assert said(result)[-1] == "请问您需要大杯、中杯还是小杯？"
    actions = [e.name for e in result.events if isinstance(e, ActionExecuted)]
    assert actions == ["utter_faq", "drink_form", "action_listen"]


async def test_an_unrelated_slot_filled_during_the_form_counts(zh_engine: Engine) -> None:
    await turn(zh_engine, "/order_drink")
    result = await turn(zh_engine, '/inform{"size": "小杯"}')  # asked for drink, got size
    assert not rejected(result)
    assert said(result) == ["请问您想点哪款饮品呢？"]


# ------------------------------------------------------------------ with validate_<form>
async def test_validation_accepts_and_normalises(en_engine: Engine) -> None:
    first = await turn(en_engine, '/book_table{"cuisine": "Greek", "number": 4}')
    assert ("cuisine", "greek") in slot_events(first)  # validate_cuisine lower-cases
    assert ("party_size", 4.0) in slot_events(first)
    assert said(first) == ["Where would you like to sit?"]
    assert ("booking_source", "chat") in slot_events(first)


async def test_invalid_value_is_reset_and_asked_again(en_engine: Engine) -> None:
    await turn(en_engine, "/book_table")
    result = await turn(en_engine, '/inform{"cuisine": "klingon"}')
    assert not rejected(result)
    assert said(result) == [
        "Sorry, we don't serve that cuisine. Please pick another one.",
        "Which cuisine would you like?",
    ]
    assert slot_events(result)[-2:] == [("cuisine", None), ("requested_slot", "cuisine")]
    size = await turn(en_engine, '/inform{"cuisine": "thai", "number": 50}')
    assert said(size) == [
        "We can seat between 1 and 20 guests. How many will you be?",
        "For how many people?",
    ]
    tracker = await en_engine.load_tracker("c")
    assert tracker.get_slot("cuisine") == "thai" and tracker.get_slot("party_size") is None


async def test_full_booking_with_custom_extraction_and_submit(en_engine: Engine) -> None:
    await turn(en_engine, '/book_table{"cuisine": "italian", "number": 2}')
    await turn(en_engine, '/inform{"seating": "bar"}')
    occasion = await turn(en_engine, "/affirm")  # vegetarian: from_intent with conditions
    assert ("vegetarian", True) in slot_events(occasion)
    assert said(occasion) == ["Is it a special occasion, such as a birthday or an anniversary?"]
    notes = await turn(en_engine, "it's our anniversary")  # text: extract_occasion in the SDK
    assert ("occasion", "anniversary") in slot_events(notes)
    assert said(notes) == ["Any other requests for the kitchen or the staff?"]
    done = await turn(en_engine, "/deny")
    assert ("notes", "no special requests") in slot_events(done)
    texts = said(done)
    assert texts[0] == "Booking italian for 2.0, seating: bar, occasion: anniversary."
    assert texts[1].startswith("Your table is booked. Reference: ZK-")
    tracker = await en_engine.load_tracker("c")
    assert tracker.active_loop is None and tracker.get_slot("requested_slot") is None
    assert tracker.get_slot("booking_ref") == texts[1].removeprefix(
        "Your table is booked. Reference: "
    ).rstrip(".")


async def test_rejection_with_a_validator_when_nothing_is_filled(en_engine: Engine) -> None:
    await turn(en_engine, "/book_table")
    result = await turn(en_engine, "/chitchat")  # an ignored intent: fills nothing
    assert rejected(result)
    assert said(result) == [
        "I'm just a booking assistant, but thanks for asking!",
        "Which cuisine would you like?",
    ]


async def test_stop_then_deny_deactivates_the_form(en_engine: Engine) -> None:
    await turn(en_engine, "/book_table")
    ask = await turn(en_engine, "/stop")
    assert said(ask) == ["Do you want to continue with the booking?"]
    result = await turn(en_engine, "/deny")
    names = [e.name for e in result.events if isinstance(e, ActionExecuted)]
    assert "action_deactivate_loop" in names
    tracker = await en_engine.load_tracker("c")
    assert tracker.active_loop is None and tracker.get_slot("requested_slot") is None


async def test_stop_then_affirm_continues_the_form(en_engine: Engine) -> None:
    await turn(en_engine, "/book_table")
    await turn(en_engine, "/stop")
    result = await turn(en_engine, "/affirm")
    assert said(result) == ["Which cuisine would you like?"]


# ------------------------------------------------------------------ FormAction directly
def small_domain(**responses: str) -> Domain:
    return Domain(
        slots={"a": Slot("a"), "b": Slot("b"), "requested_slot": Slot("requested_slot", "any")},
        forms={"f": Form("f", ["a", "b"])},
        responses={k: [ResponseVariant(text=v)] for k, v in responses.items()},
    )


def ctx_for(domain: Domain, *events: Event) -> ActionContext:
    start = [
        ActionExecuted(name="action_session_start"),
        SessionStarted(),
        ActionExecuted(name="action_listen"),
    ]
    tracker = Tracker("t", domain.slots, [*start, *events])
    return ActionContext(tracker, domain, NLG.create(domain, seed=0))


async def test_form_specific_question_beats_the_generic_one(make_user: MakeUser) -> None:
    domain = small_domain(utter_ask_a="通用问题", utter_ask_f_a="表单专用问题")
    events = await FormAction("f").run(ctx_for(domain, make_user("start")))
    texts = [getattr(e, "text", None) for e in events]
    assert "表单专用问题" in texts and "通用问题" not in texts


async def test_form_without_a_question_still_requests_the_slot(make_user: MakeUser) -> None:
    events = await FormAction("f").run(ctx_for(small_domain(), make_user("start")))
    assert [type(e) for e in events] == [ActiveLoop, SlotSet]
    assert isinstance(events[-1], SlotSet) and events[-1].value == "a"


async def test_form_raises_rejection_when_the_answer_fills_nothing(make_user: MakeUser) -> None:
    domain = small_domain(utter_ask_a="A?")
    ctx = ctx_for(
        domain,
        make_user("start"),
        ActionExecuted(name="f"),
        ActiveLoop(name="f"),
        SlotSet(key="requested_slot", value="a"),
        ActionExecuted(name="action_listen"),
        make_user("other"),
    )
    with pytest.raises(ActionRejected):
        await FormAction("f").run(ctx)


async def test_failing_validator_ends_the_form_politely(make_user: MakeUser) -> None:
    domain = small_domain(utter_ask_a="A?")
    domain.actions.append("validate_f")  # declared, but there is no action runner
    ctx = ctx_for(domain, make_user("start"), SlotSet(key="a", value="x"))
    events = await FormAction("f").run(ctx)
    assert any(getattr(e, "metadata", {}).get("error") for e in events)
    assert any(isinstance(e, ActiveLoop) and e.name is None for e in events)
