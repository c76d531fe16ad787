"""voice.asr.base: validation, resampling, deadline, retry, t2s, n-best, metrics, streams."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from voice.asr.base import (
    AsrEngine,
    AsrError,
    AsrMetrics,
    AsrResult,
    BufferedStream,
    Hypothesis,
    clean_text,
    pcm_to_float,
)
from voice.audio import tone


def _result(*hyps: tuple[str, float]) -> AsrResult:
    nbest = tuple(Hypothesis(t, c) for t, c in hyps)
    return AsrResult(nbest[0].text if nbest else "", nbest, True, "raw", 0.0)


class ScriptedEngine(AsrEngine):
    """Answers from a script: a result, an exception to raise, or a delay then a result."""

    name = "scripted"
    rate = 16000

    def __init__(self, *script: AsrResult | Exception | float, block: float = 0.0) -> None:
        self.script = list(script)
        self.calls: list[bytes] = []
        self.block = block
        self.metrics = AsrMetrics()

    async def _transcribe_impl(self, pcm: bytes) -> AsrResult:
        self.calls.append(pcm)
        if self.block:
            await self.run_blocking(time.sleep, self.block)
        item = self.script.pop(0)
        if isinstance(item, float):
            await asyncio.sleep(item)
            item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        assert isinstance(item, AsrResult)
        return item


SPEECH_16K = tone([440.0], 500, 16000)


async def test_empty_audio_is_an_empty_final_result_without_decoding() -> None:
    engine = ScriptedEngine()
    result = await engine.transcribe(b"", 16000)
    assert result == AsrResult("", (), True, "scripted", 0.0)
    assert engine.calls == []
    assert engine.metrics.count("scripted", "empty") == 1


@pytest.mark.parametrize(("pcm", "rate"), [(b"\x00\x00\x01", 16000), (b"\x00\x00", 12345)])
async def test_bad_audio_is_rejected_with_a_bilingual_error(pcm: bytes, rate: int) -> None:
    engine = ScriptedEngine(_result(("x", 1.0)))
    with pytest.raises(AsrError) as err:
        await engine.transcribe(pcm, rate)
    assert not err.value.retryable
    assert " / " in str(err.value) and any("\u4e00" <= c <= "\u9fff" for c in err.value.zh)
    assert engine.calls == []


async def test_audio_is_resampled_to_the_engine_rate() -> None:
    engine = ScriptedEngine(_result(("好", 0.9)), _result(("好", 0.9)))
    await engine.transcribe(tone([440.0], 500, 8000), 8000)
    await engine.transcribe(SPEECH_16K, 16000)
    upsampled, same = engine.calls
    assert same == SPEECH_16K
    assert abs(len(upsampled) - len(SPEECH_16K)) <= 4
    spectrum = np.abs(np.fft.rfft(pcm_to_float(upsampled)))
    assert abs(np.argmax(spectrum) * 16000 / len(pcm_to_float(upsampled)) - 440.0) < 5


async def test_deadline_raises_a_retryable_timeout_error() -> None:
    engine = ScriptedEngine(5.0, _result(("x", 1.0)))
    start = time.monotonic()
    with pytest.raises(AsrError) as err:
        await engine.transcribe(SPEECH_16K, 16000, timeout=0.05)
    assert time.monotonic() - start < 1.0
    assert err.value.retryable and isinstance(err.value.__cause__, TimeoutError)
    assert engine.metrics.count("scripted", "timeout") == 1


async def test_one_retry_on_a_retryable_error() -> None:
    engine = ScriptedEngine(AsrError("忙", "busy", retryable=True), _result(("你好", 0.8)))
    result = await engine.transcribe(SPEECH_16K, 16000)
    assert result.text == "你好" and len(engine.calls) == 2
    assert (
        engine.metrics.registry.get_sample_value("zhike_asr_retries_total", {"engine": "scripted"})
        == 1
    )


async def test_no_second_retry_and_no_retry_on_permanent_errors() -> None:
    twice = ScriptedEngine(
        AsrError("忙", "busy", retryable=True), AsrError("忙", "busy", retryable=True)
    )
    with pytest.raises(AsrError):
        await twice.transcribe(SPEECH_16K, 16000)
    assert len(twice.calls) == 2
    permanent = ScriptedEngine(AsrError("坏", "broken"), _result(("x", 1.0)))
    with pytest.raises(AsrError, match="broken"):
        await permanent.transcribe(SPEECH_16K, 16000)
    assert len(permanent.calls) == 1
    assert permanent.metrics.count("scripted", "error") == 1


async def test_engine_crashes_become_asr_errors() -> None:
    engine = ScriptedEngine(RuntimeError("segfault-ish"))
    with pytest.raises(AsrError) as err:
        await engine.transcribe(SPEECH_16K, 16000)
    assert isinstance(err.value.__cause__, RuntimeError)


async def test_output_is_simplified_sorted_and_deduplicated() -> None:
    engine = ScriptedEngine(_result(("查詢 話費", 0.3), ("查询话费", 0.6), ("茶 会费", 0.5)))
    result = await engine.transcribe(SPEECH_16K, 16000)
    assert result.nbest == (Hypothesis("查询话费", 0.6), Hypothesis("茶会费", 0.5))
    assert result.text == "查询话费"
    assert result.final and result.engine == "scripted" and result.seconds > 0
    assert engine.metrics.count("scripted", "ok") == 1


async def test_the_engine_corrector_runs_after_t2s() -> None:
    engine = ScriptedEngine(_result(("查詢花費", 0.9)))
    engine.corrector = lambda text: text.replace("花费", "话费")
    result = await engine.transcribe(SPEECH_16K, 16000)
    assert result.text == "查询话费" and result.nbest[0].text == "查询话费"


def test_clean_text_keeps_spaces_between_latin_words() -> None:
    assert clean_text("  辦理 5G 套餐  ") == "办理 5G 套餐"
    assert clean_text("我 要 轉 人工，謝謝") == "我要转人工，谢谢"
    assert clean_text("open the door") == "open the door"


async def test_blocking_decoders_do_not_block_the_event_loop() -> None:
    engine = ScriptedEngine(_result(("好", 1.0)), block=0.3)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    await engine.transcribe(SPEECH_16K, 16000)
    task.cancel()
    engine.close()
    assert ticks >= 10


async def test_default_stream_buffers_and_transcribes_on_finish() -> None:
    engine = ScriptedEngine(_result(("轉人工", 0.9)))
    stream = engine.stream()
    assert isinstance(stream, BufferedStream)
    for i in range(0, len(SPEECH_16K), 640):
        assert await stream.feed(SPEECH_16K[i : i + 640]) is None
    result = await stream.finish()
    assert result.text == "转人工" and result.final
    assert engine.calls == [SPEECH_16K]
    with pytest.raises(AsrError):
        await stream.feed(SPEECH_16K[:640])
    with pytest.raises(AsrError):
        await engine.stream().feed(b"\x00")
