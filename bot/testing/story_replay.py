"""`zhike test stories`: replay test stories the way `rasa test` does.

Actions are not executed: the tracker is rebuilt from the story's own events (intents,
`slot_was_set`, `active_loop`) and at every bot step the policies' prediction is compared
with the expected action, including the `action_listen` before each user turn and at the
end. When the prediction is the active form but the story expects something else, a loop
rejection is emulated and the policies predict again. User texts are parsed by the NLU and
their intents and entities compared too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.dialogue.events import (
    ActionExecuted,
    ActionExecutionRejected,
    ActiveLoop,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from bot.dialogue.policies import Prediction
from bot.dialogue.tracker import ACTION_LISTEN, Tracker
from bot.engine import FALLBACK_ACTIONS, KB_ACTION
from bot.kb.service import KnowledgeBase
from bot.model import TrainedModel
from bot.nlu.normalize import normalize
from bot.nlu.types import IntentScore, ParseResult
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
from bot.project.training_loader import TrainingDocs, read_training_doc
from bot.project.yamlio import read_yaml

FALLBACK_ACTION = "action_two_stage_fallback"


@dataclass(slots=True)
class Failure:
    line: int
    kind: str  # action | intent | entities
    expected: str
    predicted: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "kind": self.kind,
            "expected": self.expected,
            "predicted": self.predicted,
        }


@dataclass(slots=True)
class StoryResult:
    name: str
    location: str
    failures: list[Failure] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass(slots=True)
class StoriesReport:
    results: list[StoryResult]

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def failed(self) -> int:
        return len(self.results) - self.passed

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "failed": self.failed,
            "stories": [
                {
                    "name": r.name,
                    "location": r.location,
                    "passed": r.passed,
                    "failures": [f.to_dict() for f in r.failures],
                }
                for r in self.results
            ],
        }


def find_test_story_files(target: Path) -> list[Path]:
    """A given file, or the project's `tests/test_*.yml` files (Rasa's convention)."""
    if target.is_file():
        return [target]
    tests = target / "tests"
    if not tests.is_dir():
        return []
    return sorted(p for p in tests.glob("test_*") if p.suffix in (".yml", ".yaml") and p.is_file())


def load_test_stories(paths: list[Path]) -> tuple[list[StoryBlock], TrainingDocs]:
    docs = TrainingDocs()
    for path in paths:
        doc = read_yaml(path)
        if isinstance(doc, dict) and ("stories" in doc or "rules" in doc):
            only = {"stories": doc.get("stories") or [], "rules": doc.get("rules") or []}
            read_training_doc(docs, only, str(path))
    return docs.stories + docs.rules, docs


class StoryReplayer:
    def __init__(self, model: TrainedModel, kb: KnowledgeBase | None = None) -> None:
        self.model = model
        self.domain = model.domain
        self.kb = kb
        # the KB's verdict on the latest user text, if it would reply (see `predict`)
        self._kb_reply: tuple[float, float] | None = None  # (KB score, intent confidence)

    def run(self, stories: list[StoryBlock]) -> StoriesReport:
        return StoriesReport([self.run_one(story) for story in stories])

    def run_one(self, story: StoryBlock) -> StoryResult:
        result = StoryResult(story.name, str(story.location or ""))
        tracker = Tracker(
            "test",
            self.domain.slots,
            [
                ActionExecuted(name="action_session_start"),
                SessionStarted(),
                ActionExecuted(name=ACTION_LISTEN),
            ],
        )
        acted = False
        last_line = story.location.line if story.location else 0
        for step in _linear(story.steps):
            last_line = getattr(step, "line", last_line)
            if isinstance(step, UserStep):
                if acted:
                    self._expect(tracker, ACTION_LISTEN, step.line, result)
                    tracker.update(ActionExecuted(name=ACTION_LISTEN))
                tracker.update(self._user_event(step, result))
                acted = False
            elif isinstance(step, ActionStep) and step.name is not None:
                self._expect(tracker, step.name, step.line, result)
                tracker.update(ActionExecuted(name=step.name.split("/", 1)[0]))
                acted = step.name != ACTION_LISTEN  # an explicit listen is not listened twice
            elif isinstance(step, SlotStep):
                for name, value, has_value in step.slots:
                    tracker.update(SlotSet(key=name, value=value if has_value else "set"))
            elif isinstance(step, LoopStep):
                tracker.update(ActiveLoop(name=step.name))
        if acted:
            self._expect(tracker, ACTION_LISTEN, last_line, result)
        return result

    def predict(self, tracker: Tracker) -> str:
        prediction = self.model.policies.predict(tracker)
        fallback = self.model.policies.core_fallback_action or FALLBACK_ACTION
        if tracker.latest_action_name == ACTION_LISTEN and self._kb_claims(prediction, fallback):
            return KB_ACTION
        action = prediction.action if prediction else fallback
        base = action.removeprefix("utter_")
        latest = tracker.latest_message
        if action.startswith("utter_") and self.domain.is_retrieval_intent(base) and latest:
            chosen = latest.parse_data.retrieval.get(base) if latest.parse_data else None
            if chosen is not None:  # Rasa reports retrieval actions with their response key
                return f"utter_{chosen.name}"
        return action

    def _kb_claims(self, prediction: Prediction | None, fallback: str) -> bool:
        """The engine's rule: the KB replies when nothing but a fallback claims the message,
        or when its answer beats a weak intent (see `Engine._knowledge`)."""
        if self._kb_reply is None or self.kb is None:
            return False
        score, confidence = self._kb_reply
        if prediction is None or prediction.action in {*FALLBACK_ACTIONS, fallback}:
            return True
        s = self.kb.settings
        return (
            score >= s.answer_threshold
            and confidence < s.override_intent_below < 1.0
            and (score > confidence)
        )

    def _expect(self, tracker: Tracker, expected: str, line: int, result: StoryResult) -> None:
        predicted = self.predict(tracker)
        if predicted != expected and tracker.active_loop and predicted == tracker.active_loop:
            tracker.update(ActionExecutionRejected(name=predicted))
            predicted = self.predict(tracker)
        if predicted != expected:
            result.failures.append(Failure(line, "action", expected, predicted))

    def _user_event(self, step: UserStep, result: StoryResult) -> UserUttered:
        gold = step.intent
        parse: ParseResult | None = None
        self._kb_reply = None
        if step.text:
            parse = self.model.interpreter.parse(step.text)
            self._kb_reply = self._kb_verdict(step.text, parse)
            if gold and parse.intent.name not in (gold, gold.split("/", 1)[0]):
                result.failures.append(Failure(step.line, "intent", gold, parse.intent.name))
            if step.entities:
                lang = self.model.language
                want = sorted((e.entity, _comparable(e.value, lang)) for e in step.entities)
                names = {w[0] for w in want}
                got = sorted(
                    (e.entity, _comparable(e.value, lang))
                    for e in parse.entities
                    if e.entity in names
                )
                if want != got:
                    result.failures.append(Failure(step.line, "entities", str(want), str(got)))
        intent = gold or (parse.intent.name if parse else "")
        final = ParseResult(
            text=step.text or f"/{intent}",
            intent=IntentScore(intent.split("/", 1)[0], 1.0),
            entities=list(step.entities),
        )
        if "/" in intent:
            final.retrieval = {intent.split("/", 1)[0]: IntentScore(intent, 1.0)}
        return UserUttered(text=final.text, parse_data=final)

    def _kb_verdict(self, text: str, parse: ParseResult) -> tuple[float, float] | None:
        if self.kb is None:
            return None
        decision = self.kb.decide(text)
        if decision.outcome == "pass" or decision.best is None:
            return None
        return decision.best.score, parse.intent.confidence


def _comparable(value: object, language: str) -> str:
    """Entity values compare after normalisation: 幺三八… equals 138…, 5G equals 5g."""
    return normalize(str(value), language).text.strip()


def _linear(steps: list[Step]) -> list[Step]:
    out: list[Step] = []
    for step in steps:
        if isinstance(step, OrStep):
            out.extend(step.alternatives[:1])
        elif not isinstance(step, CheckpointStep):
            out.append(step)
    return out
