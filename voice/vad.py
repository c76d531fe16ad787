"""Voice activity detection (WebRTC VAD) and an endpointer that turns it into utterances."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Protocol

from voice.audio import SAMPLE_WIDTH, AudioError, frame_bytes, rms_dbfs

VAD_RATES = (8000, 16000, 32000, 48000)
VAD_FRAME_MS = (10, 20, 30)
SPEECH_START, SPEECH_END, TIMEOUT = "speech_start", "speech_end", "timeout"

_WEBRTCVAD_HINT = (
    "缺少 webrtcvad：请运行 pip install webrtcvad-wheels / "
    "webrtcvad is not installed: pip install webrtcvad-wheels"
)


class Vad(Protocol):
    """Decides whether one 10/20/30 ms PCM16 frame at :attr:`rate` contains speech."""

    rate: int

    def is_speech(self, frame: bytes) -> bool: ...


def _frame_sizes(rate: int) -> dict[int, int]:
    """Valid frame byte counts → their duration in ms."""
    if rate not in VAD_RATES:
        raise AudioError(
            f"VAD 不支持 {rate} Hz（支持 {VAD_RATES}）",
            f"VAD does not support {rate} Hz (supported: {VAD_RATES})",
        )
    return {frame_bytes(rate, ms): ms for ms in VAD_FRAME_MS}


def _check_frame(frame: bytes, sizes: dict[int, int], rate: int) -> None:
    if len(frame) not in sizes:
        valid = "/".join(str(n) for n in sizes)
        raise AudioError(
            f"VAD 帧长必须是 10/20/30 毫秒（{rate} Hz 下为 {valid} 字节），收到 {len(frame)} 字节",
            f"a VAD frame must be 10/20/30 ms ({valid} bytes at {rate} Hz), got {len(frame)} bytes",
        )


class WebRtcVad:
    """The WebRTC GMM voice activity detector (``webrtcvad-wheels``).

    ``aggressiveness`` 0 (lenient) … 3 (strict about what counts as speech). WebRTC's noise
    model starts untrained and calls the first 80–180 ms of any non-silent stream speech, so
    the first :attr:`WARMUP_MS` (and at least :attr:`WARMUP_FRAMES` frames) are reported as
    non-speech while the model adapts. WebRTC also holds "speech" for ~100 ms after it ends.
    """

    WARMUP_MS = 160
    WARMUP_FRAMES = 6

    def __init__(self, rate: int = 16000, aggressiveness: int = 2) -> None:
        self._sizes = _frame_sizes(rate)
        self._warmup_samples = rate * self.WARMUP_MS // 1000
        if aggressiveness not in (0, 1, 2, 3):
            raise ValueError(f"aggressiveness must be 0..3, got {aggressiveness!r}")
        try:
            import webrtcvad
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(_WEBRTCVAD_HINT) from exc
        self._module = webrtcvad
        self.rate = rate
        self.aggressiveness = aggressiveness
        self.reset()

    def reset(self) -> None:
        """A fresh detector for a new stream (warm-up again)."""
        self._vad = self._module.Vad(self.aggressiveness)
        self._frames = self._samples = 0

    def is_speech(self, frame: bytes) -> bool:
        _check_frame(frame, self._sizes, self.rate)
        speech = bool(self._vad.is_speech(frame, self.rate))
        warm = self._frames >= self.WARMUP_FRAMES and self._samples >= self._warmup_samples
        self._frames += 1
        self._samples += len(frame) // SAMPLE_WIDTH
        return speech and warm


class EnergyVad:
    """A level threshold: frames at or above ``threshold_dbfs`` RMS are speech.

    Deterministic and dependency-free; for clean lines, tests and as a fallback.
    """

    def __init__(self, rate: int = 16000, threshold_dbfs: float = -45.0) -> None:
        self._sizes = _frame_sizes(rate)
        self.rate = rate
        self.threshold_dbfs = threshold_dbfs

    def is_speech(self, frame: bytes) -> bool:
        _check_frame(frame, self._sizes, self.rate)
        return rms_dbfs(frame) >= self.threshold_dbfs


@dataclass(frozen=True, slots=True)
class VadEvent:
    """What the endpointer noticed; ``at`` is stream time in seconds.

    - ``speech_start``: ``at`` is where speech began (start of the first speech frame);
      emitted once ``start_ms`` of continuous speech has been heard. ``audio`` is what has
      been heard so far (pre-roll + speech), so a streaming recogniser can start at once
      and then be fed each following frame.
    - ``speech_end``: ``at`` is where speech stopped (end of the last speech frame); emitted
      after ``end_silence_ms`` of non-speech. ``audio`` is the utterance: ``pre_roll_ms``
      before the start, the speech (short pauses included), ``pre_roll_ms`` after it.
    - ``timeout``: the utterance reached ``max_utterance_s``; ``at`` is the cut, ``audio`` as
      for ``speech_end`` (without trailing pad). Detection starts afresh afterwards.
    """

    kind: str
    at: float
    audio: bytes = b""


class Endpointer:
    """Turns per-frame VAD decisions into speech start / end-of-utterance events."""

    def __init__(
        self,
        vad: Vad,
        *,
        start_ms: int = 60,
        end_silence_ms: int = 600,
        max_utterance_s: float = 15.0,
        pre_roll_ms: int = 200,
    ) -> None:
        if min(start_ms, end_silence_ms, pre_roll_ms) < 0 or max_utterance_s <= 0:
            raise ValueError("durations must be >= 0 and max_utterance_s > 0")
        self.vad = vad
        rate = vad.rate
        self._start = start_ms * rate // 1000
        self._end_silence = end_silence_ms * rate // 1000
        self._max = int(max_utterance_s * rate)
        self._pre_roll = pre_roll_ms * rate // 1000
        self.reset()

    def reset(self) -> None:
        """Forget everything (the VAD's state too, when it has a ``reset``); time restarts at 0."""
        vad_reset = getattr(self.vad, "reset", None)
        if callable(vad_reset):
            vad_reset()
        self._pos = 0  # samples fed so far
        self._history: deque[tuple[int, bytes]] = deque()  # (start sample, frame)
        self._history_samples = 0
        self._run_start = -1  # start of the current speech run while idle, -1 when none
        self._speaking = False
        self._utterance: list[bytes] = []
        self._utt_start = 0  # sample where the utterance audio (pre-roll) begins
        self._onset = 0
        self._speech_end = 0  # end of the last speech frame of the utterance

    @property
    def speaking(self) -> bool:
        """True between ``speech_start`` and ``speech_end`` / ``timeout``."""
        return self._speaking

    def feed(self, frame: bytes) -> list[VadEvent]:
        """Process one frame (20 ms by convention; any size the VAD accepts)."""
        if len(frame) % SAMPLE_WIDTH:
            raise AudioError(
                f"PCM16 数据长度必须是偶数，收到 {len(frame)} 字节",
                f"PCM16 data must have an even byte count, got {len(frame)}",
            )
        speech = self.vad.is_speech(frame)
        start, self._pos = self._pos, self._pos + len(frame) // SAMPLE_WIDTH
        self._remember(start, frame)
        if self._speaking:
            self._utterance.append(frame)
            return self._while_speaking(speech)
        return self._while_idle(start, speech)

    # ------------------------------------------------------------------ states

    def _while_idle(self, start: int, speech: bool) -> list[VadEvent]:
        if not speech:
            self._run_start = -1
            return []
        if self._run_start < 0:
            self._run_start = start
        if self._pos - self._run_start < self._start:
            return []
        self._speaking, self._onset, self._speech_end = True, self._run_start, self._pos
        self._run_start = -1
        first = self._onset - self._pre_roll
        kept = [(s, f) for s, f in self._history if s >= first]
        self._utt_start = kept[0][0]
        self._utterance = [f for _, f in kept]
        return [VadEvent(SPEECH_START, self._onset / self.vad.rate, b"".join(self._utterance))]

    def _while_speaking(self, speech: bool) -> list[VadEvent]:
        if speech:
            self._speech_end = self._pos
        elif self._pos - self._speech_end >= self._end_silence:
            end = min(self._pos, self._speech_end + self._pre_roll)
            return [self._finish(SPEECH_END, self._speech_end, end)]
        if self._pos - self._onset >= self._max:
            return [self._finish(TIMEOUT, self._pos, self._pos)]
        return []

    def _finish(self, kind: str, at: int, audio_end: int) -> VadEvent:
        audio = b"".join(self._utterance)[: (audio_end - self._utt_start) * SAMPLE_WIDTH]
        self._speaking, self._utterance = False, []
        return VadEvent(kind, at / self.vad.rate, audio)

    def _remember(self, start: int, frame: bytes) -> None:
        """Keep enough recent frames for the pre-roll and the start run."""
        self._history.append((start, frame))
        self._history_samples += len(frame) // SAMPLE_WIDTH
        budget = self._pre_roll + self._start + self.vad.rate * max(VAD_FRAME_MS) // 1000
        while self._history_samples - len(self._history[0][1]) // SAMPLE_WIDTH >= budget:
            self._history_samples -= len(self._history.popleft()[1]) // SAMPLE_WIDTH
