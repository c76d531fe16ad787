from __future__ import annotations

import pickle
from collections.abc import Callable

import pytest

from bot.dialogue.events import (
    ActionExecuted,
    ActionExecutionRejected,
    ActiveLoop,
    Event,
    FollowupAction,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from bot.dialogue.policies import MemoizationPolicy, PolicyEnsemble, Prediction, RulePolicy
from bot.dialogue.states import State
from bot.dialogue.story_graph import Trajectory
from bot.dialogue.tracker import ACTION_LISTEN, Tracker
from bot.project.loader import Project

MakeUser = Callable[..., UserUttered]


@pytest.fixture(scope="module")
def en(en_project: Project) -> PolicyEnsemble:
    ens = PolicyEnsemble(en_project.domain, {p.name: p.options for p in en_project.config.policies})
    ens.train(en_project.stories, en_project.rules)
    return ens


@pytest.fixture(scope="module")
def zh(zh_project: Project) -> PolicyEnsemble:
    ens = PolicyEnsemble(zh_project.domain, {p.name: p.options for p in zh_project.config.policies})
    ens.train(zh_project.stories, zh_project.rules)
    return ens


def tracker(ens: PolicyEnsemble, *events: Event) -> Tracker:
    start = [
        ActionExecuted(name="action_session_start"),
        SessionStarted(),
        ActionExecuted(name=ACTION_LISTEN),
    ]
    return Tracker("t", ens.domain.slots, [*start, *events])


def act(name: str) -> ActionExecuted:
    return ActionExecuted(name=name)


def listen() -> ActionExecuted:
    return ActionExecuted(name=ACTION_LISTEN)


def predict(ens: PolicyEnsemble, t: Tracker) -> Prediction:
    p = ens.predict(t)
    assert p is not None
    return p


# ------------------------------------------------------------------ rules
def test_conversation_start_rule_applies_only_at_the_start(
    en: PolicyEnsemble, make_user: MakeUser
) -> None:
    first = tracker(en, make_user("greet"))
    p = predict(en, first)
    assert (p.action, p.policy) == ("utter_greet", "RulePolicy")
    later = tracker(en, make_user("thank"), act("utter_noworries"), listen(), make_user("greet"))
    assert en.rule_policy.predict(en.states(later)) is None


def test_plain_rule_applies_anywhere(en: PolicyEnsemble, make_user: MakeUser) -> None:
    t = tracker(en, make_user("greet"), act("utter_greet"), listen(), make_user("goodbye"))
    p = predict(en, t)
    assert (p.action, p.policy) == ("utter_goodbye", "RulePolicy")
    t.update(act("utter_goodbye"))
    assert predict(en, t).action == ACTION_LISTEN


@pytest.mark.parametrize(
    ("vegetarian", "menu"), [(True, "utter_menu_vegetarian"), (False, "utter_menu")]
)
def test_rule_conditions_on_slots(
    en: PolicyEnsemble, make_user: MakeUser, vegetarian: bool, menu: str
) -> None:
    t = tracker(en, SlotSet(key="vegetarian", value=vegetarian), make_user("ask_menu"))
    assert predict(en, t).action == menu


def test_rule_condition_not_met_means_no_rule(en: PolicyEnsemble, make_user: MakeUser) -> None:
    t = tracker(en, make_user("ask_menu"))  # vegetarian unset
    assert en.rule_policy.predict(en.states(t)) is None


def test_wait_for_user_input_false_and_rule_starting_with_action(
    en: PolicyEnsemble, make_user: MakeUser
) -> None:
    t = tracker(en, make_user("ask_opening_hours"))
    assert predict(en, t).action == "utter_opening_hours"
    t.update(act("utter_opening_hours"))
    nxt = predict(en, t)
    assert (nxt.action, nxt.policy) == ("utter_offer_booking", "RulePolicy")
    t.update(act("utter_offer_booking"))
    assert predict(en, t).action == ACTION_LISTEN


def test_leading_action_of_a_rule_is_context_not_a_prediction(
    en: PolicyEnsemble, make_user: MakeUser
) -> None:
    """ "Offer a booking" starts with utter_opening_hours: it must never predict it."""
    for intent in ("deny", "affirm", "inform", "stop"):
        found = en.rule_policy.predict(en.states(tracker(en, make_user(intent))))
        assert found is None or found[0].action != "utter_opening_hours", intent


def test_longest_matching_rule_wins(en: PolicyEnsemble, make_user: MakeUser) -> None:
    t = tracker(
        en,
        make_user("book_table"),
        act("booking_form"),
        ActiveLoop(name="booking_form"),
        SlotSet(key="requested_slot", value="cuisine"),
        listen(),
        make_user("chitchat"),
        ActionExecutionRejected(name="booking_form"),
    )
    assert predict(en, t).action == "utter_chitchat"
    t.update(act("utter_chitchat"))
    # "Small talk outside the form" would listen now; the in-form rule, which also matches the
    # active loop, is more specific at the same length
    found = en.rule_policy.predict(en.states(t))
    assert found is not None and found[0].action == "booking_form" and found[1] == 2
    assert predict(en, t).action == "booking_form"


def test_longer_rule_beats_a_shorter_more_general_one() -> None:
    q = s("prev=utter_q")
    yes = s("prev=action_listen", "intent=affirm")
    policy = RulePolicy()
    policy.train(
        [
            Trajectory([(yes, "utter_generic")], source="short"),
            Trajectory(
                [(s(), "utter_q"), (q, ACTION_LISTEN), (yes, "utter_yes")],
                source="long",
                starts_with_action=True,
            ),
        ]
    )
    other = s("prev=action_listen", "intent=greet", "loop=null")
    after_q = s("prev=utter_q", "intent=greet", "loop=null")
    affirm = s("prev=action_listen", "intent=affirm", "loop=null")
    found = policy.predict([other, after_q, affirm])
    assert found is not None and (found[0].action, found[1]) == ("utter_yes", 3)
    found = policy.predict([other, affirm])
    assert found is not None and found[0].action == "utter_generic"
    assert policy.predict([s()]) is None  # the leading utter_q is never predicted


def test_equal_matches_keep_the_training_order_whatever_the_index_key() -> None:
    """Steps are looked up by (previous action, intent); among equally long and specific
    matches the earlier one in `by_prev`'s order wins, as before the index existed."""
    listen_any = s("prev=action_listen", "slot_vip=true")
    affirm = s("prev=action_listen", "intent=affirm")
    anywhere = s("intent=affirm")
    policy = RulePolicy()
    policy.train(
        [
            Trajectory([(listen_any, "utter_vip")], source="no intent"),
            Trajectory([(affirm, "utter_affirmed")], source="intent"),
            Trajectory([(anywhere, "utter_any_prev")], source="any prev"),
        ]
    )
    state = s("prev=action_listen", "intent=affirm", "slot_vip=true")
    found = policy.predict([state])
    assert found is not None and found[0].action == "utter_vip"
    found = policy.predict([s("prev=utter_x", "intent=affirm")])
    assert found is not None and found[0].action == "utter_any_prev"
    assert policy.predict([s("prev=action_listen", "intent=greet")]) is None


def test_a_loaded_rule_policy_rebuilds_its_index() -> None:
    yes = s("prev=action_listen", "intent=affirm")
    policy = RulePolicy()
    policy.train([Trajectory([(yes, "utter_yes")], source="r")])
    assert policy.predict([yes]) is not None  # builds the index
    loaded = pickle.loads(pickle.dumps(policy))
    assert "_by_key" not in loaded.__dict__  # derived data is not saved with the model
    found = loaded.predict([s("prev=action_listen", "intent=affirm", "loop=null")])
    assert found is not None and found[0].action == "utter_yes"


def test_retrieval_intent_rules_match_the_base_intent(
    zh: PolicyEnsemble, make_user: MakeUser
) -> None:
    t = tracker(zh, make_user("faq", retrieval={"faq": "faq/payment"}))
    assert predict(zh, t).action == "utter_faq"


# ------------------------------------------------------------------ ensemble order
@pytest.mark.parametrize(
    ("intent", "action"),
    [
        ("restart", "action_restart"),
        ("back", "action_back"),
        ("session_start", "action_session_start"),
    ],
)
def test_default_intents(en: PolicyEnsemble, make_user: MakeUser, intent: str, action: str) -> None:
    t = tracker(
        en,
        make_user("book_table"),
        act("booking_form"),
        ActiveLoop(name="booking_form"),
        listen(),
        make_user(intent),
    )
    assert predict(en, t).action == action  # even inside a form


def test_followup_action_comes_first(en: PolicyEnsemble, make_user: MakeUser) -> None:
    t = tracker(en, make_user("greet"), act("utter_greet"), FollowupAction(name="utter_menu"))
    p = predict(en, t)
    assert (p.action, p.policy) == ("utter_menu", "followup")


def test_unknown_message_after_user_gives_none(en: PolicyEnsemble, make_user: MakeUser) -> None:
    assert en.predict(tracker(en, make_user("inform"))) is None


def test_after_a_bot_action_with_nothing_known_the_bot_listens(
    en: PolicyEnsemble, make_user: MakeUser
) -> None:
    t = tracker(en, make_user("inform"), act("utter_default"))
    assert predict(en, t).action == ACTION_LISTEN


# ------------------------------------------------------------------ loops
def form_tracker(ens: PolicyEnsemble, make_user: MakeUser, *more: Event) -> Tracker:
    return tracker(
        ens,
        make_user("book_table"),
        act("booking_form"),
        ActiveLoop(name="booking_form"),
        SlotSet(key="requested_slot", value="cuisine"),
        listen(),
        *more,
    )


def test_loop_happy_path(en: PolicyEnsemble, make_user: MakeUser) -> None:
    t = tracker(en, make_user("book_table"))
    assert predict(en, t).action == "booking_form"
    t.extend([act("booking_form"), ActiveLoop(name="booking_form")])
    assert predict(en, t).action == ACTION_LISTEN
    t.extend([listen(), make_user("inform")])
    p = predict(en, t)
    assert (p.action, p.policy) == ("booking_form", "RulePolicy(loop)")
    t.extend(
        [act("booking_form"), ActiveLoop(name=None), SlotSet(key="requested_slot", value=None)]
    )
    assert predict(en, t).action == "utter_booking_summary"
    t.update(act("utter_booking_summary"))
    assert predict(en, t).action == "action_confirm_booking"
    t.update(act("action_confirm_booking"))
    assert predict(en, t).action == ACTION_LISTEN


def test_loop_rejection_lets_stories_answer_then_the_loop_resumes(
    en: PolicyEnsemble, make_user: MakeUser
) -> None:
    t = form_tracker(en, make_user, make_user("stop"))
    assert predict(en, t).action == "booking_form"
    t.update(ActionExecutionRejected(name="booking_form"))
    p = predict(en, t)
    assert p.action == "utter_ask_continue" and p.policy.startswith("MemoizationPolicy")
    t.extend([act("utter_ask_continue")])
    assert predict(en, t).action == ACTION_LISTEN
    t.extend([listen(), make_user("deny")])
    # the loop was interrupted by utter_ask_continue: stories answer before the loop
    assert t.loop_interrupted
    assert predict(en, t).action == "action_deactivate_loop"


def test_rejected_loop_is_not_predicted_again_for_the_same_message(
    en: PolicyEnsemble, make_user: MakeUser
) -> None:
    t = form_tracker(
        en, make_user, make_user("inform"), ActionExecutionRejected(name="booking_form")
    )
    p = en.predict(t)
    assert p is None or p.action != "booking_form"


def test_resume_after_an_interruption_answered_by_a_response(
    zh: PolicyEnsemble, make_user: MakeUser
) -> None:
    t = tracker(
        zh,
        make_user("order_drink"),
        act("drink_form"),
        ActiveLoop(name="drink_form"),
        SlotSet(key="requested_slot", value="size"),
        listen(),
        make_user("bot_challenge"),
        ActionExecutionRejected(name="drink_form"),
    )
    assert predict(zh, t).action == "utter_iamabot"
    t.update(act("utter_iamabot"))
    p = predict(zh, t)  # no rule brings the form back after this one: resume the loop anyway
    assert (p.action, p.policy) == ("drink_form", "RulePolicy(resume loop)")
    t.update(act("drink_form"))
    assert predict(zh, t).action == ACTION_LISTEN


# ------------------------------------------------------------------ memoization
def s(*features: str) -> State:
    return frozenset(tuple(f.split("=", 1)) for f in features)  # type: ignore[misc]


A = s("prev=action_listen", "intent=greet", "slot:vip=true")
B = s("prev=utter_greet", "intent=greet", "slot:vip=true")
C = s("prev=action_listen", "intent=ask", "slot:vip=true")
D = s("prev=utter_x", "intent=ask", "slot:vip=true")


def memo(*stories: list[tuple[State, str]], max_history: int = 5) -> MemoizationPolicy:
    policy = MemoizationPolicy({"max_history": max_history})
    policy.train([Trajectory(list(p)) for p in stories], [])
    return policy


def test_memoization_recalls_a_story() -> None:
    policy = memo([(A, "utter_greet"), (B, ACTION_LISTEN), (C, "utter_x"), (D, ACTION_LISTEN)])
    p = policy.predict([A, B, C])
    assert p is not None and (p.action, p.confidence) == ("utter_x", 1.0 - 0.01 * 2)
    assert p.policy == "MemoizationPolicy"


def test_memoization_uses_at_most_max_history_states() -> None:
    policy = memo([(A, "utter_greet"), (B, ACTION_LISTEN), (C, "utter_x")], max_history=2)
    assert len(policy.exact.by_length) == 2
    other = s("prev=action_listen", "intent=other")
    p = policy.predict([other, other, B, C])  # only the last two states matter
    assert p is not None and p.action == "utter_x"


def test_augmented_memoization_falls_back_to_shorter_histories() -> None:
    policy = memo([(A, "utter_greet"), (B, ACTION_LISTEN), (C, "utter_x")])
    unseen = s("prev=utter_unseen", "intent=greet", "slot:vip=true")
    p = policy.predict([unseen, C])
    assert p is not None and p.action == "utter_x"
    assert p.confidence < 1.0  # a shorter match is less certain


def test_slot_free_generalisation() -> None:
    policy = memo([(A, "utter_greet"), (B, ACTION_LISTEN)])
    vip_false = s("prev=action_listen", "intent=greet", "slot:vip=false")
    p = policy.predict([vip_false])
    assert p is not None and (p.action, p.policy) == ("utter_greet", "MemoizationPolicy(general)")
    assert p.confidence == 0.8


def test_contradicting_stories_mean_no_guess() -> None:
    policy = memo([(A, "utter_greet")], [(A, "utter_other")])
    assert policy.predict([A]) is None


def test_a_clear_majority_still_wins() -> None:
    policy = memo([(A, "utter_greet")], [(A, "utter_greet")], [(A, "utter_greet")], [(A, "x")])
    p = policy.predict([A])
    assert p is not None and p.action == "utter_greet"


def test_contradiction_at_the_longest_known_history_is_not_overruled_by_a_shorter_one() -> None:
    policy = memo(
        [(C, "utter_x"), (D, "utter_a")], [(C, "utter_x"), (D, "utter_b")], [(D, "utter_a")]
    )
    # [C, D] is contradictory (a vs b); the single-state history [D] alone would say utter_a
    assert policy.predict([C, D]) is None


def test_unknown_history_gives_nothing() -> None:
    policy = memo([(A, "utter_greet")])
    assert policy.predict([s("intent=never_seen")]) is None
    assert policy.predict([]) is None
