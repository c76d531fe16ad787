"""The TTS interface: `Voice`, `Speech`, `TtsError` and `TtsEngine`.

`TtsEngine.synthesize` is written once here for every engine: it turns the text into speakable
text (`speech_text`), enforces the time budget, retries once on retryable errors, converts the
result to 16 kHz PCM16 mono, keeps statistics and logs. Engines only implement
`_synthesize_impl(text, voice)` and call `mark_first_byte()` when their first audio arrives.

Wrapping engines (fallback, cache) learn about an inner engine's first byte through a
context-local listener stack, so a slow primary can be abandoned before it finishes.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from bot.errors import ZhikeError
from voice.audio import resample

log = logging.getLogger("zhike.tts")

OUTPUT_RATE = 16000

_FirstByteListener = Callable[[], None]
_LISTENERS: contextvars.ContextVar[tuple[_FirstByteListener, ...]] = contextvars.ContextVar(
    "zhike_tts_first_byte", default=()
)
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "zhike_tts_deadline", default=None
)


@dataclass(frozen=True, slots=True)
class Voice:
    """A voice and its prosody, in edge-tts notation (`+10%`, `-5Hz`)."""

    name: str = "zh-CN-XiaoxiaoNeural"
    rate: str = "+0%"
    pitch: str = "+0Hz"
    volume: str = "+0%"


@dataclass(frozen=True, slots=True)
class Speech:
    """Synthesised audio: PCM16 little-endian mono at `rate` Hz."""

    pcm: bytes
    rate: int
    engine: str  # the engine that produced the audio (for a fallback: the one that spoke)
    cached: bool = False
    first_byte_s: float = 0.0  # seconds from the request to the first audio byte

    @property
    def duration(self) -> float:
        return len(self.pcm) / (2 * self.rate) if self.rate else 0.0


class TtsError(ZhikeError):
    """Synthesis failed. The message is bilingual (Chinese / English)."""

    def __init__(self, zh: str, en: str, *, retryable: bool = False) -> None:
        self.zh, self.en, self.retryable = zh, en, retryable
        super().__init__(f"{zh} / {en}")


@dataclass(slots=True)
class TtsStats:
    """Running totals for one engine (read them for metrics or logs)."""

    calls: int = 0
    failures: int = 0
    timeouts: int = 0
    retries: int = 0
    seconds: float = 0.0  # wall time of successful calls
    first_byte_seconds: float = 0.0  # summed over successful calls
    audio_seconds: float = 0.0
    last_seconds: float = 0.0
    last_first_byte: float = 0.0
    by_error: dict[str, int] = field(default_factory=dict)

    def record_error(self, kind: str) -> None:
        self.failures += 1
        self.by_error[kind] = self.by_error.get(kind, 0) + 1


# ----------------------------------------------------------------- text for speech

_FENCE = re.compile(r"```[^\n]*")
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_URL = re.compile(r"(?:https?://|www\.)[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_HTML_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_EMPHASIS = re.compile(r"(\*\*|__|~~)(.+?)\1")
_CODE = re.compile(r"`([^`\n]*)`")
_LINE_MARK = re.compile(r"^[ \t]*(?:#{1,6}[ \t]+|>[ \t]?|[-*+•·][ \t]+)", re.MULTILINE)
_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\U00002600-\U000027bf\U0001f1e6-\U0001f1ff"
    "\u200d\ufe0e\ufe0f\u20e3\u2b50\u2b55\u2b1b\u2b1c\u3030\u303d\U000e0020-\U000e007f]"
)
_FULLWIDTH = re.compile("[０-９Ａ-Ｚａ-ｚ％＃＊＋－／＠＆＝．]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\u200c\u2060\ufeff]")
_NEWLINES = re.compile(r"[ \t\u3000]*(?:\r?\n[ \t\u3000]*)+")
_SPACES = re.compile(r"[ \t\u3000]+")
_CJK = "\u3400-\u9fff\uf900-\ufaff"
_CJK_GAP = re.compile(f"(?<=[{_CJK}，。！？、；：]) (?=[{_CJK}，。！？、；：])")
_SENTENCE_END = "，。！？、；：,.!?;:…"


def _join_lines(text: str) -> str:
    """A line break ends a sentence: keep the line's own punctuation, else add 。."""

    def repl(m: re.Match[str]) -> str:
        before = text[: m.start()].rstrip()
        if not before or m.end() == len(text):
            return ""
        return "" if before[-1] in _SENTENCE_END else "。"

    return _NEWLINES.sub(repl, text)


def speech_text(text: str) -> str:
    """What a TTS engine should read: markdown, links, HTML tags and emoji removed,
    full-width letters and digits folded, lines joined. Chinese numerals are kept as they are.

    Idempotent. Raises `TtsError` when nothing speakable is left.
    """
    if not isinstance(text, str):
        raise TtsError("要朗读的内容必须是文本", f"text must be str, not {type(text).__name__}")
    out = _CONTROL.sub("", text)
    out = _FENCE.sub("", out)
    out = _IMAGE.sub("", out)
    out = _LINK.sub(r"\1", out)
    out = _URL.sub("", out)
    out = _HTML_TAG.sub("", out)
    out = _EMPHASIS.sub(r"\2", out)
    out = _CODE.sub(r"\1", out)
    out = _LINE_MARK.sub("", out)
    out = _EMOJI.sub("", out)
    out = _FULLWIDTH.sub(lambda m: chr(ord(m.group()) - 0xFEE0), out)
    out = _join_lines(out.strip())
    out = _SPACES.sub(" ", out).strip()
    out = _CJK_GAP.sub("", out)
    if not any(ch.isalnum() for ch in out):
        raise TtsError(
            "没有可朗读的内容（文本为空或只有符号）",
            f"nothing to speak: the text is empty or only symbols ({text[:40]!r})",
        )
    return out


# ----------------------------------------------------------------- first byte and deadline


def mark_first_byte() -> None:
    """Engines call this when their first audio byte arrives (idempotent per listener)."""
    for listener in _LISTENERS.get():
        listener()


@contextmanager
def first_byte_listener(listener: _FirstByteListener) -> Iterator[None]:
    """Call `listener` on the first audio byte of any engine run inside this block."""
    token = _LISTENERS.set((*_LISTENERS.get(), listener))
    try:
        yield
    finally:
        _LISTENERS.reset(token)


def time_left(default: float) -> float:
    """Seconds left of the innermost `synthesize` call's budget (for wrapping engines)."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return default
    return max(0.0, deadline - time.monotonic())


class _FirstByte:
    """Per-call first-byte clock."""

    __slots__ = ("at", "start")

    def __init__(self, start: float) -> None:
        self.start = start
        self.at: float | None = None

    def __call__(self) -> None:
        if self.at is None:
            self.at = time.monotonic() - self.start


# ----------------------------------------------------------------- the engine


class TtsEngine(ABC):
    """Base of every TTS engine; subclasses implement `_synthesize_impl` only."""

    name: str = "tts"
    retries: int = 1  # extra attempts on retryable errors, within the same time budget

    def __init__(self) -> None:
        self.stats = TtsStats()

    async def synthesize(
        self, text: str, voice: Voice = Voice(), *, timeout: float = 10.0
    ) -> Speech:
        """Speak `text` with `voice`: 16 kHz PCM16 mono, within `timeout` seconds."""
        spoken = speech_text(text)
        if timeout <= 0:
            raise TtsError("超时时间必须大于 0", f"timeout must be positive, got {timeout}")
        start = time.monotonic()
        deadline = start + timeout
        clock = _FirstByte(start)
        self.stats.calls += 1
        deadline_token = _DEADLINE.set(deadline)
        try:
            with first_byte_listener(clock):
                speech = await self._attempts(spoken, voice, deadline, timeout)
            speech = await _to_output(speech)
        except TtsError as exc:
            self.stats.record_error(type(exc.__cause__ or exc).__name__)
            log.warning("tts %s failed after %.3fs: %s", self.name, time.monotonic() - start, exc)
            raise
        finally:
            _DEADLINE.reset(deadline_token)
        clock()  # no streaming signal from the engine: the first byte came with the whole
        return self._record(speech, spoken, start, clock.at or 0.0)

    async def _attempts(self, text: str, voice: Voice, deadline: float, timeout: float) -> Speech:
        attempt = 0
        while True:
            remaining = deadline - time.monotonic()
            try:
                return await self._attempt(text, voice, remaining, timeout)
            except TtsError as exc:
                if not exc.retryable or attempt >= self.retries:
                    raise
                if deadline - time.monotonic() < 0.05:
                    raise
                attempt += 1
                self.stats.retries += 1
                log.info("tts %s: retrying after a transient error: %s", self.name, exc)

    async def _attempt(self, text: str, voice: Voice, remaining: float, timeout: float) -> Speech:
        try:
            async with asyncio.timeout(max(remaining, 0.0)) as budget:
                return await self._synthesize_impl(text, voice)
        except TimeoutError as exc:
            if budget.expired():
                self.stats.timeouts += 1
                raise TtsError(
                    f"语音合成超时（{timeout:g} 秒，引擎 {self.name}）",
                    f"speech synthesis timed out after {timeout:g}s (engine {self.name})",
                ) from exc
            raise _unexpected(self.name, exc) from exc
        except TtsError:
            raise
        except Exception as exc:  # a library error the engine did not translate
            raise _unexpected(self.name, exc) from exc

    def _record(self, speech: Speech, text: str, start: float, first_byte: float) -> Speech:
        seconds = time.monotonic() - start
        first = first_byte
        stats = self.stats
        stats.seconds += seconds
        stats.first_byte_seconds += first
        stats.audio_seconds += speech.duration
        stats.last_seconds, stats.last_first_byte = seconds, first
        log.debug(
            "tts %s (%s%s): %d chars -> %.2fs audio in %.3fs, first byte %.3fs",
            self.name,
            speech.engine,
            ", cached" if speech.cached else "",
            len(text),
            speech.duration,
            seconds,
            first,
        )
        if speech.first_byte_s == first:
            return speech
        return Speech(speech.pcm, speech.rate, speech.engine, speech.cached, first)

    def cache_names(self) -> tuple[str, ...]:
        """Producer names whose cached audio may stand for this engine's, best first."""
        return (self.name,)

    @abstractmethod
    async def _synthesize_impl(self, text: str, voice: Voice) -> Speech:
        """Synthesise already-normalised text; any rate; raise `TtsError` on failure."""


def _unexpected(engine: str, exc: BaseException) -> TtsError:
    return TtsError(
        f"语音合成出错（引擎 {engine}）：{exc}",
        f"speech synthesis failed (engine {engine}): {type(exc).__name__}: {exc}",
    )


async def _to_output(speech: Speech) -> Speech:
    """16 kHz, whole samples, not empty."""
    pcm = speech.pcm[: len(speech.pcm) // 2 * 2]
    if not pcm:
        raise TtsError(
            f"语音合成结果为空（引擎 {speech.engine}）",
            f"the engine returned no audio (engine {speech.engine})",
        )
    if speech.rate != OUTPUT_RATE:
        pcm = await asyncio.to_thread(resample, pcm, speech.rate, OUTPUT_RATE)
    elif len(pcm) == len(speech.pcm):
        return speech
    return Speech(pcm, OUTPUT_RATE, speech.engine, speech.cached, speech.first_byte_s)
