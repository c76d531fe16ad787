from __future__ import annotations

from collections.abc import Callable

from bot.dialogue.events import ActionExecuted, ActiveLoop, SessionStarted, SlotSet, UserUttered
from bot.dialogue.states import NULL, StateWalker, strip_slots, tracker_states
from bot.nlu.types import Entity
from bot.project.domain import Domain, IntentSpec, Slot

MakeUser = Callable[..., UserUttered]
MakeEntity = Callable[..., Entity]


def domain() -> Domain:
    return Domain(
        intents={
            "greet": IntentSpec("greet"),
            "inform": IntentSpec("inform"),
            "chitchat": IntentSpec("chitchat", use_entities=[]),
            "order": IntentSpec("order", use_entities=True, ignore_entities=["size"]),
        },
        entities=["drink", "size", "city"],
        slots={
            "plan": Slot("plan", "text"),
            "vip": Slot("vip", "bool", initial_value=False),
            "size": Slot("size", "categorical", values=["大杯", "小杯"]),
            "count": Slot("count", "float", min_value=0, max_value=10),
            "tags": Slot("tags", "list"),
            "blob": Slot("blob", "any"),
            "note": Slot("note", "text", influence_conversation=False),
        },
    )


def test_full_states_start_with_every_featurised_slot() -> None:
    walker = StateWalker(domain(), set())
    assert walker.state() == frozenset(
        {
            ("loop", NULL),
            ("slot:plan", NULL),
            ("slot:vip", "false"),
            ("slot:size", NULL),
            ("slot:count", NULL),
            ("slot:tags", NULL),
        }
    )


def test_partial_states_hold_only_what_was_mentioned() -> None:
    walker = StateWalker(domain(), set(), partial=True)
    assert walker.state() == frozenset()
    walker.user("greet", [])
    assert walker.state() == frozenset({("prev", "action_listen"), ("intent", "greet")})


def test_slot_featurisation_by_type() -> None:
    walker = StateWalker(domain(), set())
    walker.slot("plan", "月租套餐")
    walker.slot("vip", "true")
    walker.slot("size", "大杯")
    walker.slot("count", 42)
    walker.slot("tags", [])
    walker.slot("blob", {"x": 1})  # `any` slots never influence the conversation
    walker.slot("note", "x")  # nor do slots with influence_conversation: false
    walker.slot("unknown", "x")
    features = dict(walker.state())
    assert features["slot:plan"] == "set"
    assert features["slot:vip"] == "true"
    assert features["slot:size"] == "大杯"
    assert features["slot:count"] == "10.00"  # clipped to max_value
    assert features["slot:tags"] == NULL  # an empty list is unset
    assert "slot:blob" not in features and "slot:note" not in features
    walker.slot("size", "超大杯")
    assert dict(walker.state())["slot:size"] == "__other__"


def test_slot_was_set_without_value() -> None:
    full = StateWalker(domain(), set())
    full.slot("vip", None, has_value=False)
    assert dict(full.state())["slot:vip"] == "set"
    partial = StateWalker(domain(), set(), partial=True)
    partial.slot("plan", None, has_value=False)
    partial.slot("vip", None, has_value=False)  # a bool "set to anything" says nothing in a rule
    assert dict(partial.state()) == {"slot:plan": "set"}


def test_entities_count_only_if_relevant_and_used_by_the_intent() -> None:
    walker = StateWalker(domain(), {"drink", "size"})
    walker.user("order", ["drink", "size", "city"])
    ents = {v for k, v in walker.state() if k == "ent"}
    assert ents == {"drink"}  # size ignored by the intent, city not relevant to any story
    walker.user("chitchat", ["drink"])
    assert not {v for k, v in walker.state() if k == "ent"}


def test_retrieval_intents_are_featurised_by_their_base_intent() -> None:
    walker = StateWalker(domain(), set())
    walker.user("faq/opening_hours", [])
    assert dict(walker.state())["intent"] == "faq"


def test_loop_and_action_features() -> None:
    walker = StateWalker(domain(), set())
    walker.action("drink_form")
    walker.loop("drink_form")
    assert {("prev", "drink_form"), ("loop", "drink_form")} <= walker.state()
    walker.loop(None)
    assert ("loop", NULL) in walker.state()


def test_tracker_states_one_per_action_plus_the_current_one(
    make_user: MakeUser, make_entity: MakeEntity
) -> None:
    events = [
        ActionExecuted(name="action_session_start"),
        SessionStarted(),
        ActionExecuted(name="action_listen"),
        make_user("order", entities=[make_entity("drink", "奶茶")]),
        SlotSet(key="plan", value="x"),
        ActionExecuted(name="drink_form"),
        ActiveLoop(name="drink_form"),
        ActionExecuted(name="action_listen"),
    ]
    states = tracker_states(events, domain(), {"drink"})
    assert len(states) == 3  # before drink_form, before action_listen, now
    first = dict(states[0])
    assert first["intent"] == "order" and first["prev"] == "action_listen"
    assert first["slot:plan"] == "set"  # slots set before the action count
    assert ("ent", "drink") in states[0]
    assert dict(states[1])["prev"] == "drink_form" and dict(states[1])["loop"] == "drink_form"
    assert dict(states[2])["prev"] == "action_listen"


def test_tracker_states_before_any_user_message_are_empty() -> None:
    events = [ActionExecuted(name="action_session_start"), SessionStarted()]
    assert tracker_states(events, domain(), set()) == []


def test_strip_slots_keeps_everything_else() -> None:
    state = frozenset({("slot:vip", "true"), ("intent", "greet"), ("loop", NULL)})
    assert strip_slots(state) == frozenset({("intent", "greet"), ("loop", NULL)})
