"""Vosk (Kaldi) ASR with real streaming: partial results while the caller speaks.

A model directory is loaded once per process (`load_vosk_model`, cached by resolved path) on
a worker thread. Each stream (and each `transcribe`) takes a recogniser from a small per-engine
pool and gives it back when its utterance is finished: a fresh `KaldiRecognizer` spends about
a second setting up on its first audio, so `load()` warms one up. Vosk's own endpointing may
cut a long utterance into segments, which the stream joins.

Phrases: Vosk has no soft biasing. A phrase list becomes a recogniser *grammar*, which limits
the output to sequences of those phrases (plus `[unk]` when the model has it). That suits
menu-like prompts (是/不是/转人工, 1-9) and needs a model with a dynamic graph
(`graph/HCLr.fst` + `graph/Gr.fst`, e.g. vosk-model-small-cn-0.22); big static-graph models
(`HCLG.fst`, e.g. vosk-model-cn-0.22) ignore it. Phrases whose words are not in the model's
vocabulary are dropped; when none is left, or the model cannot take a grammar, that is logged
and the engine decodes freely.

Confidence: with `n_best == 1` the mean of Vosk's word posteriors; with alternatives, a softmax
over the alternatives' total scores (a posterior among the listed alternatives only).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from voice.asr.base import (
    SAMPLE_WIDTH,
    AsrEngine,
    AsrError,
    AsrResult,
    AsrStream,
    Hypothesis,
    check_pcm,
    finalize,
)

log = logging.getLogger("zhike.asr.vosk")
T = TypeVar("T")

POOL_SIZE = 8  # idle decoders kept per engine (a new one costs ~1 s of set-up on first audio)
_MODELS: dict[Path, Any] = {}
_MODELS_LOCK = threading.Lock()


def _vosk() -> Any:
    try:
        import vosk
    except ImportError as exc:
        raise AsrError(
            "未安装 vosk，请运行 pip install vosk", "vosk is not installed: pip install vosk"
        ) from exc
    return vosk


def check_vosk_model_dir(path: Path) -> Path:
    """The resolved model directory, or a clear `AsrError`."""
    path = Path(path).expanduser().resolve()
    if not path.is_dir():
        raise AsrError(
            f"Vosk 模型目录不存在：{path}（运行 zhike voice models 查看获取方法）",
            f"Vosk model directory not found: {path} (see `zhike voice models`)",
        )
    if not ((path / "am" / "final.mdl").is_file() or (path / "final.mdl").is_file()):
        raise AsrError(
            f"{path} 不是 Vosk 模型目录（缺少 am/final.mdl；请解压官方模型 zip 后指向其目录）",
            f"{path} is not a Vosk model directory (no am/final.mdl; point to the unzipped "
            "model folder)",
        )
    return path


def supports_grammar(path: Path) -> bool:
    """Dynamic-graph models (HCLr.fst + Gr.fst) accept a runtime grammar."""
    return any(
        (d / "HCLr.fst").is_file() and (d / "Gr.fst").is_file() for d in (path / "graph", path)
    )


def load_vosk_model(path: Path) -> Any:
    """The `vosk.Model` for a directory, loaded once per process (blocking: call in a thread)."""
    path = check_vosk_model_dir(path)
    with _MODELS_LOCK:
        model = _MODELS.get(path)
        if model is None:
            vosk = _vosk()
            vosk.SetLogLevel(-1)
            try:
                model = vosk.Model(str(path))
            except Exception as exc:
                raise AsrError(
                    f"无法加载 Vosk 模型 {path}", f"cannot load the Vosk model at {path}: {exc}"
                ) from exc
            _MODELS[path] = model
            log.info("loaded Vosk model %s", path)
        return model


def _known(model: Any, word: str) -> bool:
    return bool(model.vosk_model_find_word(word) >= 0)


def _words_for(model: Any, phrase: str, segment: Callable[[str], list[str]]) -> list[str] | None:
    """The phrase as model vocabulary words: whole tokens, else jieba pieces, else characters."""
    out: list[str] = []
    for token in phrase.split():
        if _known(model, token):
            out.append(token)
            continue
        pieces = [p for p in segment(token) if p.strip()]
        if not all(_known(model, p) for p in pieces):
            pieces = list(token)
        if not all(_known(model, p) for p in pieces):
            return None
        out.extend(pieces)
    return out or None


def build_grammar(model: Any, path: Path, phrases: Sequence[str]) -> str | None:
    """The recogniser grammar (JSON) for `phrases`, or None when it cannot be used."""
    if not phrases:
        return None
    if not supports_grammar(path):
        log.warning("Vosk model %s has a static graph: phrase list ignored", path)
        return None
    from bot.nlu.tokenizer import new_jieba

    segment = new_jieba().lcut
    kept = {" ".join(w) for p in phrases if (w := _words_for(model, p, segment))}
    if not kept:
        log.warning(
            "none of %d phrases is in the vocabulary of %s: grammar off", len(phrases), path
        )
        return None
    dropped = len(set(phrases)) - len(kept)
    if dropped > 0:
        log.info("Vosk grammar: %d phrases kept, %d not in the vocabulary", len(kept), dropped)
    items = sorted(kept)
    if _known(model, "[unk]"):
        items.append("[unk]")
    return json.dumps(items, ensure_ascii=False)


def _strip_unk(text: str) -> str:
    return " ".join(w for w in text.split() if w != "[unk]")


def _softmax(scores: list[float]) -> list[float]:
    top = max(scores)
    weights = [math.exp(s - top) for s in scores]
    total = sum(weights)
    return [w / total for w in weights]


def parse_result(raw: str) -> list[Hypothesis]:
    """Vosk's Result()/FinalResult() JSON as hypotheses (best first, unnormalised text)."""
    data = json.loads(raw)
    alts = data.get("alternatives")
    if alts:
        probs = _softmax([float(a.get("confidence", 0.0)) for a in alts])
        return [
            Hypothesis(_strip_unk(a.get("text", "")), p) for a, p in zip(alts, probs, strict=True)
        ]
    words = data.get("result") or []
    conf = sum(float(w.get("conf", 1.0)) for w in words) / len(words) if words else 0.0
    return [Hypothesis(_strip_unk(data.get("text", "")), conf)]


class _Decoder:
    """One recogniser, its finished segments and its current partial text (blocking API)."""

    def __init__(self, model: Any, rate: int, grammar: str | None, n_best: int) -> None:
        vosk = _vosk()
        args = (model, float(rate)) if grammar is None else (model, float(rate), grammar)
        self.rec = vosk.KaldiRecognizer(*args)
        if n_best > 1:
            self.rec.SetMaxAlternatives(n_best)
        else:
            self.rec.SetWords(True)  # per-word posteriors for the confidence
        self.segments: list[Hypothesis] = []
        self.partial = ""

    def accept(self, pcm: bytes) -> str:
        if self.rec.AcceptWaveform(pcm):
            hyps = parse_result(self.rec.Result())
            if hyps and hyps[0].text:
                self.segments.append(hyps[0])
            self.partial = ""
        else:
            self.partial = _strip_unk(json.loads(self.rec.PartialResult()).get("partial", ""))
        return " ".join([*(s.text for s in self.segments), self.partial]).strip()

    def warm_up(self, rate: int) -> None:
        """Pay the recogniser's first-audio set-up cost (about a second) now."""
        self.accept(bytes(rate // 10 * SAMPLE_WIDTH))
        self.final()

    def final(self) -> list[Hypothesis]:
        """The utterance's hypotheses; the decoder is then ready for a new utterance."""
        last = [h for h in parse_result(self.rec.FinalResult()) if h.text] or [Hypothesis("", 1.0)]
        prefix = " ".join(s.text for s in self.segments)
        prior = math.prod(s.confidence for s in self.segments)
        hyps = [Hypothesis(f"{prefix} {h.text}".strip(), prior * h.confidence) for h in last]
        self.rec.Reset()
        self.segments, self.partial = [], ""
        return [h for h in hyps if h.text]


class VoskEngine(AsrEngine):
    """Streaming Vosk recogniser for one model directory."""

    name = "vosk"

    def __init__(
        self,
        model_path: Path,
        rate: int = 16000,
        phrases: Sequence[str] | None = None,
        *,
        n_best: int = 3,
        chunk_ms: int = 100,
        workers: int = 2,
    ) -> None:
        self.model_path = check_vosk_model_dir(model_path)
        self.max_workers = workers  # decoding threads shared by this engine's streams
        self.rate = rate
        self.phrases = tuple(phrases or ())
        self.n_best = max(1, n_best)
        self.chunk_bytes = rate * chunk_ms // 1000 * SAMPLE_WIDTH
        self._ready: tuple[Any, str | None] | None = None
        self._pool: list[_Decoder] = []
        self._lock = threading.Lock()

    def _prepare_blocking(self) -> tuple[Any, str | None]:
        with self._lock:
            if self._ready is None:
                model = load_vosk_model(self.model_path)
                grammar = build_grammar(model, self.model_path, self.phrases)
                decoder = _Decoder(model, self.rate, grammar, self.n_best)
                decoder.warm_up(self.rate)
                self._pool.append(decoder)
                self._ready = (model, grammar)
            return self._ready

    def acquire(self) -> _Decoder:
        """A ready decoder from the pool, or a new one (blocking)."""
        model, grammar = self._prepare_blocking()
        with self._lock:
            if self._pool:
                return self._pool.pop()
        return _Decoder(model, self.rate, grammar, self.n_best)

    def release(self, decoder: _Decoder) -> None:
        """Give back a decoder whose utterance is finished (`final()` was called)."""
        with self._lock:
            if len(self._pool) < POOL_SIZE:
                self._pool.append(decoder)

    async def load(self) -> None:
        """Load the model, build the grammar and warm up a decoder now rather than on the
        first request."""
        await self.run_blocking(self._prepare_blocking)

    @property
    def grammar(self) -> str | None:
        """The grammar in use (None: free decoding, or not loaded yet)."""
        return self._ready[1] if self._ready else None

    def stream(self) -> AsrStream:
        return VoskStream(self)

    async def _transcribe_impl(self, pcm: bytes) -> AsrResult:
        hyps = await self.run_blocking(self._decode_all, pcm)
        return AsrResult(hyps[0].text if hyps else "", tuple(hyps), True, self.name, 0.0)

    def _decode_all(self, pcm: bytes) -> list[Hypothesis]:
        decoder = self.acquire()
        step = self.chunk_bytes * 10
        for i in range(0, len(pcm), step):
            decoder.accept(pcm[i : i + step])
        hyps = decoder.final()
        self.release(decoder)
        return hyps

    def finish_decoder(self, decoder: _Decoder, chunk: bytes) -> list[Hypothesis]:
        """Decode the last chunk, return the hypotheses and the decoder to the pool."""
        if chunk:
            decoder.accept(chunk)
        hyps = decoder.final()
        self.release(decoder)
        return hyps


class VoskStream(AsrStream):
    """Feeds a recogniser in `chunk_ms` batches on the engine's threads.

    `seconds` of a result is the wall time of the call that produced it (for the final result:
    the wait after the end of speech); the metrics get the total decoding time."""

    def __init__(self, engine: VoskEngine) -> None:
        self.engine = engine
        self._decoder: _Decoder | None = None
        self._pending = bytearray()
        self._audio_bytes = 0
        self._busy = 0.0
        self._text = ""
        self._finished = False
        self._lock = asyncio.Lock()

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        start = time.monotonic()
        try:
            return await self.engine.run_blocking(fn, *args)
        except AsrError:
            raise
        except Exception as exc:
            self.engine.metrics.requests.labels(self.engine.name, "error").inc()
            raise AsrError("语音识别引擎出错", f"ASR engine failed: {exc!r}") from exc
        finally:
            self._busy += time.monotonic() - start

    async def _get_decoder(self) -> _Decoder:
        if self._decoder is None:
            self._decoder = await self._run(self.engine.acquire)
        return self._decoder

    def _check_open(self) -> None:
        if self._finished:
            raise AsrError("识别流已结束", "the stream is already finished")

    async def feed(self, pcm: bytes) -> AsrResult | None:
        check_pcm(pcm, self.engine.rate)
        start = time.monotonic()
        async with self._lock:
            self._check_open()
            decoder = await self._get_decoder()
            self._pending += pcm
            self._audio_bytes += len(pcm)
            if len(self._pending) < self.engine.chunk_bytes:
                return None
            chunk, self._pending = bytes(self._pending), bytearray()
            text = self.engine.postprocess(await self._run(decoder.accept, chunk))
            if text == self._text:
                return None
            self._text = text
            return AsrResult(text, (), False, self.engine.name, time.monotonic() - start)

    async def finish(self) -> AsrResult:
        start = time.monotonic()
        async with self._lock:
            self._check_open()
            self._finished = True
            decoder = await self._get_decoder()
            chunk, self._pending = bytes(self._pending), bytearray()
            hyps = await self._run(self.engine.finish_decoder, decoder, chunk)
        raw = AsrResult(hyps[0].text if hyps else "", tuple(hyps), True, self.engine.name, 0.0)
        result = replace(finalize(raw, self.engine.postprocess), seconds=time.monotonic() - start)
        audio_s = self._audio_bytes / (SAMPLE_WIDTH * self.engine.rate)
        outcome = "ok" if result.text else "empty"
        self.engine.metrics.observe(self.engine.name, outcome, self._busy, audio_s)
        return result
