from __future__ import annotations

from bot.dialogue.states import NULL
from bot.dialogue.story_graph import (
    MAX_OR_EXPANSION,
    linear_paths,
    relevant_entities,
    rule_trajectories,
    story_trajectories,
    trajectory,
)
from bot.nlu.types import Entity
from bot.project.domain import Domain, IntentSpec, Slot
from bot.project.loader import Project
from bot.project.stories import (
    ActionStep,
    CheckpointStep,
    LoopStep,
    OrStep,
    SlotStep,
    StoryBlock,
    UserStep,
)


def domain() -> Domain:
    return Domain(
        intents={n: IntentSpec(n) for n in ("greet", "affirm", "deny", "inform", "ask")},
        slots={"vip": Slot("vip", "bool")},
    )


def u(intent: str, *ents: str) -> UserStep:
    return UserStep(intent, entities=[Entity(e, "v", 0, 0) for e in ents])


def a(name: str) -> ActionStep:
    return ActionStep(name)


def actions(pairs: list[tuple[frozenset[tuple[str, str]], str]]) -> list[str]:
    return [act for _, act in pairs]


def test_story_pairs_include_listen_before_each_user_turn_and_at_the_end() -> None:
    pairs = trajectory(
        [u("greet"), a("utter_greet"), u("ask"), a("utter_a"), a("utter_b")], domain(), set()
    )
    assert actions(pairs) == ["utter_greet", "action_listen", "utter_a", "utter_b", "action_listen"]
    assert dict(pairs[2][0])["intent"] == "ask"
    assert dict(pairs[3][0])["prev"] == "utter_a"


def test_slot_and_loop_steps_change_the_following_states() -> None:
    steps = [u("greet"), SlotStep([("vip", True, True)]), a("form"), LoopStep("form")]
    pairs = trajectory(steps, domain(), set())
    assert dict(pairs[0][0])["slot:vip"] == "true"
    assert dict(pairs[1][0])["loop"] == "form"


def test_checkpoints_are_stitched() -> None:
    head = StoryBlock("head", [u("greet"), a("utter_greet"), CheckpointStep("cp")])
    yes = StoryBlock("yes", [CheckpointStep("cp"), u("affirm"), a("utter_yes")])
    no = StoryBlock("no", [CheckpointStep("cp"), u("deny"), a("utter_no")])
    paths = dict(linear_paths([head, yes, no]))
    assert set(paths) == {"head > yes", "head > no", "yes", "no"}
    stitched = paths["head > yes"]
    assert [getattr(s, "intent", None) or getattr(s, "name", None) for s in stitched] == [
        "greet",
        "utter_greet",
        "affirm",
        "utter_yes",
    ]


def test_or_steps_expand_into_alternatives() -> None:
    story = StoryBlock("s", [OrStep([u("affirm"), u("inform")]), a("utter_ok")])
    trajs = story_trajectories([story], domain(), set())
    intents = sorted(dict(t.pairs[0][0])["intent"] for t in trajs)
    assert intents == ["affirm", "inform"]


def test_or_expansion_is_bounded() -> None:
    many = [OrStep([u("affirm"), u("deny"), u("inform")]) for _ in range(6)]  # 729 combos
    paths = linear_paths([StoryBlock("s", [*many, a("x")])])
    assert len(paths) == MAX_OR_EXPANSION


def test_rules_use_partial_states_and_conditions() -> None:
    rule = StoryBlock(
        "r",
        [u("ask"), a("utter_answer")],
        is_rule=True,
        conditions=[SlotStep([("vip", True, True)]), LoopStep("form")],
    )
    [traj] = rule_trajectories([rule], domain(), set())
    assert actions(traj.pairs) == ["utter_answer", "action_listen"]
    first = dict(traj.pairs[0][0])
    assert first == {"slot:vip": "true", "loop": "form", "intent": "ask", "prev": "action_listen"}
    assert not traj.starts_with_action and not traj.conversation_start


def test_rule_without_waiting_has_no_trailing_listen() -> None:
    rule = StoryBlock("r", [u("ask"), a("utter_a")], is_rule=True, wait_for_user_input=False)
    [traj] = rule_trajectories([rule], domain(), set())
    assert actions(traj.pairs) == ["utter_a"]


def test_rule_starting_with_an_action_is_marked() -> None:
    rule = StoryBlock("r", [a("utter_q"), u("affirm"), a("utter_yes")], is_rule=True)
    [traj] = rule_trajectories([rule], domain(), set())
    assert traj.starts_with_action
    assert actions(traj.pairs) == ["utter_q", "action_listen", "utter_yes", "action_listen"]
    assert traj.pairs[0][0] == frozenset()  # nothing is known before the leading action


def test_conversation_start_flag_is_carried() -> None:
    rule = StoryBlock("r", [u("greet"), a("utter_greet")], is_rule=True, conversation_start=True)
    [traj] = rule_trajectories([rule], domain(), set())
    assert traj.conversation_start


def test_relevant_entities_come_from_stories_and_rules() -> None:
    blocks = [
        StoryBlock("s", [u("inform", "city"), OrStep([u("ask", "date"), u("deny")])]),
        StoryBlock("r", [UserStep("ask", entity_names=["plan"])], is_rule=True),
    ]
    assert relevant_entities(blocks) == {"city", "date", "plan"}


def test_fixture_project_trajectories(en_project: Project) -> None:
    rel = relevant_entities(en_project.stories + en_project.rules)
    stories = story_trajectories(en_project.stories, en_project.domain, rel)
    names = {t.source for t in stories}
    assert "Start a booking and get interrupted by stop > User really stops" in names
    rules = {t.source: t for t in rule_trajectories(en_project.rules, en_project.domain, rel)}
    submit = rules["Submit the booking form"]
    assert submit.starts_with_action
    assert actions(submit.pairs)[1:] == [
        "utter_booking_summary",
        "action_confirm_booking",
        "action_listen",
    ]
    assert dict(submit.pairs[0][0]) == {"loop": "booking_form"}
    assert dict(submit.pairs[1][0])["loop"] == NULL
    assert actions(rules["Opening hours, then keep going without waiting"].pairs) == [
        "utter_opening_hours"
    ]
