"""Dialogue policies: rules (incl. forms), memoised stories, and the ensemble that orders them.

Decision order for the next action:
  followup action → default intents (/restart, /back, /session_start) → active loop
  (forms, two-stage fallback) → rules → memoised stories (augmented: shorter histories, then
  slot-free states) → `None` after a user message (the engine then tries the knowledge base,
  the two-stage fallback and finally a handoff) or `action_listen` after a bot action.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bot.dialogue.states import (
    ACTION_LISTEN,
    State,
    StateProgress,
    StateWalker,
    strip_slots,
)
from bot.dialogue.story_graph import (
    Trajectory,
    relevant_entities,
    rule_trajectories,
    story_trajectories,
)
from bot.dialogue.tracker import Tracker
from bot.project.domain import Domain
from bot.project.stories import StoryBlock

DEFAULT_INTENT_ACTIONS = {
    "restart": "action_restart",
    "back": "action_back",
    "session_start": "action_session_start",
}


@dataclass(slots=True, frozen=True)
class Prediction:
    action: str
    confidence: float
    policy: str


@dataclass(slots=True)
class CompiledRule:
    states: list[State]
    actions: list[str]
    conversation_start: bool
    name: str
    first: int = 0  # index of the first step this rule may predict


# a rule step as `predict` tries it: (rank in the order to try, rule, index of the step)
Step = tuple[tuple[bool, int], CompiledRule, int]


class RulePolicy:
    name = "RulePolicy"

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.rules: list[CompiledRule] = []
        # (rule, step) pairs indexed by the previous action the step requires (None: any)
        self.by_prev: dict[str | None, list[tuple[CompiledRule, int]]] = {}

    def train(self, trajectories: list[Trajectory]) -> None:
        self.rules = [
            CompiledRule(
                [s for s, _ in t.pairs],
                [a for _, a in t.pairs],
                t.conversation_start,
                t.source,
                first=1 if t.starts_with_action and not t.conversation_start else 0,
            )
            for t in trajectories
            if t.pairs
        ]
        self.by_prev = {}
        self.__dict__.pop("_by_key", None)
        for rule in self.rules:
            for j in range(rule.first, len(rule.states)):
                prev = dict(rule.states[j]).get("prev")
                self.by_prev.setdefault(prev, []).append((rule, j))

    def predict(self, states: list[State]) -> tuple[Prediction, int] | None:
        """Best matching rule step: (prediction, matched length); longest match wins."""
        if not states:
            return None
        best: tuple[int, int, str] | None = None
        for _, rule, j in self._candidates(states[-1]):
            if j >= len(states) or (rule.conversation_start and j != len(states) - 1):
                continue
            if all(rule.states[j - i] <= states[-1 - i] for i in range(j + 1)):
                specificity = sum(len(rule.states[j - i]) for i in range(j + 1))
                candidate = (j + 1, specificity, rule.actions[j])
                if best is None or candidate[:2] > best[:2]:
                    best = candidate
        if best is None:
            return None
        return Prediction(best[2], 1.0, self.name), best[0]

    def _candidates(self, last: State) -> list[Step]:
        """The rule steps whose previous action and intent can match the latest state, in the
        order `by_prev` gives (the action's own steps, then any action's), which breaks ties
        between equally long, equally specific matches."""
        index = self._index()
        prev = dict(last).get("prev")
        intents = (*(v for k, v in last if k == "intent"), None)
        prevs = (prev, None) if prev is not None else (None,)
        found = [step for p in prevs for i in intents for step in index.get((p, i), ())]
        if len(found) > 1:
            found.sort(key=lambda step: step[0])
        return found

    def _index(self) -> dict[tuple[str | None, str | None], list[Step]]:
        """`by_prev` keyed also by each step's intent, with each step's rank in the order
        `predict` must try them; built on first use (also for loaded models)."""
        index: dict[tuple[str | None, str | None], list[Step]]
        index = self.__dict__.get("_by_key") or {}
        if not index:
            for prev, steps in self.by_prev.items():
                for n, (rule, j) in enumerate(steps):
                    key = (prev, dict(rule.states[j]).get("intent"))
                    index.setdefault(key, []).append(((prev is None, n), rule, j))
            self.__dict__["_by_key"] = index
        return index

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_by_key"}


@dataclass(slots=True)
class MemoTable:
    """history of states (most recent last) -> counts of the next action."""

    by_length: list[dict[tuple[State, ...], Counter[str]]] = field(default_factory=list)

    def add(self, states: list[State], action: str, max_history: int) -> None:
        while len(self.by_length) < max_history:
            self.by_length.append({})
        for k in range(1, min(max_history, len(states)) + 1):
            key = tuple(states[-k:])
            self.by_length[k - 1].setdefault(key, Counter())[action] += 1

    def lookup(self, states: list[State], augmented: bool = True) -> tuple[str, int] | None:
        """Longest known history first; `augmented=False` tries only the full window (Rasa's
        plain MemoizationPolicy), so an unseen earlier turn makes it miss."""
        longest = min(len(self.by_length), len(states))
        for k in range(longest, 0 if augmented else longest - 1, -1):
            counts = self.by_length[k - 1].get(tuple(states[-k:]))
            if counts is None:
                continue
            (action, n), *rest = [*counts.most_common(2), ("", 0)]
            if len(counts) == 1 or n > 2 * rest[0][1]:
                return action, k
            return None  # contradicting stories at the longest history we know: don't guess
        return None


class MemoizationPolicy:
    name = "MemoizationPolicy"

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.max_history = int((options or {}).get("max_history") or 5)
        # shorter histories and slot-free states generalise to paths no story shows
        self.augmented = bool((options or {}).get("augmented", True))
        self.exact = MemoTable()
        self.general = MemoTable()  # slot-free states: generalises to unseen slot contexts

    def train(self, stories: list[Trajectory], rules: list[Trajectory]) -> None:
        for traj in stories:
            history: list[State] = []
            for state, action in traj.pairs:
                history.append(state)
                self.exact.add(history, action, self.max_history)
                self.general.add([strip_slots(s) for s in history], action, self.max_history)

    def predict(self, states: list[State]) -> Prediction | None:
        found = self.exact.lookup(states, self.augmented)
        if found:
            action, k = found
            return Prediction(action, 1.0 - 0.01 * (self.max_history - k), self.name)
        if not self.augmented:
            return None
        found = self.general.lookup([strip_slots(s) for s in states])
        if found:
            return Prediction(found[0], 0.8, "MemoizationPolicy(general)")
        return None


class PolicyEnsemble:
    """Trained policies plus the fixed decision order above."""

    def __init__(self, domain: Domain, options: dict[str, dict[str, Any]] | None = None) -> None:
        options = options or {}
        self.domain = domain
        self.rule_policy = RulePolicy(options.get("RulePolicy"))
        self.memo = MemoizationPolicy(options.get("MemoizationPolicy"))
        # a project that names Rasa's core fallback action gets it instead of Zhike's chain
        self.core_fallback_action: str | None = (options.get("RulePolicy") or {}).get(
            "core_fallback_action_name"
        )
        self.relevant: set[str] = set()

    def train(self, stories: list[StoryBlock], rules: list[StoryBlock]) -> None:
        self.relevant = relevant_entities(stories + rules)
        rule_trajs = rule_trajectories(rules, self.domain, self.relevant)
        story_trajs = story_trajectories(stories, self.domain, self.relevant)
        self.rule_policy.train(rule_trajs)
        self.memo.train(story_trajs, rule_trajs)

    def states(self, tracker: Tracker) -> list[State]:
        """The tracker's states, folding in only the events added since the last call."""
        progress = tracker.memo.get(self)
        if not isinstance(progress, StateProgress):
            progress = tracker.memo[self] = StateProgress(StateWalker(self.domain, self.relevant))
        return progress.advance(tracker.applied)

    def predict(self, tracker: Tracker) -> Prediction | None:
        if tracker.followup_action:
            return Prediction(tracker.followup_action, 1.0, "followup")
        prev = tracker.latest_action_name
        loop = tracker.active_loop
        states = self.states(tracker)
        if prev == ACTION_LISTEN:
            return self._after_user(tracker, states, loop)
        return self._after_action(tracker, states, loop, prev)

    def _after_user(
        self, tracker: Tracker, states: list[State], loop: str | None
    ) -> Prediction | None:
        intent = tracker.latest_intent
        if intent in DEFAULT_INTENT_ACTIONS:
            return Prediction(DEFAULT_INTENT_ACTIONS[intent], 1.0, "RulePolicy(default)")
        if loop and not tracker.loop_rejected and not tracker.loop_interrupted:
            return Prediction(loop, 1.0, "RulePolicy(loop)")
        rule = self.rule_policy.predict(states)
        if rule and not (loop and tracker.loop_rejected and rule[0].action == loop):
            return rule[0]
        memo = self.memo.predict(states)
        if memo and not (loop and tracker.loop_rejected and memo.action == loop):
            return memo
        if loop and not tracker.loop_rejected:  # an interrupted loop takes the message back
            return Prediction(loop, 1.0, "RulePolicy(loop)")
        return None

    def _after_action(
        self, tracker: Tracker, states: list[State], loop: str | None, prev: str | None
    ) -> Prediction:
        if loop and prev == loop:
            return Prediction(ACTION_LISTEN, 1.0, "RulePolicy(loop)")
        rule = self.rule_policy.predict(states)
        if rule and rule[0].action != ACTION_LISTEN and rule[0].action != prev:
            return rule[0]
        memo = self.memo.predict(states)
        if memo and memo.action != prev:
            return memo
        if loop:  # an interruption was answered: go back to the form's question
            return Prediction(loop, 0.9, "RulePolicy(resume loop)")
        return rule[0] if rule else Prediction(ACTION_LISTEN, 1.0, "default")
