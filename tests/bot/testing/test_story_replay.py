from __future__ import annotations

from pathlib import Path

import pytest

from bot.model import TrainedModel
from bot.nlu.types import Entity
from bot.project.stories import ActionStep, LoopStep, SlotStep, StoryBlock, UserStep
from bot.testing.story_replay import (
    StoryReplayer,
    find_test_story_files,
    load_test_stories,
)


def action_failures(model: TrainedModel, root: Path) -> dict[str, list[str]]:
    stories, docs = load_test_stories(find_test_story_files(root))
    assert stories and not docs.errors
    report = StoryReplayer(model).run(stories)
    return {
        r.name: [
            f"line {f.line}: expected {f.expected}, got {f.predicted}"
            for f in r.failures
            if f.kind == "action"
        ]
        for r in report.results
    }


@pytest.mark.parametrize("kind", ["payload", "full"])
def test_en_restaurant_test_stories_pass(
    kind: str, request: pytest.FixtureRequest, en_root: Path
) -> None:
    model = request.getfixturevalue("en_payload_model" if kind == "payload" else "en_model")
    failures = action_failures(model, en_root)
    assert len(failures) == 10
    assert {k: v for k, v in failures.items() if v} == {}


@pytest.mark.parametrize("kind", ["payload", "full"])
def test_zh_mini_test_stories_pass(
    kind: str, request: pytest.FixtureRequest, zh_root: Path
) -> None:
    model = request.getfixturevalue("zh_payload_model" if kind == "payload" else "zh_model")
    failures = action_failures(model, zh_root)
    assert len(failures) == 7
    assert {k: v for k, v in failures.items() if v} == {}


def test_find_test_story_files(en_root: Path, tmp_path: Path) -> None:
    files = find_test_story_files(en_root)
    assert files == [en_root / "tests" / "test_stories.yml"]
    assert find_test_story_files(files[0]) == files
    assert find_test_story_files(tmp_path) == []


def story(*steps: object) -> StoryBlock:
    return StoryBlock("s", list(steps))  # type: ignore[arg-type]


def test_a_wrong_expectation_is_reported(zh_payload_model: TrainedModel) -> None:
    result = StoryReplayer(zh_payload_model).run_one(
        story(UserStep("greet", line=3), ActionStep("utter_goodbye", line=4))
    )
    assert not result.passed
    [failure] = result.failures
    assert (failure.line, failure.kind, failure.expected) == (4, "action", "utter_goodbye")
    assert failure.predicted == "utter_greet"


def test_missing_listen_is_reported(zh_payload_model: TrainedModel) -> None:
    result = StoryReplayer(zh_payload_model).run_one(
        story(UserStep("greet"), ActionStep("utter_greet"), ActionStep("utter_goodbye", line=9))
    )
    assert [(f.expected, f.predicted) for f in result.failures] == [
        ("utter_goodbye", "action_listen")
    ]


def test_form_rejection_is_emulated(zh_payload_model: TrainedModel) -> None:
    result = StoryReplayer(zh_payload_model).run_one(
        story(
            UserStep("order_drink"),
            ActionStep("drink_form"),
            LoopStep("drink_form"),
            SlotStep([("requested_slot", "size", True)]),
            UserStep("bot_challenge"),
            ActionStep("utter_iamabot"),
            ActionStep("drink_form"),
            LoopStep("drink_form"),
        )
    )
    assert result.passed, result.failures


def test_retrieval_actions_are_compared_with_their_response_key(
    zh_payload_model: TrainedModel,
) -> None:
    replay = StoryReplayer(zh_payload_model)
    good = replay.run_one(story(UserStep("faq/delivery"), ActionStep("utter_faq/delivery")))
    assert good.passed
    bad = replay.run_one(story(UserStep("faq/delivery"), ActionStep("utter_faq/payment")))
    assert [(f.expected, f.predicted) for f in bad.failures] == [
        ("utter_faq/payment", "utter_faq/delivery")
    ]


def test_nlu_mismatches_are_reported_separately(zh_payload_model: TrainedModel) -> None:
    step = UserStep("greet", text="你好", entities=[Entity("drink", "奶茶", 0, 0)], line=5)
    result = StoryReplayer(zh_payload_model).run_one(story(step, ActionStep("utter_greet")))
    kinds = sorted(f.kind for f in result.failures)
    assert kinds == ["entities", "intent"]  # the payload-only model understands no text


def test_report_counts_and_dict(zh_payload_model: TrainedModel) -> None:
    replay = StoryReplayer(zh_payload_model)
    report = replay.run(
        [
            story(UserStep("greet"), ActionStep("utter_greet")),
            story(UserStep("greet"), ActionStep("utter_nope")),
        ]
    )
    assert (report.passed, report.failed) == (1, 1)
    doc = report.to_dict()
    assert doc["passed"] == 1 and doc["stories"][1]["failures"][0]["expected"] == "utter_nope"
