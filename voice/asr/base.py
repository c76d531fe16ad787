"""The ASR interface: results, errors, metrics and `AsrEngine.transcribe`, written once.

Audio is PCM16 little-endian mono. `AsrEngine.transcribe` takes audio at any supported rate,
validates it, resamples it to the engine's rate, runs the engine's `_transcribe_impl` under
one overall deadline (`timeout`), retries once when the engine raises a retryable `AsrError`
and the deadline allows, and returns Simplified Chinese text (OpenCC t2s, the spaces some
engines put between Chinese words removed, then the engine's optional `corrector`, such as
`vocab.PhraseCorrector`) with the n-best list sorted best first. Engines
run their blocking decoders through `run_blocking`, on a small per-engine thread pool, so the
event loop is never blocked.

Streams (`AsrStream`) take audio at the engine's rate; engines without real streaming get
`BufferedStream`, which transcribes the whole utterance on `finish()`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TypeVar

import numpy as np
import opencc
from prometheus_client import CollectorRegistry, Counter, Histogram

from bot.errors import ZhikeError
from voice.audio import resample

log = logging.getLogger("zhike.asr")

T = TypeVar("T")

SAMPLE_WIDTH = 2
SUPPORTED_RATES = frozenset({8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000})
SECONDS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20)
RTF_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 5)

_HAN = r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]"
_SPACE_BETWEEN_HAN = re.compile(rf"(?<={_HAN})\s+(?={_HAN})")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Hypothesis:
    text: str
    confidence: float  # 0..1


@dataclass(frozen=True, slots=True)
class AsrResult:
    text: str
    nbest: tuple[Hypothesis, ...]
    final: bool
    engine: str
    seconds: float  # wall time


class AsrError(ZhikeError):
    """ASR failed. `retryable`: a second attempt may succeed (a transient engine failure)."""

    def __init__(self, zh: str, en: str, *, retryable: bool = False) -> None:
        self.zh, self.en, self.retryable = zh, en, retryable
        super().__init__(f"{zh} / {en}")


# -- text ----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def clean_text(text: str) -> str:
    """Simplified Chinese, no spaces between Chinese characters, single spaces elsewhere."""
    text = _SPACES.sub(" ", text).strip()
    if not text:
        return ""
    text = _SPACE_BETWEEN_HAN.sub("", text)
    return str(_t2s().convert(text))


def finalize(result: AsrResult, clean: Callable[[str], str] = clean_text) -> AsrResult:
    """Cleaned texts, n-best deduplicated and sorted best first, `text` = the best one."""
    best: dict[str, float] = {}
    for hyp in result.nbest:
        text = clean(hyp.text)
        if text and (text not in best or hyp.confidence > best[text]):
            best[text] = min(max(hyp.confidence, 0.0), 1.0)
    nbest = tuple(Hypothesis(t, c) for t, c in sorted(best.items(), key=lambda item: -item[1]))
    text = nbest[0].text if nbest else clean(result.text)
    return replace(result, text=text, nbest=nbest)


# -- audio checks --------------------------------------------------------------------------


def check_pcm(pcm: bytes, rate: int) -> None:
    """Raise a non-retryable `AsrError` for audio Zhike cannot decode."""
    if rate not in SUPPORTED_RATES:
        raise AsrError(
            f"不支持的采样率 {rate} Hz（支持 {sorted(SUPPORTED_RATES)}）",
            f"unsupported sample rate {rate} Hz (supported: {sorted(SUPPORTED_RATES)})",
        )
    if len(pcm) % SAMPLE_WIDTH:
        raise AsrError(
            f"PCM16 音频的字节数必须是偶数，收到 {len(pcm)} 字节",
            f"PCM16 audio must have an even byte count, got {len(pcm)} bytes",
        )


def audio_seconds(pcm: bytes, rate: int) -> float:
    return len(pcm) / (SAMPLE_WIDTH * rate)


def pcm_to_float(pcm: bytes) -> np.ndarray:
    """PCM16 bytes as float32 samples in [-1, 1)."""
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


# -- metrics -------------------------------------------------------------------------------


class AsrMetrics:
    """Prometheus counters for ASR requests; its own registry (expose or merge as needed)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "zhike_asr_requests", "ASR requests by outcome", ["engine", "outcome"], registry=r
        )
        self.retries = Counter("zhike_asr_retries", "ASR retries", ["engine"], registry=r)
        self.seconds = Histogram(
            "zhike_asr_seconds", "ASR wall time per request", ["engine"],
            buckets=SECONDS_BUCKETS, registry=r,
        )  # fmt: skip
        self.rtf = Histogram(
            "zhike_asr_real_time_factor", "ASR wall time / audio duration", ["engine"],
            buckets=RTF_BUCKETS, registry=r,
        )  # fmt: skip

    def observe(self, engine: str, outcome: str, seconds: float, audio_s: float) -> None:
        self.requests.labels(engine, outcome).inc()
        self.seconds.labels(engine).observe(seconds)
        if audio_s > 0:
            self.rtf.labels(engine).observe(seconds / audio_s)

    def count(self, engine: str, outcome: str) -> float:
        value = self.registry.get_sample_value(
            "zhike_asr_requests_total", {"engine": engine, "outcome": outcome}
        )
        return value or 0.0


METRICS = AsrMetrics()


# -- streams -------------------------------------------------------------------------------


class AsrStream(ABC):
    """One utterance (or call leg), fed PCM16 at the engine's rate."""

    @abstractmethod
    async def feed(self, pcm: bytes) -> AsrResult | None:
        """A partial result when the text changed, else None."""

    @abstractmethod
    async def finish(self) -> AsrResult:
        """The final result; the stream cannot be fed afterwards."""


class BufferedStream(AsrStream):
    """Buffers the audio (up to `max_seconds`) and transcribes it on `finish()`."""

    def __init__(self, engine: AsrEngine, max_seconds: float = 60.0, timeout: float = 10.0):
        self.engine = engine
        self.timeout = timeout
        self._limit = int(max_seconds * engine.rate) * SAMPLE_WIDTH
        self._chunks: list[bytes] = []
        self._size = 0
        self._finished = False
        self._warned = False

    async def feed(self, pcm: bytes) -> AsrResult | None:
        if self._finished:
            raise AsrError("识别流已结束", "the stream is already finished")
        check_pcm(pcm, self.engine.rate)
        room = self._limit - self._size
        if len(pcm) > room and not self._warned:
            log.warning("ASR stream longer than the buffer limit; extra audio ignored")
            self._warned = True
        chunk = pcm[: max(room, 0)]
        self._chunks.append(chunk)
        self._size += len(chunk)
        return None

    async def finish(self) -> AsrResult:
        if self._finished:
            raise AsrError("识别流已结束", "the stream is already finished")
        self._finished = True
        audio = b"".join(self._chunks)
        self._chunks.clear()
        return await self.engine.transcribe(audio, self.engine.rate, timeout=self.timeout)


# -- engines -------------------------------------------------------------------------------


class AsrEngine(ABC):
    """A speech recogniser. Subclasses set `name` and `rate` and implement `_transcribe_impl`
    (audio already validated, non-empty and at `rate`)."""

    name: str = "asr"
    rate: int = 16000
    max_workers: int = 2  # decoder threads per engine (timed-out work still finishes there)
    metrics: AsrMetrics = METRICS
    corrector: Callable[[str], str] | None = None  # e.g. vocab.PhraseCorrector(...).correct

    _executor: ThreadPoolExecutor | None = None

    @abstractmethod
    async def _transcribe_impl(self, pcm: bytes) -> AsrResult: ...

    def stream(self) -> AsrStream:
        return BufferedStream(self)

    def postprocess(self, text: str) -> str:
        """Simplified, spacing cleaned, then the domain corrector (if any)."""
        text = clean_text(text)
        return self.corrector(text) if self.corrector and text else text

    async def run_blocking(self, fn: Callable[..., T], *args: object) -> T:
        """Run a blocking call on this engine's thread pool."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.max_workers, f"asr-{self.name}")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args))

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def transcribe(self, pcm: bytes, rate: int, *, timeout: float = 10.0) -> AsrResult:
        """Final result for one utterance; raises `AsrError` (timeouts included)."""
        check_pcm(pcm, rate)
        start = time.monotonic()
        audio_s = audio_seconds(pcm, rate)
        if not pcm:
            self.metrics.observe(self.name, "empty", 0.0, 0.0)
            return AsrResult("", (), True, self.name, 0.0)
        audio = (
            pcm if rate == self.rate else await asyncio.to_thread(resample, pcm, rate, self.rate)
        )
        try:
            result = await self._attempts(audio, start + timeout)
        except AsrError as exc:
            seconds = time.monotonic() - start
            outcome = "timeout" if isinstance(exc.__cause__, TimeoutError) else "error"
            self.metrics.observe(self.name, outcome, seconds, audio_s)
            log.error("ASR %s failed after %.2fs: %s", self.name, seconds, exc)
            raise
        seconds = time.monotonic() - start
        result = replace(
            finalize(result, self.postprocess), final=True, engine=self.name, seconds=seconds
        )
        self.metrics.observe(self.name, "ok" if result.text else "empty", seconds, audio_s)
        log.debug("ASR %s: %.2fs audio in %.2fs: %r", self.name, audio_s, seconds, result.text)
        return result

    async def _attempts(self, audio: bytes, deadline: float) -> AsrResult:
        for attempt in (1, 2):
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise TimeoutError
                return await asyncio.wait_for(self._transcribe_impl(audio), remaining)
            except TimeoutError as exc:
                raise AsrError(
                    "语音识别超时", "speech recognition timed out", retryable=True
                ) from exc
            except AsrError as exc:
                if not exc.retryable or attempt == 2 or deadline <= time.monotonic():
                    raise
                self.metrics.retries.labels(self.name).inc()
                log.warning("ASR %s failed (%s); retrying once", self.name, exc)
            except Exception as exc:
                raise AsrError("语音识别引擎出错", f"ASR engine failed: {exc!r}") from exc
        raise AssertionError("unreachable")
