from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import bot
from bot import model as model_io
from bot.dialogue.events import ActionExecuted, SessionStarted
from bot.dialogue.tracker import Tracker
from bot.errors import ModelNotFound, ZhikeError
from bot.model import FORMAT_VERSION, MODEL_SUFFIX, TrainedModel


def test_trained_model_contents(zh_payload_model: TrainedModel, zh_root: Path) -> None:
    m = zh_payload_model
    assert m.language == "zh"
    assert m.fingerprint == model_io.fingerprint(zh_root)
    assert m.zhike_version == bot.__version__
    assert {"policies", "total"} <= set(m.timings)
    assert set(m.intent_labels) >= {"greet", "order_drink", "faq"}  # retrieval keys fold to `faq`
    assert m.intent_labels["greet"] in {
        "你好",
        "您好",
        "嗨",
        "哈喽",
        "在吗",
        "早上好",
        "下午好",
        "晚上好",
    }


def test_save_writes_a_json_header_then_the_model(
    zh_payload_model: TrainedModel, tmp_path: Path
) -> None:
    path = model_io.save(zh_payload_model, tmp_path / "models")
    assert path.suffix == MODEL_SUFFIX and path.name.endswith(
        f"-{zh_payload_model.fingerprint}.zhike"
    )
    header = model_io.read_header(path)
    assert header["format"] == FORMAT_VERSION
    assert header["fingerprint"] == zh_payload_model.fingerprint
    assert header["language"] == "zh"
    assert header["zhike_version"] == bot.__version__
    assert header["intents"] == len(zh_payload_model.intent_labels)
    first_line = path.read_bytes().split(b"\n", 1)[0]
    assert json.loads(first_line) == header
    assert not list((tmp_path / "models").glob("*.tmp"))  # written atomically


async def test_save_load_round_trip_predicts_the_same(
    zh_model: TrainedModel, tmp_path: Path
) -> None:
    path = model_io.save(zh_model, tmp_path)
    loaded = model_io.load(path)
    assert isinstance(loaded, TrainedModel)
    assert loaded.fingerprint == zh_model.fingerprint
    assert loaded.domain.forms.keys() == zh_model.domain.forms.keys()
    for text in ("你好", "我要点单", "你们几点开门", "大杯"):
        assert (
            loaded.interpreter.parse(text).to_dict() == zh_model.interpreter.parse(text).to_dict()
        )
    tracker = Tracker(
        "t", loaded.domain.slots, [ActionExecuted(name="action_session_start"), SessionStarted()]
    )
    assert loaded.policies.predict(tracker) == zh_model.policies.predict(tracker)


def test_load_of_a_directory_takes_the_latest(
    zh_payload_model: TrainedModel, tmp_path: Path
) -> None:
    older = tmp_path / f"20000101-000000-old{MODEL_SUFFIX}"
    shutil.copy(model_io.save(zh_payload_model, tmp_path), older)
    newest = model_io.latest(tmp_path)
    assert newest != older
    assert model_io.load(tmp_path).fingerprint == zh_payload_model.fingerprint


def test_a_model_file_is_never_replaced(zh_payload_model: TrainedModel, tmp_path: Path) -> None:
    """Two trainings of the same project within one second (same stamp and fingerprint) give
    two files, and the later one is the latest."""
    first = model_io.save(zh_payload_model, tmp_path)
    second = model_io.save(zh_payload_model, tmp_path)
    third = model_io.save(zh_payload_model, tmp_path)
    assert len({first, second, third}) == 3
    assert second.name == first.name.replace(MODEL_SUFFIX, f"-2{MODEL_SUFFIX}")
    assert model_io.latest(tmp_path) == third


def test_missing_and_broken_models(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound):
        model_io.latest(tmp_path)
    with pytest.raises(ZhikeError):
        model_io.load(tmp_path / f"nowhere{MODEL_SUFFIX}")
    broken = tmp_path / f"x{MODEL_SUFFIX}"
    broken.write_bytes(b'{"format": 1}\nnot a pickle')
    with pytest.raises(ZhikeError):
        model_io.load(broken)
    wrong = tmp_path / f"y{MODEL_SUFFIX}"
    wrong.write_bytes(b'{"format": 999}\n')
    with pytest.raises(ZhikeError, match="999"):
        model_io.load(wrong)


def test_fingerprint_changes_with_the_data(zh_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "p"
    shutil.copytree(zh_root, root)
    before = model_io.fingerprint(root)
    assert before == model_io.fingerprint(root)  # stable
    (root / "tests" / "test_stories.yml").write_text("stories: []\n", encoding="utf-8")
    assert model_io.fingerprint(root) == before  # test stories are not training data
    nlu = root / "data" / "nlu.yml"
    nlu.write_text(nlu.read_text(encoding="utf-8") + "      - 新的例句\n", encoding="utf-8")
    after_nlu = model_io.fingerprint(root)
    assert after_nlu != before
    (root / "domain" / "responses.yml").write_text(
        (root / "domain" / "responses.yml").read_text(encoding="utf-8").replace("再见", "回见"),
        encoding="utf-8",
    )
    assert model_io.fingerprint(root) != after_nlu
    (root / "config.yml").write_text("language: zh\n", encoding="utf-8")
    assert len({before, after_nlu, model_io.fingerprint(root)}) == 3


def test_a_saved_model_loads(zh_model: TrainedModel, tmp_path: Path) -> None:
    """Load time is measured by the benchmarks; here we only check a full model loads."""
    loaded = model_io.load(model_io.save(zh_model, tmp_path))
    assert loaded.interpreter.parse("你好").intent.name == "greet"
