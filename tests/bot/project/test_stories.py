"""Typed story steps and checkpoint helpers."""

from __future__ import annotations

from bot.errors import Location
from bot.project.stories import (
    ActionStep,
    CheckpointStep,
    LoopStep,
    OrStep,
    SlotStep,
    StoryBlock,
    UserStep,
)


def test_step_defaults() -> None:
    user = UserStep("greet")
    assert (user.entities, user.text, user.entity_names, user.line) == ([], None, [], 0)
    assert ActionStep("utter_x") == ActionStep("utter_x", None, 0)
    assert LoopStep(None).name is None


def test_block_defaults() -> None:
    block = StoryBlock("s", [UserStep("a"), ActionStep("b")])
    assert not block.is_rule
    assert block.conditions == []
    assert block.conversation_start is False
    assert block.wait_for_user_input is True
    assert block.location is None


def test_start_and_end_checkpoints() -> None:
    block = StoryBlock(
        "s",
        [
            CheckpointStep("a"),
            CheckpointStep("b"),
            UserStep("greet"),
            CheckpointStep("middle"),
            ActionStep("utter_greet"),
            CheckpointStep("y"),
            CheckpointStep("z"),
        ],
        location=Location("stories.yml", 3),
    )
    assert block.start_checkpoints == ["a", "b"]
    assert sorted(block.end_checkpoints) == ["y", "z"]
    assert "middle" not in block.start_checkpoints + block.end_checkpoints


def test_no_checkpoints() -> None:
    block = StoryBlock("s", [UserStep("greet"), ActionStep("utter_greet")])
    assert block.start_checkpoints == [] and block.end_checkpoints == []
    assert StoryBlock("empty", []).start_checkpoints == []


def test_checkpoint_only_block() -> None:
    block = StoryBlock("only", [CheckpointStep("a")])
    assert block.start_checkpoints == ["a"] and block.end_checkpoints == ["a"]


def test_or_step_holds_user_and_slot_alternatives() -> None:
    step = OrStep([UserStep("affirm"), SlotStep([("vip", True, True)])], 7)
    assert len(step.alternatives) == 2 and step.line == 7
    assert isinstance(step.alternatives[1], SlotStep)
    assert step.alternatives[1].slots[0] == ("vip", True, True)
