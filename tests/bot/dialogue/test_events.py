from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from rasa_sdk import events as sdk

from bot.dialogue.events import (
    ActionExecuted,
    ActionExecutionRejected,
    ActionReverted,
    ActiveLoop,
    AllSlotsReset,
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    Event,
    FollowupAction,
    Handoff,
    LoopInterrupted,
    Restarted,
    SessionStarted,
    SlotSet,
    UnknownEvent,
    UserUtteranceReverted,
    UserUttered,
    event_from_dict,
    events_from_dicts,
)

TS = 1_700_000_000.25

# One Rasa-shaped JSON document per event type we interpret.
RASA_EVENTS: list[tuple[type[Event], dict[str, Any]]] = [
    (
        UserUttered,
        {
            "event": "user",
            "timestamp": TS,
            "metadata": {"channel_user": "张三"},
            "text": "我要一杯珍珠奶茶",
            "parse_data": {
                "text": "我要一杯珍珠奶茶",
                "intent": {"name": "order_drink", "confidence": 0.93},
                "entities": [
                    {
                        "entity": "drink",
                        "start": 4,
                        "end": 8,
                        "value": "珍珠奶茶",
                        "confidence_entity": 0.9,
                        "extractor": "LookupEntityExtractor",
                        "role": "main",
                        "group": "1",
                    }
                ],
                "intent_ranking": [
                    {"name": "order_drink", "confidence": 0.93},
                    {"name": "inform", "confidence": 0.05},
                ],
            },
            "input_channel": "rest",
            "message_id": "m-1",
        },
    ),
    (
        BotUttered,
        {
            "event": "bot",
            "timestamp": TS,
            "metadata": {"utter_action": "utter_ask_size"},
            "text": "请问您需要大杯、中杯还是小杯？",
            "data": {"buttons": [{"title": "大杯", "payload": '/inform{"size": "大杯"}'}]},
        },
    ),
    (
        ActionExecuted,
        {
            "event": "action",
            "timestamp": TS,
            "name": "utter_greet",
            "policy": "RulePolicy",
            "confidence": 1.0,
        },
    ),
    (SlotSet, {"event": "slot", "timestamp": TS, "name": "venues", "value": [{"n": 1}]}),
    (ActiveLoop, {"event": "active_loop", "timestamp": TS, "name": "drink_form"}),
    (ActiveLoop, {"event": "active_loop", "timestamp": TS, "name": None}),
    (
        ActionExecutionRejected,
        {
            "event": "action_execution_rejected",
            "timestamp": TS,
            "name": "drink_form",
            "policy": None,
            "confidence": None,
        },
    ),
    (LoopInterrupted, {"event": "loop_interrupted", "timestamp": TS, "is_interrupted": True}),
    (FollowupAction, {"event": "followup", "timestamp": TS, "name": "utter_greet"}),
    (SessionStarted, {"event": "session_started", "timestamp": TS}),
    (Restarted, {"event": "restart", "timestamp": TS}),
    (UserUtteranceReverted, {"event": "rewind", "timestamp": TS}),
    (ActionReverted, {"event": "undo", "timestamp": TS}),
    (AllSlotsReset, {"event": "reset_slots", "timestamp": TS}),
    (ConversationPaused, {"event": "pause", "timestamp": TS}),
    (ConversationResumed, {"event": "resume", "timestamp": TS}),
    (Handoff, {"event": "handoff", "timestamp": TS, "reason": "fallback"}),
    (
        Handoff,
        {"event": "handoff", "timestamp": TS, "reason": "complaint", "detail": {"k": "v"}},
    ),
]


@pytest.mark.parametrize(
    ("cls", "doc"), RASA_EVENTS, ids=[f"{d['event']}-{i}" for i, (_, d) in enumerate(RASA_EVENTS)]
)
def test_every_event_type_round_trips_rasa_json(cls: type[Event], doc: dict[str, Any]) -> None:
    event = event_from_dict(json.loads(json.dumps(doc)))
    assert type(event) is cls
    assert event.timestamp == TS
    assert event.to_dict() == doc
    # and the serialised form is plain JSON that reads back identically
    again = event_from_dict(json.loads(json.dumps(event.to_dict(), ensure_ascii=False)))
    assert again.to_dict() == doc


def test_user_uttered_fields_are_understood() -> None:
    event = event_from_dict(RASA_EVENTS[0][1])
    assert isinstance(event, UserUttered)
    assert event.intent_name == "order_drink"
    assert event.parse_data is not None
    [ent] = event.parse_data.entities
    assert (ent.entity, ent.value, ent.role, ent.group) == ("drink", "珍珠奶茶", "main", "1")
    assert [r.name for r in event.parse_data.ranking] == ["order_drink", "inform"]
    assert event.metadata == {"channel_user": "张三"}


def test_user_uttered_without_parse_data_keeps_its_text() -> None:
    event = event_from_dict({"event": "user", "timestamp": TS, "text": "你好"})
    assert isinstance(event, UserUttered)
    assert event.parse_data is None and event.intent_name is None
    assert event.to_dict()["parse_data"] == {"text": "你好"}


def test_retrieval_parse_data_round_trips() -> None:
    doc = {
        "text": "几点开门",
        "intent": {"name": "faq", "confidence": 0.9},
        "entities": [],
        "intent_ranking": [{"name": "faq", "confidence": 0.9}],
        "response_selector": {
            "all_retrieval_intents": ["faq"],
            "faq": {
                "response": {
                    "intent_response_key": "faq/opening_hours",
                    "utter_action": "utter_faq/opening_hours",
                    "confidence": 0.8,
                    "responses": [],
                },
                "ranking": [{"intent_response_key": "faq/opening_hours", "confidence": 0.8}],
            },
        },
    }
    event = event_from_dict(
        {"event": "user", "timestamp": TS, "text": "几点开门", "parse_data": doc}
    )
    assert isinstance(event, UserUttered) and event.parse_data is not None
    assert event.parse_data.retrieval["faq"].name == "faq/opening_hours"
    assert event.to_dict()["parse_data"] == doc


@pytest.mark.parametrize(
    "doc",
    [
        {
            "event": "reminder",
            "timestamp": TS,
            "intent": "EXTERNAL_reminder",
            "entities": None,
            "date_time": "2024-01-01T00:00:00",
            "name": "my_reminder",
            "kill_on_user_msg": False,
        },
        {"event": "cancel_reminder", "timestamp": None, "intent": None, "name": None},
        {"event": "export", "timestamp": TS},
        {"event": "zhike_future_event", "payload": {"嵌套": [1, 2, {"x": None}]}},
    ],
)
def test_unknown_events_are_kept_verbatim(doc: dict[str, Any]) -> None:
    event = event_from_dict(doc)
    assert isinstance(event, UnknownEvent)
    assert event.to_dict() == doc
    assert event.to_dict() is not doc  # a copy: later edits of the input do not leak in


def test_event_without_type_is_unknown_not_an_error() -> None:
    event = event_from_dict({"foo": 1})
    assert isinstance(event, UnknownEvent)
    assert event.to_dict() == {"foo": 1}


def test_events_from_dicts_skips_non_dicts() -> None:
    events = events_from_dicts([{"event": "restart"}, "junk", 3, None, {"event": "pause"}])  # type: ignore[list-item]
    assert [type(e) for e in events] == [Restarted, ConversationPaused]


def test_missing_timestamp_gets_the_current_time() -> None:
    event = event_from_dict({"event": "slot", "name": "a", "value": 1, "timestamp": None})
    assert isinstance(event, SlotSet)
    assert abs(event.timestamp - datetime.datetime.now().timestamp()) < 60


def test_events_written_by_rasa_sdk_are_understood() -> None:
    """What a custom action returns (rasa_sdk.events) maps onto our types."""
    expected: list[tuple[dict[str, Any], type[Event]]] = [
        (sdk.SlotSet("cuisine", "greek"), SlotSet),
        (sdk.AllSlotsReset(), AllSlotsReset),
        (sdk.ConversationPaused(), ConversationPaused),
        (sdk.ConversationResumed(), ConversationResumed),
        (sdk.FollowupAction("utter_greet"), FollowupAction),
        (sdk.UserUtteranceReverted(), UserUtteranceReverted),
        (sdk.ActionReverted(), ActionReverted),
        (sdk.ActionExecutionRejected("booking_form"), ActionExecutionRejected),
        (sdk.ActiveLoop("booking_form"), ActiveLoop),
        (sdk.LoopInterrupted(True), LoopInterrupted),
        (sdk.SessionStarted(), SessionStarted),
        (sdk.Restarted(), Restarted),
        (sdk.UserUttered("hi", {"intent": {"name": "greet", "confidence": 1.0}}), UserUttered),
        (sdk.BotUttered("hello", {"buttons": []}), BotUttered),
        (sdk.ActionExecuted("utter_greet"), ActionExecuted),
        (sdk.ReminderScheduled("EXTERNAL_x", datetime.datetime(2024, 1, 1)), UnknownEvent),
        (sdk.ReminderCancelled(), UnknownEvent),
    ]
    for doc, cls in expected:
        assert type(event_from_dict(doc)) is cls, doc
    slot = event_from_dict(sdk.SlotSet("cuisine", "greek"))
    assert isinstance(slot, SlotSet) and (slot.key, slot.value) == ("cuisine", "greek")
    said = event_from_dict(sdk.UserUttered("hi", {"intent": {"name": "greet", "confidence": 1.0}}))
    assert isinstance(said, UserUttered) and said.intent_name == "greet"
    bot = event_from_dict(sdk.BotUttered("hello", {"buttons": []}))
    assert isinstance(bot, BotUttered) and bot.metadata == {}  # `metadata: None` is tolerated


def test_new_events_get_a_timestamp_and_no_shared_state() -> None:
    a, b = BotUttered(text="a"), BotUttered(text="b")
    a.data["buttons"] = []
    a.metadata["x"] = 1
    assert b.data == {} and b.metadata == {}
    assert a.timestamp > 0
