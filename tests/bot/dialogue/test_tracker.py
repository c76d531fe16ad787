from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from rasa_sdk import Tracker as SdkTracker

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
    Restarted,
    SessionStarted,
    SlotSet,
    UnknownEvent,
    UserUtteranceReverted,
    UserUttered,
)
from bot.dialogue.tracker import ACTION_LISTEN, Tracker, applied_events
from bot.nlu.types import Entity
from bot.project.domain import Slot
from bot.project.loader import Project

SLOTS = {
    "drink": Slot("drink", "text"),
    "size": Slot("size", "categorical", values=["大杯", "中杯"]),
    "vip": Slot("vip", "bool", initial_value=False),
    "requested_slot": Slot("requested_slot", "any", influence_conversation=False),
}
MakeUser = Callable[..., UserUttered]


def listen() -> ActionExecuted:
    return ActionExecuted(name=ACTION_LISTEN)


def start() -> list[Event]:
    return [ActionExecuted(name="action_session_start"), SessionStarted(), listen()]


def names(events: list[Event]) -> list[str]:
    out = []
    for e in events:
        if isinstance(e, ActionExecuted):
            out.append(e.name)
        elif isinstance(e, UserUttered):
            out.append(f"user:{e.intent_name}")
        elif isinstance(e, SlotSet):
            out.append(f"slot:{e.key}={e.value}")
        else:
            out.append(type(e).__name__)
    return out


# ------------------------------------------------------------------ applied_events
def test_restart_forgets_everything_before_it(make_user: MakeUser) -> None:
    events = [*start(), make_user("greet"), ActionExecuted(name="utter_greet"), Restarted()]
    assert applied_events(events) == []
    later = [*events, listen(), make_user("goodbye")]
    assert names(applied_events(later)) == ["action_listen", "user:goodbye"]


def test_session_started_begins_a_new_session(make_user: MakeUser) -> None:
    events = [
        *start(),
        make_user("greet"),
        SlotSet(key="drink", value="奶茶"),
        ActionExecuted(name="action_session_start"),
        SessionStarted(),
        SlotSet(key="drink", value="奶茶"),
        listen(),
    ]
    applied = applied_events(events)
    assert isinstance(applied[0], SessionStarted)
    assert names(applied[1:]) == ["slot:drink=奶茶", "action_listen"]


def test_rewind_removes_the_user_turn_and_the_listen_before_it(make_user: MakeUser) -> None:
    events = [
        *start(),
        make_user("greet"),
        ActionExecuted(name="utter_greet"),
        listen(),
        make_user("nlu_fallback"),
        SlotSet(key="drink", value="x"),
        ActionExecuted(name="action_default_fallback"),
        BotUttered(text="抱歉"),
        UserUtteranceReverted(),
    ]
    assert names(applied_events(events)) == [
        "SessionStarted",
        "action_listen",
        "user:greet",
        "utter_greet",
    ]


def test_two_rewinds_go_back_two_user_turns(make_user: MakeUser) -> None:
    events = [
        *start(),
        make_user("greet"),
        ActionExecuted(name="utter_greet"),
        listen(),
        make_user("bot_challenge"),
        ActionExecuted(name="utter_iamabot"),
        listen(),
        make_user("back"),
        ActionExecuted(name="action_back"),
        UserUtteranceReverted(),
        UserUtteranceReverted(),
    ]
    assert names(applied_events(events)) == [
        "SessionStarted",
        "action_listen",
        "user:greet",
        "utter_greet",
    ]


def test_undo_removes_the_latest_action_and_its_events(make_user: MakeUser) -> None:
    events = [
        *start(),
        make_user("greet"),
        ActionExecuted(name="utter_greet"),
        ActionExecuted(name="action_set_vip"),
        SlotSet(key="vip", value=True),
        ActionReverted(),
    ]
    assert names(applied_events(events)) == [
        "SessionStarted",
        "action_listen",
        "user:greet",
        "utter_greet",
    ]


def test_unknown_events_are_applied_without_effect(make_user: MakeUser) -> None:
    raw = {"event": "reminder", "name": "r1"}
    tracker = Tracker("c", SLOTS, [*start(), UnknownEvent(raw=raw), make_user("greet")])
    assert tracker.latest_intent == "greet"
    assert tracker.events[3].to_dict() == raw


# ------------------------------------------------------------------ tracker state
def test_slots_start_from_initial_values_and_follow_slot_events(make_user: MakeUser) -> None:
    tracker = Tracker("c", SLOTS)
    assert tracker.slots == {"drink": None, "size": None, "vip": False, "requested_slot": None}
    tracker.extend([*start(), SlotSet(key="drink", value="奶茶"), SlotSet(key="vip", value=True)])
    assert tracker.get_slot("drink") == "奶茶" and tracker.get_slot("vip") is True
    tracker.update(AllSlotsReset())
    assert tracker.get_slot("drink") is None and tracker.get_slot("vip") is False
    assert tracker.get_slot("not_a_slot") is None


def test_slot_events_for_undeclared_slots_are_kept(make_user: MakeUser) -> None:
    tracker = Tracker("c", SLOTS, [SlotSet(key="session_started_metadata", value={"a": 1})])
    assert tracker.get_slot("session_started_metadata") == {"a": 1}


def test_restart_resets_state(make_user: MakeUser) -> None:
    tracker = Tracker("c", SLOTS, start())
    tracker.extend(
        [
            make_user("order_drink"),
            ActionExecuted(name="drink_form"),
            ActiveLoop(name="drink_form"),
            SlotSet(key="drink", value="奶茶"),
            ConversationPaused(),
        ]
    )
    assert tracker.active_loop == "drink_form" and tracker.paused
    tracker.update(Restarted())
    assert tracker.active_loop is None
    assert tracker.slots["drink"] is None
    assert tracker.latest_message is None and tracker.latest_action_name is None
    assert not tracker.paused
    assert len(tracker.events) == 9  # nothing is deleted from the log


def test_session_started_resets_slots_until_carried_over() -> None:
    tracker = Tracker("c", SLOTS, [*start(), SlotSet(key="drink", value="奶茶")])
    tracker.update(SessionStarted())
    assert tracker.get_slot("drink") is None
    tracker.update(SlotSet(key="drink", value="奶茶"))
    assert tracker.get_slot("drink") == "奶茶"


def test_rewind_restores_latest_message_and_slots(make_user: MakeUser) -> None:
    tracker = Tracker("c", SLOTS, start())
    tracker.extend([make_user("greet"), ActionExecuted(name="utter_greet"), listen()])
    tracker.extend([make_user("inform"), SlotSet(key="drink", value="奶茶")])
    assert tracker.latest_intent == "inform" and tracker.get_slot("drink") == "奶茶"
    tracker.update(UserUtteranceReverted())
    assert tracker.latest_intent == "greet"
    assert tracker.get_slot("drink") is None
    assert tracker.latest_action_name == "utter_greet"


def test_active_loop_and_rejection(make_user: MakeUser) -> None:
    tracker = Tracker("c", SLOTS, start())
    tracker.extend([make_user("order_drink"), ActionExecuted(name="drink_form")])
    tracker.update(ActiveLoop(name="drink_form"))
    assert tracker.active_loop == "drink_form" and not tracker.loop_rejected
    tracker.extend([listen(), make_user("faq")])
    tracker.update(ActionExecutionRejected(name="other_action"))
    assert not tracker.loop_rejected  # only the active loop's rejection counts
    tracker.update(ActionExecutionRejected(name="drink_form"))
    assert tracker.loop_rejected
    tracker.update(make_user("inform"))
    assert not tracker.loop_rejected  # a new message clears it
    tracker.update(ActiveLoop(name=None))
    assert tracker.active_loop is None


def test_followup_action_is_cleared_once_run() -> None:
    tracker = Tracker("c", SLOTS, start())
    tracker.update(FollowupAction(name="utter_greet"))
    assert tracker.followup_action == "utter_greet"
    tracker.update(ActionExecuted(name="utter_other"))
    assert tracker.followup_action == "utter_greet"
    tracker.update(ActionExecuted(name="utter_greet"))
    assert tracker.followup_action is None


def test_pause_and_resume() -> None:
    tracker = Tracker("c", SLOTS, [ConversationPaused()])
    assert tracker.paused
    tracker.update(ConversationResumed())
    assert not tracker.paused


def test_events_after_latest_user(make_user: MakeUser) -> None:
    tracker = Tracker("c", SLOTS, start())
    assert names(tracker.events_after_latest_user()) == ["SessionStarted", "action_listen"]
    tracker.extend([make_user("greet"), SlotSet(key="drink", value="x"), ActionExecuted(name="a")])
    assert names(tracker.events_after_latest_user()) == ["slot:drink=x", "a"]


def test_new_events_are_those_after_the_persisted_version(make_user: MakeUser) -> None:
    tracker = Tracker("c", SLOTS, start(), version=3)
    assert tracker.new_events == []
    tracker.update(make_user("greet"))
    assert names(tracker.new_events) == ["user:greet"]
    assert tracker.last_event_time == tracker.events[-1].timestamp
    assert Tracker("c", SLOTS).last_event_time is None


# ------------------------------------------------------------------ Rasa JSON
def test_to_rasa_dict_is_readable_by_rasa_sdk(make_user: MakeUser, en_project: Project) -> None:
    slots = en_project.domain.slots
    tracker = Tracker("客户-1", slots, start())
    tracker.extend(
        [
            make_user(
                "book_table",
                entities=[
                    Entity("cuisine", "greek", 10, 15, extractor="x"),
                    Entity("area", "soho", 20, 24, extractor="x", role="target"),
                ],
                text="a greek table in soho",
            ),
            SlotSet(key="cuisine", value="greek"),
            ActionExecuted(name="booking_form"),
            ActiveLoop(name="booking_form"),
            SlotSet(key="requested_slot", value="party_size"),
        ]
    )
    doc = json.loads(json.dumps(tracker.to_rasa_dict()))  # plain JSON, as sent over HTTP
    sdk = SdkTracker.from_dict(doc)
    assert sdk.sender_id == "客户-1"
    assert sdk.get_slot("cuisine") == "greek"
    assert sdk.get_slot("requested_slot") == "party_size"
    assert sdk.latest_message["intent"]["name"] == "book_table"
    assert sdk.latest_message["text"] == "a greek table in soho"
    assert list(sdk.get_latest_entity_values("cuisine")) == ["greek"]
    assert list(sdk.get_latest_entity_values("area", entity_role="target")) == ["soho"]
    assert sdk.active_loop_name == "booking_form"
    assert sdk.get_intent_of_latest_message() == "book_table"
    assert sdk.latest_action_name == ACTION_LISTEN or sdk.latest_action_name == "booking_form"
    assert len(sdk.events) == len(tracker.events)
    assert [e["event"] for e in sdk.events][:3] == ["action", "session_started", "action"]
    assert sdk.is_paused() is False


def test_to_rasa_dict_without_messages() -> None:
    doc = Tracker("c", SLOTS).to_rasa_dict()
    assert doc["latest_message"] == {} and doc["active_loop"] == {}
    sdk = SdkTracker.from_dict(doc)
    assert sdk.active_loop_name is None
    assert sdk.slots["vip"] is False


@pytest.mark.parametrize("loop", [None, "drink_form"])
def test_to_rasa_dict_active_loop_shape(loop: str | None) -> None:
    tracker = Tracker("c", SLOTS, [ActiveLoop(name=loop)])
    shape = tracker.to_rasa_dict()["active_loop"]
    assert shape == ({"name": loop, "rejected": False} if loop else {})


# ---------------------------------------------------------------- Rasa JSON memo
def test_new_event_dicts_are_what_the_store_does_not_hold() -> None:
    stored = [SlotSet(key="drink", value="拿铁"), ActionExecuted(name=ACTION_LISTEN)]
    t = Tracker("m", SLOTS, stored, version=2)  # loaded: nothing encoded yet
    t.update(SlotSet(key="size", value="大杯"))
    assert t.new_event_dicts() == [t.events[-1].to_dict()]
    assert [d["event"] for d in t.event_dicts()] == ["slot", "action", "slot"]
    t.persisted = 3
    t.update(BotUttered(text="好的"))
    assert t.new_event_dicts() == [t.events[-1].to_dict()]  # from the memo now


def test_a_fork_shows_pending_events_and_leaves_the_original_alone() -> None:
    t = Tracker("m", SLOTS, [SlotSet(key="drink", value="拿铁")])
    t.event_dicts()  # the original has been sent to an action before
    t.update(SlotSet(key="vip", value=True))
    fork = t.fork([SlotSet(key="size", value="中杯")])
    assert [d.get("name") for d in fork.event_dicts()] == ["drink", "vip", "size"]
    assert [d.get("name") for d in t.event_dicts()] == ["drink", "vip"]
    assert t.get_slot("size") is None and fork.get_slot("size") == "中杯"
