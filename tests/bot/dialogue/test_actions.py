"""Built-in actions, the action registry, and their effect through the engine."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.dialogue.actions import (
    ACTION_FAILED_EN,
    ACTION_FAILED_ZH,
    ActionContext,
    BackAction,
    CustomAction,
    DeactivateLoopAction,
    DefaultFallbackAction,
    HandoffAction,
    ListenAction,
    ResponseAction,
    RestartAction,
    SessionStartAction,
    builtin_actions,
    resolve_action,
)
from bot.dialogue.custom_actions import InProcessActionRunner
from bot.dialogue.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    Event,
    Handoff,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from bot.dialogue.fallback import TwoStageFallbackAction
from bot.dialogue.forms import FormAction
from bot.dialogue.nlg import NLG
from bot.dialogue.tracker import Tracker
from bot.engine import Engine, TurnResult
from bot.messages import InboundMessage
from bot.model import TrainedModel
from bot.project.domain import SESSION_STARTED_METADATA, Domain, ResponseVariant
from bot.project.loader import Project

MakeUser = Callable[..., UserUttered]


def ctx_for(domain: Domain, *events: Event, language: str = "zh") -> ActionContext:
    start = [
        ActionExecuted(name="action_session_start"),
        SessionStarted(),
        ActionExecuted(name="action_listen"),
    ]
    tracker = Tracker("t", domain.slots, [*start, *events])
    return ActionContext(tracker, domain, NLG.create(domain, language, seed=0), language=language)


async def turn(engine: Engine, text: str, conv: str = "c", **kw: object) -> TurnResult:
    msg = InboundMessage(channel="web", conversation_id=conv, text=text, **kw)  # type: ignore[arg-type]
    return await engine.handle_turn(msg)


# ------------------------------------------------------------------ registry
def test_every_default_action_is_built_in(en_project: Project) -> None:
    from bot.project.domain import DEFAULT_ACTIONS

    assert set(DEFAULT_ACTIONS) <= set(builtin_actions())


def test_resolve_action(en_project: Project, en_root: object) -> None:
    d = en_project.domain
    assert isinstance(resolve_action("action_listen", d, None), ListenAction)
    assert isinstance(resolve_action("action_two_stage_fallback", d, None), TwoStageFallbackAction)
    assert isinstance(resolve_action("booking_form", d, None), FormAction)
    assert isinstance(resolve_action("action_confirm_booking", d, None), CustomAction)
    assert isinstance(resolve_action("utter_greet", d, None), ResponseAction)
    assert isinstance(resolve_action("action_not_declared", d, None), CustomAction)


def test_a_project_may_override_a_built_in(en_project: Project, en_root: object) -> None:
    from pathlib import Path

    runner = InProcessActionRunner(Path(str(en_root)))
    domain = Domain(actions=["action_restart"])
    assert isinstance(resolve_action("action_restart", domain, None), RestartAction)
    assert isinstance(
        resolve_action("action_restart", domain, runner), RestartAction
    )  # unknown to it
    domain = Domain(actions=["action_confirm_booking"])
    assert isinstance(resolve_action("action_confirm_booking", domain, runner), CustomAction)


# ------------------------------------------------------------------ built-ins, directly
async def test_restart_says_utter_restart_if_defined() -> None:
    plain = await RestartAction("action_restart").run(ctx_for(Domain()))
    assert [type(e) for e in plain] == [Restarted]
    domain = Domain(responses={"utter_restart": [ResponseVariant(text="已重新开始")]})
    events = await RestartAction("action_restart").run(ctx_for(domain))
    assert [type(e) for e in events] == [BotUttered, Restarted]


async def test_session_start_carries_slots_over(en_project: Project) -> None:
    d = en_project.domain
    assert d.session_config.carry_over_slots
    ctx = ctx_for(
        d,
        SlotSet(key="cuisine", value="greek"),
        SlotSet(key="requested_slot", value="party_size"),
        SlotSet(key="vegetarian", value=None),
    )
    ctx.extras["session_metadata"] = {"city": "伦敦"}
    events = await SessionStartAction("action_session_start").run(ctx)
    assert isinstance(events[0], SessionStarted)
    carried = [(e.key, e.value) for e in events if isinstance(e, SlotSet)]
    assert carried == [("cuisine", "greek"), (SESSION_STARTED_METADATA, {"city": "伦敦"})]


async def test_session_start_without_carry_over(zh_project: Project) -> None:
    assert not zh_project.domain.session_config.carry_over_slots
    events = await SessionStartAction("s").run(
        ctx_for(zh_project.domain, SlotSet(key="drink", value="奶茶"))
    )
    assert [type(e) for e in events] == [SessionStarted]


async def test_deactivate_loop() -> None:
    events = await DeactivateLoopAction("action_deactivate_loop").run(ctx_for(Domain()))
    assert isinstance(events[0], ActiveLoop) and events[0].name is None
    assert isinstance(events[1], SlotSet) and (events[1].key, events[1].value) == (
        "requested_slot",
        None,
    )


async def test_default_fallback_utters_and_reverts(zh_project: Project) -> None:
    events = await DefaultFallbackAction("action_default_fallback").run(ctx_for(zh_project.domain))
    assert [type(e) for e in events] == [BotUttered, UserUtteranceReverted]
    assert isinstance(events[0], BotUttered)
    assert events[0].text == "抱歉，我没有完全理解您的意思，能否换个说法再告诉我一次？"


async def test_back_reverts_two_user_turns() -> None:
    events = await BackAction("action_back").run(ctx_for(Domain()))
    assert [type(e) for e in events] == [UserUtteranceReverted, UserUtteranceReverted]


@pytest.mark.parametrize(
    ("intents", "reason"),
    [
        (["greet", "request_human"], "customer_request"),
        (["complaint"], "complaint"),
        (["complaint", "greet"], "complaint"),  # a recent complaint still counts
        (["greet"], "rule"),
    ],
)
async def test_handoff_reason(make_user: MakeUser, intents: list[str], reason: str) -> None:
    events: list[Event] = []
    for intent in intents:
        events += [
            make_user(intent),
            ActionExecuted(name="utter_x"),
            ActionExecuted(name="action_listen"),
        ]
    out = await HandoffAction("action_handoff").run(ctx_for(Domain(), *events))
    assert isinstance(out[0], BotUttered) and out[0].text  # the default Chinese handoff text
    assert isinstance(out[-1], Handoff) and out[-1].reason == reason


async def test_handoff_reason_given_explicitly_wins(make_user: MakeUser) -> None:
    ctx = ctx_for(Domain(), make_user("request_human"))
    ctx.extras["handoff_reason"] = "fallback"
    out = await HandoffAction("action_handoff").run(ctx)
    assert isinstance(out[-1], Handoff) and out[-1].reason == "fallback"


async def test_failure_message_is_polite_and_in_the_bot_language() -> None:
    zh = ctx_for(Domain()).failure_message()
    assert zh.text == ACTION_FAILED_ZH and "抱歉" in ACTION_FAILED_ZH and zh.metadata["error"]
    en = ctx_for(Domain(), language="en").failure_message()
    assert en.text == ACTION_FAILED_EN


async def test_custom_action_without_a_runner_fails_politely() -> None:
    out = await CustomAction("action_x").run(ctx_for(Domain()))
    assert [e.text for e in out if isinstance(e, BotUttered)] == [ACTION_FAILED_ZH]


# ------------------------------------------------------------------ built-ins, in conversation
@pytest.fixture
def zh_engine(zh_payload_model: TrainedModel) -> Engine:
    return Engine(zh_payload_model)


async def test_restart_through_the_engine(zh_engine: Engine) -> None:
    await turn(zh_engine, '/order_drink{"drink": "柠檬茶"}')
    result = await turn(zh_engine, "/restart")
    assert any(isinstance(e, Restarted) for e in result.events)
    tracker = await zh_engine.load_tracker("c")
    assert tracker.active_loop is None and tracker.get_slot("drink") is None
    after = await turn(zh_engine, "/bot_challenge")
    assert [m.text for m in after.messages] == ["您好，我是小知茶饮的智能客服助手，不是真人哦。"]


async def test_back_undoes_the_previous_turn_and_waits(zh_engine: Engine) -> None:
    await turn(zh_engine, "/bot_challenge")
    await turn(zh_engine, '/inform{"drink": "奶茶"}')
    result = await turn(zh_engine, "/back")
    assert result.messages == []  # nothing is replayed
    tracker = await zh_engine.load_tracker("c")
    assert tracker.latest_intent == "bot_challenge"
    assert tracker.get_slot("drink") is None
    assert tracker.latest_action_name == "action_listen"


async def test_session_start_intent_starts_a_new_session(en_payload_model: TrainedModel) -> None:
    engine = Engine(en_payload_model)
    await turn(engine, '/book_table{"cuisine": "thai"}')  # a handled message keeps its slots
    result = await turn(engine, "/session_start")
    assert any(isinstance(e, SessionStarted) for e in result.events)
    tracker = await engine.load_tracker("c")
    assert tracker.get_slot("cuisine") == "thai"  # carried over (en_restaurant)


async def test_session_start_intent_without_carry_over(zh_engine: Engine) -> None:
    await turn(zh_engine, '/inform{"drink": "奶茶"}')
    await turn(zh_engine, "/session_start")
    tracker = await zh_engine.load_tracker("c")
    assert tracker.get_slot("drink") is None


async def test_default_fallback_in_conversation(zh_engine: Engine, make_user: MakeUser) -> None:
    await turn(zh_engine, "/bot_challenge")
    tracker = await zh_engine.load_tracker("c")
    tracker.extend([make_user("nlu_fallback"), ActionExecuted(name="action_default_fallback")])
    tracker.extend(
        await DefaultFallbackAction("action_default_fallback").run(
            ActionContext(tracker, zh_engine.model.domain, zh_engine.nlg)
        )
    )
    assert tracker.latest_intent == "bot_challenge"
    assert tracker.latest_action_name == "utter_iamabot"  # the bot listens again, no replay
    assert zh_engine.model.policies.predict(tracker).action == "action_listen"  # type: ignore[union-attr]


async def test_response_action_that_does_not_exist_says_nothing(zh_project: Project) -> None:
    assert await ResponseAction("utter_not_there").run(ctx_for(zh_project.domain)) == []
