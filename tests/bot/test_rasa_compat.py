"""Behaviours found by running Rasa's 3.x example bots on Zhike, each on a small original project."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import model as model_io
from bot.dialogue.custom_actions import InProcessActionRunner, load_actions_module
from bot.engine import Engine, create_runner
from bot.messages import InboundMessage
from bot.model import TrainedModel
from bot.project.loader import load_project
from bot.testing.story_replay import StoryReplayer, find_test_story_files, load_test_stories
from tests.conftest import FIXTURES, payload_only

COMPAT = FIXTURES / "rasa_compat"
NAMESPACE = COMPAT / "namespace_actions"
LISTEN = COMPAT / "explicit_listen"


def _train(root: Path) -> TrainedModel:
    return model_io.train(payload_only(load_project(root)))


@pytest.fixture(autouse=True)
def _forget_actions_modules() -> Iterator[None]:
    """Each test imports a project's `actions` afresh; leave no module behind for others."""
    yield
    for name in [m for m in sys.modules if m == "actions" or m.startswith("actions.")]:
        del sys.modules[name]


# ------------------------------------------------- actions/ folder without __init__.py
def test_actions_folder_without_init_is_loaded_in_process() -> None:
    assert not (NAMESPACE / "actions" / "__init__.py").exists()
    runner = InProcessActionRunner(NAMESPACE)
    assert runner.knows("action_tell_hours")


def test_actions_folder_is_not_shadowed_by_another_actions_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoy = tmp_path / "actions"
    decoy.mkdir()
    (decoy / "__init__.py").write_text("DECOY = True\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = load_actions_module(NAMESPACE)
    assert module is not None and not hasattr(module, "DECOY")
    assert [str(p) for p in module.__path__] == [str((NAMESPACE / "actions").resolve())]


def test_action_endpoint_project_with_namespace_actions_runs_them_in_process() -> None:
    runner = create_runner(NAMESPACE, "http://localhost:5055/webhook")
    assert isinstance(runner, InProcessActionRunner)


async def test_custom_action_from_namespace_package_answers() -> None:
    engine = Engine(_train(NAMESPACE), runner=InProcessActionRunner(NAMESPACE))
    messages = await engine.handle(
        InboundMessage(channel="rest", conversation_id="ns", text="/ask_hours")
    )
    assert [m.text for m in messages] == ["The reading room is open from nine to five."]


# ------------------------------------------------- explicit action_listen in stories
def test_explicit_action_listen_is_not_doubled_in_test_stories() -> None:
    stories, _ = load_test_stories(find_test_story_files(LISTEN))
    report = StoryReplayer(_train(LISTEN)).run(stories)
    assert [r.name for r in report.results] == [
        "explicit listen at the end",
        "explicit listen before the next user turn",
    ]
    assert report.failed == 0, report.to_dict()


def test_explicit_action_listen_is_not_doubled_in_training() -> None:
    from bot.dialogue.story_graph import story_trajectories

    project = load_project(LISTEN)
    stories, _ = load_test_stories(find_test_story_files(LISTEN))
    (_, with_user_after), *_ = [
        (t.source, [a for _, a in t.pairs])
        for t in story_trajectories(stories[1:], project.domain, set())
    ]
    assert with_user_after == ["utter_hello", "action_listen", "utter_farewell", "action_listen"]


# ------------------------------------------------- RulePolicy core_fallback_action_name
async def test_configured_core_fallback_action_replaces_the_two_stage_fallback(
    tmp_path: Path,
) -> None:
    import shutil

    project = tmp_path / "bot"
    shutil.copytree(LISTEN, project)
    config = (project / "config.yml").read_text(encoding="utf-8")
    config += "\n  - name: RulePolicy\n    core_fallback_action_name: action_default_fallback\n"
    (project / "config.yml").write_text(config, encoding="utf-8")
    model = _train(project)
    assert model.policies.core_fallback_action == "action_default_fallback"
    engine = Engine(model)
    assert "nlu_fallback" not in _claimed_intents(model)
    await engine.handle(InboundMessage("rest", "c1", text="/nlu_fallback"))
    tracker = await engine.load_tracker("c1")
    names = [e.name for e in tracker.events if type(e).__name__ == "ActionExecuted"]
    assert "action_default_fallback" in names and "action_two_stage_fallback" not in names


def _claimed_intents(model: TrainedModel) -> set[str]:
    claimed = set()
    for rule in model.policies.rule_policy.rules:
        for state in rule.states:
            claimed.update(v for k, v in state if k == "intent")
    return claimed
