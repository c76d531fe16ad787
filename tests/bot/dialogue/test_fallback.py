"""Two-stage fallback through the engine (zh_mini has no nlu_fallback rule of its own)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.dialogue.actions import ActionContext
from bot.dialogue.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    Handoff,
    SessionStarted,
    UserUttered,
)
from bot.dialogue.fallback import (
    MAX_CHOICES,
    NAME,
    AskAffirmationAction,
    TwoStageFallbackAction,
    affirmation_buttons,
)
from bot.dialogue.nlg import NLG
from bot.dialogue.tracker import Tracker
from bot.engine import Engine, TurnResult
from bot.messages import InboundMessage
from bot.model import TrainedModel
from bot.project.loader import Project

MakeUser = Callable[..., UserUttered]
GIBBERISH = "嗯那个就是说吧"  # the payload-only model understands no free text: nlu_fallback


async def turn(engine: Engine, text: str) -> TurnResult:
    return await engine.handle_turn(InboundMessage(channel="web", conversation_id="c", text=text))


@pytest.fixture
def engine(zh_payload_model: TrainedModel) -> Engine:
    return Engine(zh_payload_model)


async def test_not_understood_offers_choices(engine: Engine) -> None:
    result = await turn(engine, GIBBERISH)
    [msg] = result.messages
    assert msg.kind == "buttons" and msg.text == "您是想问以下哪个问题？"
    assert msg.buttons[-1].title == "都不是"
    assert any(isinstance(e, ActiveLoop) and e.name == NAME for e in result.events)


async def test_choosing_a_button_replays_the_message_with_that_intent(engine: Engine) -> None:
    await turn(engine, GIBBERISH)
    result = await turn(engine, "/greet")
    assert [m.text for m in result.messages] == [
        "您好，欢迎光临小知茶饮！请问今天想喝点什么？"
    ] or [m.text for m in result.messages] == [
        "您好！我是小知，可以帮您点饮品，也可以解答门店的常见问题。"
    ]
    tracker = await engine.load_tracker("c")
    assert tracker.active_loop is None
    latest = tracker.latest_message
    assert latest is not None and latest.intent_name == "greet"
    assert latest.text == GIBBERISH  # the customer's words, now understood
    assert latest.metadata["clarified_from"] == GIBBERISH
    # the fallback turns are reverted: the applied history is one clean turn
    users = [e for e in tracker.session_events() if isinstance(e, UserUttered)]
    assert [u.intent_name for u in users] == ["greet"]


async def test_clarified_message_can_start_a_form(engine: Engine) -> None:
    await turn(engine, GIBBERISH)
    result = await turn(engine, '/order_drink{"drink": "柠檬茶"}')
    assert [m.text for m in result.messages] == ["请问您需要大杯、中杯还是小杯？"]
    tracker = await engine.load_tracker("c")
    assert tracker.active_loop == "drink_form" and tracker.get_slot("drink") == "柠檬茶"


async def test_none_of_these_asks_to_rephrase_then_an_understood_rephrase_goes_on(
    engine: Engine,
) -> None:
    await turn(engine, GIBBERISH)
    rephrase = await turn(engine, "/out_of_scope")  # the “都不是” button
    assert [m.text for m in rephrase.messages] == [
        "不好意思，我没太明白，麻烦您换个说法再说一遍好吗？"
    ]
    result = await turn(engine, "/bot_challenge")
    assert [m.text for m in result.messages] == ["您好，我是小知茶饮的智能客服助手，不是真人哦。"]
    tracker = await engine.load_tracker("c")
    assert tracker.active_loop is None
    assert [u.intent_name for u in tracker.session_events() if isinstance(u, UserUttered)] == [
        "bot_challenge"
    ]


async def test_still_not_understood_hands_off_with_reason_fallback(engine: Engine) -> None:
    await turn(engine, GIBBERISH)
    await turn(engine, "/out_of_scope")
    result = await turn(engine, "还是那个事情")
    kinds = [m.kind for m in result.messages]
    assert kinds == ["text", "handoff"]
    assert result.messages[0].text == "已为您记录，稍后会有人工客服与您联系，请您稍候。"
    assert result.messages[1].metadata == {"reason": "fallback"}
    [handoff] = [e for e in result.events if isinstance(e, Handoff)]
    assert handoff.to_dict()["event"] == "handoff" and handoff.reason == "fallback"
    tracker = await engine.load_tracker("c")
    assert tracker.active_loop is None
    # the conversation goes on normally afterwards
    after = await turn(engine, "/goodbye")
    assert [m.text for m in after.messages] == ["感谢您的光临，祝您生活愉快，再见！"]


async def test_a_second_not_understood_message_asks_to_rephrase(engine: Engine) -> None:
    await turn(engine, GIBBERISH)
    result = await turn(engine, "还是不懂")
    assert [m.text for m in result.messages] == [
        "不好意思，我没太明白，麻烦您换个说法再说一遍好吗？"
    ]


async def test_project_rule_for_nlu_fallback_takes_precedence(
    en_payload_model: TrainedModel,
) -> None:
    engine = Engine(en_payload_model)  # en_restaurant: nlu_fallback -> utter_ask_rephrase
    result = await engine.handle_turn(
        InboundMessage(channel="web", conversation_id="e", text="/nlu_fallback")
    )
    assert [m.text for m in result.messages] == [
        "Sorry, I didn't quite get that. Could you rephrase?"
    ]
    assert not any(isinstance(e, ActiveLoop) for e in result.events)


# ------------------------------------------------------------------ buttons
def ctx(project: Project, user: UserUttered, labels: dict[str, str] | None = None) -> ActionContext:
    tracker = Tracker(
        "t",
        project.domain.slots,
        [
            ActionExecuted(name="action_session_start"),
            SessionStarted(),
            ActionExecuted(name="action_listen"),
            user,
        ],
    )
    return ActionContext(
        tracker,
        project.domain,
        NLG.create(project.domain, seed=0),
        extras={"intent_labels": labels or {}},
    )


def test_buttons_list_the_top_intents_labelled_by_examples(
    zh_project: Project, make_user: MakeUser, zh_payload_model: TrainedModel
) -> None:
    ranking = [
        ("nlu_fallback", 0.4),
        ("order_drink", 0.35),
        ("restart", 0.3),
        ("faq", 0.2),
        ("greet", 0.1),
        ("deny", 0.05),
        ("goodbye", 0.01),
    ]
    labels = zh_payload_model.intent_labels
    buttons = affirmation_buttons(
        ctx(zh_project, make_user("nlu_fallback", ranking=ranking), labels)
    )
    assert [b["payload"] for b in buttons] == ["/order_drink", "/faq", "/greet", "/out_of_scope"]
    assert len(buttons) == MAX_CHOICES + 1
    assert buttons[0]["title"] == labels["order_drink"] and buttons[0]["title"] != "order_drink"
    assert buttons[-1]["title"] == "都不是"


def test_buttons_in_english_and_without_labels(en_project: Project, make_user: MakeUser) -> None:
    c = ctx(en_project, make_user("nlu_fallback", ranking=[("nlu_fallback", 0.3), ("greet", 0.2)]))
    c.language = "en"
    buttons = affirmation_buttons(c)
    assert buttons == [
        {"title": "greet", "payload": "/greet"},
        {"title": "None of these", "payload": "/out_of_scope"},
    ]


async def test_ask_affirmation_action_marks_its_stage(
    zh_project: Project, make_user: MakeUser
) -> None:
    [event] = await AskAffirmationAction("action_default_ask_affirmation").run(
        ctx(zh_project, make_user("nlu_fallback", ranking=[("greet", 0.2)]))
    )
    assert isinstance(event, BotUttered)
    assert event.metadata["stage"] == "affirm" and event.data["buttons"][0]["payload"] == "/greet"


async def test_two_stage_fallback_activates_itself(
    zh_project: Project, make_user: MakeUser
) -> None:
    events = await TwoStageFallbackAction(NAME).run(ctx(zh_project, make_user("nlu_fallback")))
    assert isinstance(events[0], ActiveLoop) and events[0].name == NAME
    assert isinstance(events[1], BotUttered) and events[1].data["buttons"]
