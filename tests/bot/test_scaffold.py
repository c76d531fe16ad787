"""`zhike init`: the starter project is copied, refuses non-empty folders and loads cleanly."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.errors import ZhikeError
from bot.project.domain import DEFAULT_INTENTS
from bot.project.loader import load_project
from bot.scaffold import create_project

EXPECTED = [
    "README.md",
    "config.yml",
    "domain.yml",
    "endpoints.yml",
    "data/nlu.yml",
    "data/rules.yml",
    "data/stories.yml",
    "actions/__init__.py",
    "actions/actions.py",
    "tests/test_stories.yml",
]


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("scaffold") / "nested" / "shop_bot"
    create_project(target)
    return target


def test_creates_all_files_with_parents(project_dir: Path) -> None:
    for name in EXPECTED:
        assert (project_dir / name).is_file(), name
    assert not list(project_dir.rglob("__pycache__"))


def test_every_yaml_file_parses(project_dir: Path) -> None:
    files = sorted(project_dir.rglob("*.yml"))
    assert len(files) == 7
    for path in files:
        yaml.safe_load(path.read_text(encoding="utf-8"))


def test_created_project_loads_without_errors(project_dir: Path) -> None:
    project = load_project(project_dir)
    assert project.warnings == []
    assert project.config.language == "zh"
    assert "order_form" in project.domain.forms
    assert "action_query_order" in project.domain.action_names
    assert {"greet", "query_order", "request_human"} <= set(project.domain.intents)
    assert project.actions_package == project_dir.resolve() / "actions" / "__init__.py"


def test_every_intent_has_enough_varied_examples(project_dir: Path) -> None:
    project = load_project(project_dir)
    counts: dict[str, int] = {}
    for ex in project.nlu.examples:
        counts[ex.intent] = counts.get(ex.intent, 0) + 1
    own = [i for i in project.domain.intents if i not in DEFAULT_INTENTS]
    assert own and all(counts.get(i, 0) >= 12 for i in own), counts


def test_test_stories_are_not_training_copies(project_dir: Path) -> None:
    project = load_project(project_dir)
    training = {ex.text for ex in project.nlu.examples}
    doc = yaml.safe_load((project_dir / "tests/test_stories.yml").read_text(encoding="utf-8"))
    texts = [s["user"].strip() for st in doc["stories"] for s in st["steps"] if "user" in s]
    assert len(doc["stories"]) >= 5
    assert texts and not set(texts) & training


def test_refuses_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ZhikeError, match=r"目录不为空.*directory is not empty"):
        create_project(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_accepts_existing_empty_directory(tmp_path: Path) -> None:
    create_project(tmp_path)
    assert (tmp_path / "domain.yml").is_file()


def test_refuses_a_file_path(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("x", encoding="utf-8")
    with pytest.raises(ZhikeError):
        create_project(target)


def _run_query_action(project_dir: Path, order_id: str | None) -> tuple[str, list[Any]]:
    spec = importlib.util.spec_from_file_location(
        "scaffold_actions", project_dir / "actions" / "actions.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tracker = Tracker("u1", {"order_id": order_id}, {}, [], False, None, {}, "action_listen")
    dispatcher = CollectingDispatcher()
    events = module.ActionQueryOrder().run(dispatcher, tracker, {})
    return dispatcher.messages[0]["text"], events


def test_action_answers_known_and_unknown_orders(project_dir: Path) -> None:
    text, events = _run_query_action(project_dir, "dd 2024 0001")
    assert "DD20240001" in text and "已发货" in text
    assert events == [SlotSet("order_id", None)]
    text, _ = _run_query_action(project_dir, "DD20249999")
    assert "没有查到订单 DD20249999" in text
