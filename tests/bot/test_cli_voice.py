"""`zhike voice …` end to end: the models guide, speaking a WAV, transcribing one, prompts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from voice.audio import duration, read_wav

AUDIO = Path(__file__).parents[1] / "fixtures" / "audio"
ZH_MINI = Path(__file__).parents[1] / "fixtures" / "projects" / "zh_mini"
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")
runner = CliRunner()


def test_models_tells_where_to_get_chinese_models() -> None:
    result = runner.invoke(app, ["voice", "models"])
    assert result.exit_code == 0
    assert "vosk-model-small-cn-0.22" in result.output and "ZHIKE_VOSK_MODEL" in result.output


@needs_espeak
def test_say_writes_a_wav(tmp_path: Path) -> None:
    target = tmp_path / "hello.wav"
    args = ["voice", "say", "您好，欢迎致电小知客服。", "-o", str(target), "-p", str(tmp_path)]
    result = runner.invoke(app, [*args, "--engine", "espeak"])
    assert result.exit_code == 0, result.output
    pcm, rate = read_wav(target)
    assert rate == 16000 and duration(pcm, rate) > 1.0


def test_transcribe_with_the_whisper_test_model(monkeypatch: pytest.MonkeyPatch) -> None:
    from voice.asr.models import whisper_test_model

    monkeypatch.setenv("ZHIKE_WHISPER_MODEL", str(whisper_test_model()))
    wav = AUDIO / "query_balance_16k.wav"
    result = runner.invoke(app, ["voice", "transcribe", str(wav), "-e", "whisper", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert "话费" in report["text"] and report["audio_seconds"] > 1


def test_transcribe_explains_a_missing_model(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["voice", "transcribe", str(AUDIO / "greet_16k.wav"), "-p", str(tmp_path)]
    )
    assert result.exit_code == 1 and "zhike voice models" in result.output


@needs_espeak
def test_build_prompts_fills_the_cache(tmp_path: Path) -> None:
    project = tmp_path / "zh_mini"
    shutil.copytree(ZH_MINI, project)
    result = runner.invoke(app, ["voice", "build-prompts", "-e", "espeak", "-p", str(project)])
    assert result.exit_code == 0, result.output
    assert list((project / ".zhike" / "prompts").rglob("*.wav"))
    again = runner.invoke(app, ["voice", "build-prompts", "-e", "espeak", "-p", str(project)])
    assert "0 prompt(s)" in again.output


@needs_espeak
def test_train_builds_the_prompts_when_a_phone_channel_is_configured(tmp_path: Path) -> None:
    project = tmp_path / "zh_mini"
    shutil.copytree(ZH_MINI, project)
    plain = runner.invoke(app, ["train", "-p", str(project)])
    assert plain.exit_code == 0 and "提示音" not in plain.output  # no phone channel: nothing
    (project / "credentials.yml").write_text("rest:\nvoice:\n  tts: espeak\n", "utf-8")
    result = runner.invoke(app, ["train", "-p", str(project)])
    assert result.exit_code == 0, result.output
    assert "voice prompts" in result.output
    assert list((project / ".zhike" / "prompts").rglob("*.wav"))
