from __future__ import annotations

import asyncio

import pytest

from voice.audio import tone
from voice.tts.base import (
    OUTPUT_RATE,
    Speech,
    TtsEngine,
    TtsError,
    Voice,
    mark_first_byte,
    speech_text,
)


class ScriptedEngine(TtsEngine):
    """Plays back a script of outcomes, one per `_synthesize_impl` call."""

    name = "scripted"

    def __init__(self, *outcomes: BaseException | float, rate: int = 22050) -> None:
        super().__init__()
        self.outcomes = list(outcomes)
        self.rate = rate
        self.texts: list[str] = []

    async def _synthesize_impl(self, text: str, voice: Voice) -> Speech:
        self.texts.append(text)
        outcome = self.outcomes.pop(0) if self.outcomes else 0.0
        if isinstance(outcome, BaseException):
            raise outcome
        await asyncio.sleep(outcome / 2)
        mark_first_byte()
        await asyncio.sleep(outcome / 2)
        return Speech(tone([440.0], 500, self.rate), self.rate, self.name)


# ----------------------------------------------------------------- speech_text


@pytest.mark.parametrize(
    ("raw", "spoken"),
    [
        ("您好，欢迎致电小知客服！", "您好，欢迎致电小知客服！"),
        ("**重要**：请在 `设置` 中操作", "重要：请在设置中操作"),
        ("详见[帮助中心](https://help.example.com/a?b=1)。", "详见帮助中心。"),
        ("访问https://example.com/x了解详情", "访问了解详情"),
        ("祝您生活愉快😊🎉！", "祝您生活愉快！"),
        ("## 办理方式\n- 拨打１００８６\n- 登录ＡＰＰ", "办理方式。拨打10086。登录APP"),
        ("第一行，\n第二行", "第一行，第二行"),
        ("三百二十元，一万两千", "三百二十元，一万两千"),  # Chinese numerals are kept
        ("请 按 井号键", "请按井号键"),
        ("<b>注意</b>：营业时间", "注意：营业时间"),
    ],
)
def test_speech_text_cleans_for_speech(raw: str, spoken: str) -> None:
    assert speech_text(raw) == spoken


def test_speech_text_is_idempotent() -> None:
    raw = "## 标题\n**您好** [链接](http://x.cn) 😊 请拨打１００８６\n\n谢谢"
    once = speech_text(raw)
    assert speech_text(once) == once


@pytest.mark.parametrize("raw", ["", "   ", "\n\t", "😊🎉", "**", "https://example.com"])
def test_nothing_speakable_is_an_error(raw: str) -> None:
    with pytest.raises(TtsError, match="没有可朗读的内容"):
        speech_text(raw)


# ----------------------------------------------------------------- synthesize


async def test_output_is_16k_and_text_normalised() -> None:
    engine = ScriptedEngine(rate=22050)
    speech = await engine.synthesize("**您好**😊")
    assert engine.texts == ["您好"]
    assert speech.rate == OUTPUT_RATE
    assert speech.duration == pytest.approx(0.5, abs=0.01)
    assert speech.engine == "scripted"


async def test_empty_text_never_reaches_the_engine() -> None:
    engine = ScriptedEngine()
    with pytest.raises(TtsError):
        await engine.synthesize("  ")
    assert engine.texts == []


async def test_one_retry_on_retryable_error() -> None:
    engine = ScriptedEngine(TtsError("暂时失败", "transient", retryable=True), 0.0)
    speech = await engine.synthesize("你好")
    assert speech.pcm
    assert len(engine.texts) == 2
    assert engine.stats.retries == 1
    assert engine.stats.failures == 0


async def test_only_one_retry() -> None:
    transient = TtsError("暂时失败", "transient", retryable=True)
    engine = ScriptedEngine(transient, transient, 0.0)
    with pytest.raises(TtsError, match="transient"):
        await engine.synthesize("你好")
    assert len(engine.texts) == 2
    assert engine.stats.failures == 1


async def test_permanent_error_is_not_retried() -> None:
    engine = ScriptedEngine(TtsError("参数错误", "bad voice"), 0.0)
    with pytest.raises(TtsError, match="bad voice"):
        await engine.synthesize("你好")
    assert len(engine.texts) == 1


async def test_timeout_is_a_tts_error() -> None:
    engine = ScriptedEngine(5.0)
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(TtsError, match="超时") as info:
        await engine.synthesize("你好", timeout=0.2)
    assert loop.time() - start < 1.0
    assert not info.value.retryable
    assert engine.stats.timeouts == 1


async def test_library_errors_are_wrapped() -> None:
    engine = ScriptedEngine(RuntimeError("boom"))
    with pytest.raises(TtsError, match="boom") as info:
        await engine.synthesize("你好")
    assert isinstance(info.value.__cause__, RuntimeError)
    assert engine.stats.by_error == {"RuntimeError": 1}


async def test_engine_own_timeout_error_is_not_our_timeout() -> None:
    engine = ScriptedEngine(TimeoutError("socket read"))
    with pytest.raises(TtsError, match="socket read"):
        await engine.synthesize("你好", timeout=5.0)
    assert engine.stats.timeouts == 0


async def test_stats_and_first_byte() -> None:
    engine = ScriptedEngine(0.2)
    speech = await engine.synthesize("你好")
    assert 0.08 < speech.first_byte_s < 0.19  # marked half-way through
    assert engine.stats.calls == 1
    assert engine.stats.audio_seconds == pytest.approx(0.5, abs=0.01)
    assert engine.stats.seconds >= 0.2


async def test_empty_audio_is_an_error() -> None:
    class Silent(TtsEngine):
        name = "silent"

        async def _synthesize_impl(self, text: str, voice: Voice) -> Speech:
            return Speech(b"", 16000, self.name)

    with pytest.raises(TtsError, match="no audio"):
        await Silent().synthesize("你好")


async def test_bad_timeout() -> None:
    with pytest.raises(TtsError, match="timeout"):
        await ScriptedEngine().synthesize("你好", timeout=0)
