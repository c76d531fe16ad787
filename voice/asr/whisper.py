"""faster-whisper (CTranslate2) ASR: whole-utterance recognition, Chinese, on the CPU.

The model is loaded once per (directory, compute type) from a local CTranslate2 model
directory (`model.bin`, `config.json`, `tokenizer.json`, `vocabulary.txt`) with
`local_files_only=True`: nothing is ever downloaded. Decoding runs on the engine's thread
pool (`workers` threads, matched by CTranslate2's `num_workers`).

Domain phrases become the `initial_prompt` ("以下是普通话的句子。话费、流量、…。"), bounded to
`PROMPT_TOKENS` tokens (faster-whisper keeps only the last ~223 prompt tokens) and
`PROMPT_CHARS` characters. A Simplified Chinese prompt also nudges the model to answer in
Simplified characters; the base class converts the rest (OpenCC t2s). On the reference
fixtures the prompt fixes telephone-band errors (8 kHz: 在员工 → 转人工, 困待 → 宽带) but makes
whisper answer a lone prompt phrase for short unclear sounds (嗯 → 余额); such an answer with a
low confidence (< `ECHO_CONFIDENCE`) is dropped. Then a `PhraseCorrector` built from the same
phrases fixes tone slips on domain words (花费 → 话费).

Silence and noise: `vad_filter` runs the Silero VAD bundled with faster-whisper
(`faster_whisper/assets/silero_vad_v6.onnx`, offline) so non-speech is cut before decoding,
and whisper's well-known subtitle-credit hallucinations are dropped.

n-best: faster-whisper returns one hypothesis (beam search, `beam_size` 5), so `nbest` has one
entry; its confidence is exp(mean token log-probability) over the segments. More
hypotheses would need a second decoding pass (sampling with `best_of`), which doubles the
latency on a CPU, so it is not done.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from voice.asr.base import AsrEngine, AsrError, AsrResult, Hypothesis, pcm_to_float

log = logging.getLogger("zhike.asr.whisper")

PROMPT_INTRO = "以下是普通话的句子。"
ECHO_CONFIDENCE = 0.6  # a lone prompt phrase decoded below this is taken as a prompt echo
PROMPT_TOKENS = 200
PROMPT_CHARS = 200
MODEL_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")
_HALLUCINATIONS = re.compile(
    r"字幕.{0,12}(提供|志愿者|制作)|明镜与点点|Amara\.org|请不吝点赞|感谢观看|谢谢观看|谢谢大家收看"
)
_PUNCTUATION = re.compile(r"[\s，。、？！,.?!：:；;…]+")
_MODELS: dict[tuple[Path, str], Any] = {}
_MODELS_LOCK = threading.Lock()


def _faster_whisper() -> Any:
    try:
        import faster_whisper
    except ImportError as exc:
        raise AsrError(
            "未安装 faster-whisper，请运行 pip install faster-whisper",
            "faster-whisper is not installed: pip install faster-whisper",
        ) from exc
    return faster_whisper


def check_whisper_model_dir(path: Path) -> Path:
    """The resolved CTranslate2 model directory, or a clear `AsrError`."""
    path = Path(path).expanduser().resolve()
    if not path.is_dir():
        raise AsrError(
            f"Whisper 模型目录不存在：{path}（运行 zhike voice models 查看获取方法）",
            f"Whisper model directory not found: {path} (see `zhike voice models`)",
        )
    missing = [name for name in MODEL_FILES if not (path / name).is_file()]
    if missing:
        raise AsrError(
            f"{path} 不是 faster-whisper（CTranslate2）模型目录，缺少 {', '.join(missing)}",
            f"{path} is not a faster-whisper (CTranslate2) model directory: missing "
            f"{', '.join(missing)}",
        )
    return path


def load_whisper_model(
    path: Path, compute_type: str = "int8", cpu_threads: int = 0, workers: int = 1
) -> Any:
    """The `WhisperModel` for a directory, loaded once per process (blocking)."""
    path = check_whisper_model_dir(path)
    key = (path, compute_type)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            fw = _faster_whisper()
            try:
                model = fw.WhisperModel(
                    str(path),
                    device="cpu",
                    compute_type=compute_type,
                    cpu_threads=cpu_threads,
                    num_workers=workers,
                    local_files_only=True,
                )
            except Exception as exc:
                raise AsrError(
                    f"无法加载 Whisper 模型 {path}",
                    f"cannot load the Whisper model at {path}: {exc}",
                ) from exc
            _MODELS[key] = model
            log.info("loaded Whisper model %s (%s)", path, compute_type)
        return model


def build_prompt(
    phrases: Sequence[str],
    count_tokens: Callable[[str], int] = len,
    max_tokens: int = PROMPT_TOKENS,
    max_chars: int = PROMPT_CHARS,
) -> str | None:
    """The intro and as many phrases (in order) as fit; None without phrases."""
    kept: list[str] = []
    for phrase in dict.fromkeys(p.strip() for p in phrases if p.strip()):
        candidate = PROMPT_INTRO + "、".join([*kept, phrase]) + "。"
        if len(candidate) > max_chars or count_tokens(candidate) > max_tokens:
            break
        kept.append(phrase)
    return PROMPT_INTRO + "、".join(kept) + "。" if kept else None


def _confidence(segments: list[Any]) -> float:
    weights = [max(len(s.tokens), 1) for s in segments]
    total = sum(weights)
    if not total:
        return 0.0
    mean = sum(s.avg_logprob * w for s, w in zip(segments, weights, strict=True)) / total
    return math.exp(min(mean, 0.0))


class WhisperEngine(AsrEngine):
    """faster-whisper on the CPU, language zh."""

    name = "whisper"
    rate = 16000

    def __init__(
        self,
        model_path: Path,
        compute_type: str = "int8",
        phrases: Sequence[str] = (),
        vad_filter: bool = True,
        *,
        beam_size: int = 5,
        cpu_threads: int = 0,
        workers: int = 1,
        correct: bool = True,
    ) -> None:
        self.model_path = check_whisper_model_dir(model_path)
        self.compute_type = compute_type
        self.phrases = tuple(phrases)
        self.vad_filter = vad_filter
        self.beam_size = beam_size
        self.cpu_threads = cpu_threads
        self.max_workers = workers
        self.correct = correct
        self._echoes: frozenset[str] = frozenset()
        self._bare = ""
        self._ready: tuple[Any, str | None] | None = None
        self._lock = threading.Lock()

    def _prepare_blocking(self) -> tuple[Any, str | None]:
        with self._lock:
            if self._ready is None:
                model = load_whisper_model(
                    self.model_path, self.compute_type, self.cpu_threads, self.max_workers
                )
                tokenizer = model.hf_tokenizer
                prompt = build_prompt(self.phrases, lambda t: len(tokenizer.encode(t).ids))
                self._echoes = frozenset(p for p in self.phrases if prompt and p in prompt)
                self._bare = _PUNCTUATION.sub("", prompt or "")
                if self.correct and self.phrases:
                    from voice.asr.vocab import PhraseCorrector

                    self.corrector = PhraseCorrector(self.phrases).correct
                self._ready = (model, prompt)
            return self._ready

    async def load(self) -> None:
        """Load the model now rather than on the first request."""
        await self.run_blocking(self._prepare_blocking)

    @property
    def prompt(self) -> str | None:
        """The initial prompt in use (None until loaded, or without phrases)."""
        return self._ready[1] if self._ready else None

    def _decode(self, pcm: bytes) -> list[Hypothesis]:
        model, prompt = self._prepare_blocking()
        segments, _info = model.transcribe(
            pcm_to_float(pcm),
            language="zh",
            task="transcribe",
            beam_size=self.beam_size,
            initial_prompt=prompt,
            vad_filter=self.vad_filter,
            condition_on_previous_text=False,
            without_timestamps=True,
        )
        kept = [s for s in segments if not self._spurious(s)]
        text = " ".join(s.text.strip() for s in kept)
        return [Hypothesis(text, _confidence(kept))] if text else []

    def _spurious(self, segment: Any) -> bool:
        """Empty, a known hallucination (subtitle credits, one character repeated), or a
        low-confidence echo of the prompt (nothing but prompt phrases, or a piece of it)."""
        text = segment.text.strip()
        if not text or _HALLUCINATIONS.search(text):
            return True
        parts = [p for p in _PUNCTUATION.split(text) if p]
        bare = "".join(parts)
        if len(bare) >= 4 and len(set(bare)) == 1:
            return True
        echo = all(p in self._echoes for p in parts) or (len(bare) >= 3 and bare in self._bare)
        return echo and math.exp(segment.avg_logprob) < ECHO_CONFIDENCE

    async def _transcribe_impl(self, pcm: bytes) -> AsrResult:
        hyps = await self.run_blocking(self._decode, pcm)
        return AsrResult(hyps[0].text if hyps else "", tuple(hyps), True, self.name, 0.0)
