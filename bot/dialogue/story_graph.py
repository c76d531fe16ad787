"""Turn stories and rules into (state, next action) training pairs.

Checkpoints are stitched, `or` alternatives expanded, and each linear path is walked with
the same `StateWalker` that reads live trackers.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from bot.dialogue.states import ACTION_LISTEN, State, StateWalker
from bot.project.domain import Domain
from bot.project.stories import (
    ActionStep,
    CheckpointStep,
    LoopStep,
    OrStep,
    SlotStep,
    Step,
    StoryBlock,
    UserStep,
)

MAX_PATHS = 5000
MAX_OR_EXPANSION = 64
MAX_STITCH_DEPTH = 6


@dataclass(slots=True)
class Trajectory:
    pairs: list[tuple[State, str]]
    conversation_start: bool = False
    source: str = ""
    starts_with_action: bool = False  # a rule's leading action is context, not a prediction


def _expand_or(steps: list[Step]) -> list[list[Step]]:
    options: list[list[Step]] = []
    for step in steps:
        if isinstance(step, OrStep):
            options.append(list(step.alternatives))
        else:
            options.append([step])
    out: list[list[Step]] = []
    for combo in itertools.product(*options):
        out.append(list(combo))
        if len(out) >= MAX_OR_EXPANSION:
            break
    return out


def linear_paths(stories: list[StoryBlock]) -> list[tuple[str, list[Step]]]:
    """All checkpoint-stitched, `or`-expanded step sequences of the stories."""
    by_start: dict[str, list[StoryBlock]] = {}
    for story in stories:
        for cp in story.start_checkpoints:
            by_start.setdefault(cp, []).append(story)
    out: list[tuple[str, list[Step]]] = []

    def body(story: StoryBlock) -> list[Step]:
        return [s for s in story.steps if not isinstance(s, CheckpointStep)]

    def walk(story: StoryBlock, prefix: list[Step], name: str, depth: int) -> None:
        steps = prefix + body(story)
        followers = [f for cp in story.end_checkpoints for f in by_start.get(cp, [])]
        if not followers or depth >= MAX_STITCH_DEPTH:
            out.append((name, steps))
            return
        for follower in followers:
            if len(out) >= MAX_PATHS:
                return
            walk(follower, steps, f"{name} > {follower.name}", depth + 1)

    for story in stories:
        if len(out) >= MAX_PATHS:
            break
        walk(story, [], story.name, 0)
    expanded: list[tuple[str, list[Step]]] = []
    for name, steps in out:
        expanded.extend((name, variant) for variant in _expand_or(steps))
    return expanded[:MAX_PATHS]


def trajectory(
    steps: list[Step],
    domain: Domain,
    relevant_entities: set[str],
    partial: bool = False,
    conditions: list[SlotStep | LoopStep] | None = None,
    listen_at_end: bool = True,
) -> list[tuple[State, str]]:
    """Walk one linear path into (state, action) pairs."""
    walker = StateWalker(domain, relevant_entities, partial=partial)
    for cond in conditions or []:
        _apply_context(walker, cond)
    pairs: list[tuple[State, str]] = []
    acted = False  # the bot has acted since the last user message
    for step in steps:
        if isinstance(step, UserStep):
            if acted:
                pairs.append((walker.state(), ACTION_LISTEN))
            walker.user(step.intent, [e.entity for e in step.entities] + step.entity_names)
            acted = False
        elif isinstance(step, ActionStep):
            if step.name is None:
                continue
            pairs.append((walker.state(), step.name))
            walker.action(step.name)
            acted = step.name != ACTION_LISTEN  # Rasa adds no second listen after an explicit one
        else:
            _apply_context(walker, step)
    if acted and listen_at_end:
        pairs.append((walker.state(), ACTION_LISTEN))
    return pairs


def _apply_context(walker: StateWalker, step: Step) -> None:
    if isinstance(step, SlotStep):
        for name, value, has_value in step.slots:
            walker.slot(name, value, has_value)
    elif isinstance(step, LoopStep):
        walker.loop(step.name)


def story_trajectories(
    stories: list[StoryBlock], domain: Domain, relevant_entities: set[str]
) -> list[Trajectory]:
    return [
        Trajectory(trajectory(steps, domain, relevant_entities), source=name)
        for name, steps in linear_paths(stories)
    ]


def rule_trajectories(
    rules: list[StoryBlock], domain: Domain, relevant_entities: set[str]
) -> list[Trajectory]:
    out: list[Trajectory] = []
    for rule in rules:
        for steps in _expand_or([s for s in rule.steps if not isinstance(s, CheckpointStep)]):
            pairs = trajectory(
                steps,
                domain,
                relevant_entities,
                partial=True,
                conditions=rule.conditions,
                listen_at_end=rule.wait_for_user_input,
            )
            leading = next((s for s in steps if not isinstance(s, SlotStep | LoopStep)), None)
            out.append(
                Trajectory(
                    pairs, rule.conversation_start, rule.name, isinstance(leading, ActionStep)
                )
            )
    return out


def relevant_entities(blocks: list[StoryBlock]) -> set[str]:
    """Entity types that stories or rules condition on."""
    out: set[str] = set()
    for block in blocks:
        for step in block.steps:
            alts = step.alternatives if isinstance(step, OrStep) else [step]
            for alt in alts:
                if isinstance(alt, UserStep):
                    out.update(e.entity for e in alt.entities)
                    out.update(alt.entity_names)
    return out
