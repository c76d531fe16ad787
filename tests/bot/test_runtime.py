"""Wiring a project: `train_project` reuses or retrains; `build_engine` honours endpoints.yml."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot import model as model_io
from bot.dialogue.custom_actions import InProcessActionRunner
from bot.engine import Engine
from bot.messages import InboundMessage
from bot.model import TrainedModel
from bot.runtime import TrainOutcome, build_engine, load_or_train, models_dir, train_project
from bot.stores.memory import InMemoryTrackerStore
from bot.stores.sqlite import SQLiteTrackerStore

# a small Chinese project: trains in a moment, still the real training path
CONFIG = """\
language: zh
pipeline:
  - name: JiebaTokenizer
  - name: DIETClassifier
policies:
  - name: MemoizationPolicy
  - name: RulePolicy
"""
NLU = """\
version: "3.1"
nlu:
  - intent: greet
    examples: |
      - 你好
      - 您好
      - 在吗
  - intent: goodbye
    examples: |
      - 再见
      - 拜拜
      - 回头见
  - intent: bot_challenge
    examples: |
      - 你是机器人吗
      - 你是真人吗
      - 是不是自动回复
"""
WRONG_CUISINE = "Sorry, we don't serve that cuisine. Please pick another one."


@pytest.fixture(scope="module")
def small_project(tmp_path_factory: pytest.TempPathFactory, zh_root: Path) -> Path:
    root = tmp_path_factory.mktemp("runtime") / "zh_small"
    shutil.copytree(zh_root, root)
    (root / "config.yml").write_text(CONFIG, encoding="utf-8")
    (root / "data" / "nlu.yml").write_text(NLU, encoding="utf-8")
    (root / "data" / "faq.yml").unlink()
    return root


def test_train_project_reuses_until_the_data_changes(small_project: Path, tmp_path: Path) -> None:
    out = tmp_path / "models_out"
    stages: list[str] = []
    first = train_project(small_project, progress=stages.append, out=out)
    assert isinstance(first, TrainOutcome) and not first.reused
    assert first.path.parent == out and first.path.is_file()
    assert not models_dir(small_project).exists()  # `out` replaces models/
    assert "policies" in stages
    assert first.model.fingerprint == model_io.fingerprint(small_project)

    again = train_project(small_project, out=out)
    assert again.reused and again.path == first.path
    assert again.model.fingerprint == first.model.fingerprint

    # files the model does not learn from do not matter
    (small_project / "README.md").write_text("说明", encoding="utf-8")
    (small_project / "tests" / "test_stories.yml").write_text("stories: []\n", encoding="utf-8")
    assert train_project(small_project, out=out).reused

    nlu = small_project / "data" / "nlu.yml"
    nlu.write_text(NLU.replace("      - 在吗\n", "      - 在吗\n      - 哈喽\n"), encoding="utf-8")
    changed = train_project(small_project, out=out)
    assert not changed.reused
    assert changed.model.fingerprint != first.model.fingerprint
    assert changed.path != first.path and changed.path.parent == out
    assert model_io.latest(out) == changed.path
    assert changed.model.interpreter.parse("哈喽").intent.name == "greet"
    assert train_project(small_project, out=out).path == changed.path


def test_train_project_retrains_over_an_unreadable_model(
    small_project: Path, tmp_path: Path
) -> None:
    out = tmp_path / "models"
    out.mkdir()
    (out / "20000101-000000-000000000000.zhike").write_bytes(b"not a model\n")
    outcome = train_project(small_project, out=out)
    assert not outcome.reused
    assert model_io.latest(out) == outcome.path
    assert model_io.load(outcome.path).fingerprint == outcome.model.fingerprint


def test_load_or_train_saves_under_models(small_project: Path, tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(small_project, root)
    model = load_or_train(root)
    assert model_io.latest(models_dir(root)).name.endswith(f"-{model.fingerprint}.zhike")


# ------------------------------------------------------------------------------ build_engine
ENDPOINTS = """\
action_endpoint:
  url: http://localhost:5055/webhook
tracker_store:
  type: SQL
  dialect: sqlite
  db: state/trackers.db
"""


@pytest.fixture
def en_copy(tmp_path: Path, en_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("ZHIKE_ACTIONS", raising=False)
    root = tmp_path / "en_restaurant"
    shutil.copytree(en_root, root)
    (root / "endpoints.yml").write_text(ENDPOINTS, encoding="utf-8")
    return root


async def _say(engine: Engine, text: str) -> list[str]:
    message = InboundMessage(channel="rest", conversation_id="guest-1", text=text)
    return [m.text for m in await engine.handle(message) if m.text]


async def _close(engine: Engine) -> None:
    await engine.close()
    await engine.trackers.close()
    await engine.locks.close()


async def test_build_engine_uses_sqlite_from_endpoints_and_in_process_actions(
    en_copy: Path, en_payload_model: TrainedModel
) -> None:
    engine = build_engine(en_copy, en_payload_model)
    try:
        assert isinstance(engine.trackers, SQLiteTrackerStore)
        assert Path(engine.trackers.path) == en_copy / "state" / "trackers.db"
        # the project has an actions package: it runs in-process, not at localhost:5055
        assert isinstance(engine.runner, InProcessActionRunner)
        assert engine.runner.knows("validate_booking_form")
        assert engine.runner.knows("action_confirm_booking")
        # validate_booking_form (custom code) rejects the cuisine
        replies = await _say(engine, '/book_table{"cuisine": "klingon"}')
        assert WRONG_CUISINE in replies
    finally:
        await _close(engine)
    assert (en_copy / "state" / "trackers.db").is_file()

    again = build_engine(en_copy, en_payload_model)
    try:
        tracker = await again.load_tracker("guest-1")
        assert tracker.active_loop == "booking_form"
        assert tracker.get_slot("requested_slot") == "cuisine"
        assert await _say(again, '/inform{"cuisine": "Italian"}') == ["For how many people?"]
        assert (await again.load_tracker("guest-1")).get_slot("cuisine") == "italian"
    finally:
        await _close(again)


async def test_build_engine_store_url_overrides_endpoints(
    en_copy: Path, en_payload_model: TrainedModel
) -> None:
    engine = build_engine(en_copy, en_payload_model, store_url="memory://")
    try:
        assert isinstance(engine.trackers, InMemoryTrackerStore)
    finally:
        await _close(engine)
    assert not (en_copy / "state").exists()


async def test_build_engine_default_store_is_sqlite_in_the_project(
    en_copy: Path, en_payload_model: TrainedModel
) -> None:
    (en_copy / "endpoints.yml").write_text(
        "action_endpoint:\n  url: http://localhost:5055/webhook\n", encoding="utf-8"
    )
    engine = build_engine(en_copy, en_payload_model)
    try:
        assert isinstance(engine.trackers, SQLiteTrackerStore)
        assert Path(engine.trackers.path) == en_copy / ".zhike" / "trackers.db"
    finally:
        await _close(engine)
