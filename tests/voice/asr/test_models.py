"""voice.asr.models: settings precedence, clear errors, help text, the joined test model."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from voice.asr import models
from voice.asr.base import AsrError
from voice.asr.models import (
    WHISPER_BASE_SHA256,
    load_engine,
    models_help,
    voice_settings,
    vosk_test_model,
    whisper_test_model,
)
from voice.asr.vosk import VoskEngine
from voice.asr.whisper import WhisperEngine

DOMAIN = """\
version: "3.1"
intents: [query_balance]
responses:
  utter_greet:
  - text: 您好
"""
NLU = """\
version: "3.1"
nlu:
- intent: query_balance
  examples: |
    - 查话费
    - 我的话费还有多少
    - 话费余额
"""


def _project(root: Path, voice: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "domain.yml").write_text(DOMAIN, encoding="utf-8")
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "nlu.yml").write_text(NLU, encoding="utf-8")
    if voice is not None:
        (root / "endpoints.yml").write_text(f"voice:\n{voice}", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def whisper_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return whisper_test_model(tmp_path_factory.mktemp("cache") / "whisper-base")


def test_help_names_the_official_chinese_models_and_settings() -> None:
    text = models_help()
    for needle in (
        "vosk-model-small-cn-0.22",
        "vosk-model-cn-0.22",
        "https://alphacephei.com/vosk/models",
        "Systran/faster-whisper-small",
        "ZHIKE_VOSK_MODEL",
        "ZHIKE_WHISPER_MODEL",
        "vosk_model:",
        "whisper_model:",
        "下载",
    ):
        assert needle in text


def test_endpoints_paths_are_relative_to_the_project(tmp_path: Path) -> None:
    root = _project(tmp_path, "  asr: whisper\n  vosk_model: m/vosk\n  whisper_model: /opt/w\n")
    settings = voice_settings(root, env={})
    assert settings.asr == "whisper" and settings.default_engine() == "whisper"
    assert settings.vosk_model is not None and settings.vosk_model.path == root / "m" / "vosk"
    assert settings.vosk_model.origin == "endpoints.yml voice.vosk_model"
    assert settings.whisper_model is not None and settings.whisper_model.path == Path("/opt/w")


def test_environment_overrides_endpoints(tmp_path: Path) -> None:
    root = _project(tmp_path, "  asr: whisper\n  vosk_model: m/vosk\n")
    env = {"ZHIKE_ASR": "vosk", "ZHIKE_VOSK_MODEL": "/srv/vosk-cn"}
    settings = voice_settings(root, env=env)
    assert settings.asr == "vosk"
    assert settings.vosk_model is not None and settings.vosk_model.path == Path("/srv/vosk-cn")
    assert settings.vosk_model.origin == "ZHIKE_VOSK_MODEL"


def test_without_asr_the_configured_engine_is_the_default(tmp_path: Path) -> None:
    root = _project(tmp_path, "  whisper_model: w\n")
    assert voice_settings(root, env={}).default_engine() == "whisper"
    assert voice_settings(_project(tmp_path / "none"), env={}).default_engine() is None


def test_nothing_configured_is_a_bilingual_error_pointing_to_the_help(tmp_path: Path) -> None:
    with pytest.raises(AsrError) as err:
        load_engine(None, _project(tmp_path), env={})
    assert "zhike voice models" in err.value.zh and "zhike voice models" in err.value.en
    assert "ZHIKE_VOSK_MODEL" in str(err.value)


def test_a_missing_model_folder_names_the_path_and_where_it_was_set(tmp_path: Path) -> None:
    root = _project(tmp_path, "  vosk_model: models/nowhere\n")
    with pytest.raises(AsrError) as err:
        load_engine("vosk", root, env={})
    message = str(err.value)
    assert str(root / "models" / "nowhere") in message
    assert "endpoints.yml voice.vosk_model" in message and "zhike voice models" in message


def test_engine_selected_without_its_model_and_unknown_engines(tmp_path: Path) -> None:
    root = _project(tmp_path, "  vosk_model: v\n")
    with pytest.raises(AsrError, match="ZHIKE_WHISPER_MODEL"):
        load_engine("whisper", root, env={})
    with pytest.raises(AsrError, match="unknown ASR engine"):
        load_engine("kaldi", root, env={})
    with pytest.raises(AsrError, match="unknown ASR engine"):
        voice_settings(root, env={"ZHIKE_ASR": "sphinx"})


def test_load_engine_builds_the_configured_engines(tmp_path: Path, whisper_dir: Path) -> None:
    root = _project(tmp_path)
    env = {"ZHIKE_VOSK_MODEL": str(vosk_test_model()), "ZHIKE_WHISPER_MODEL": str(whisper_dir)}
    vosk = load_engine(None, root, env=env)
    assert isinstance(vosk, VoskEngine) and vosk.phrases == ()
    assert vosk.postprocess("查花费") == "查话费"  # corrected with the project's phrases
    whisper = load_engine("whisper", root, env=env)
    assert isinstance(whisper, WhisperEngine) and "话费" in whisper.phrases


def test_the_joined_whisper_model_matches_the_recorded_sha256(whisper_dir: Path) -> None:
    digest = hashlib.sha256((whisper_dir / "model.bin").read_bytes()).hexdigest()
    assert digest == WHISPER_BASE_SHA256["model.bin"]
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        assert (
            hashlib.sha256((whisper_dir / name).read_bytes()).hexdigest()
            == (WHISPER_BASE_SHA256[name])
        )
    mtime = (whisper_dir / "model.bin").stat().st_mtime_ns
    assert whisper_test_model(whisper_dir) == whisper_dir
    assert (whisper_dir / "model.bin").stat().st_mtime_ns == mtime  # reused, not rebuilt


def test_a_checksum_mismatch_fails_and_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = dict(WHISPER_BASE_SHA256, **{"config.json": "0" * 64})
    monkeypatch.setattr(models, "WHISPER_BASE_SHA256", bad)
    with pytest.raises(AsrError, match="SHA-256"):
        whisper_test_model(tmp_path / "w")
    leftovers = [p.name for p in (tmp_path / "w").iterdir()]
    assert "config.json" not in leftovers and not any(n.startswith(".") for n in leftovers)


def test_the_vosk_test_model_is_a_model_folder() -> None:
    assert (vosk_test_model() / "am" / "final.mdl").is_file()
