"""voice.vad: WebRTC VAD on synthetic voiced speech, and exact endpointing."""

from __future__ import annotations

import numpy as np
import pytest

from voice.audio import AudioError, frame_bytes, split_frames
from voice.vad import (
    SPEECH_END,
    SPEECH_START,
    TIMEOUT,
    Endpointer,
    EnergyVad,
    Vad,
    VadEvent,
    WebRtcVad,
)

RATES = (8000, 16000)


def _speech(
    ms: int, rate: int, f0: float = 180.0, level_dbfs: float = -22.0, seed: int = 0
) -> np.ndarray:
    """Voiced, speech-like sound: harmonics of a wobbling f0 shaped by /a/ formants,
    a 4 Hz syllable envelope and a little breath noise."""
    rng = np.random.default_rng(seed)
    n = ms * rate // 1000
    t = np.arange(n) / rate
    f = f0 * (1 + 0.1 * np.sin(2 * np.pi * 1.5 * t))
    phase = 2 * np.pi * np.cumsum(f) / rate
    x = np.zeros(n)
    for k in range(1, int(3800 / f0)):
        x += (
            sum(1 / (1 + ((k * f0 - fm) / (90 + 0.06 * fm)) ** 2) for fm in (700, 1200, 2600))
            / np.sqrt(k)
            * np.sin(k * phase)
        )
    x *= 0.55 + 0.45 * np.sin(2 * np.pi * 4 * t - np.pi / 2)
    x += 0.05 * np.sqrt(np.mean(x**2)) * rng.normal(size=n)
    return x * 32768 * 10 ** (level_dbfs / 20) / np.sqrt(np.mean(x**2))


def _quiet(ms: int, rate: int, seed: int = 1) -> np.ndarray:
    """Line noise around -64 dBFS (never exactly zero)."""
    return np.random.default_rng(seed).normal(0.0, 20.0, ms * rate // 1000)


def _pcm(*parts: np.ndarray) -> bytes:
    return np.clip(np.rint(np.concatenate(parts)), -32768, 32767).astype("<i2").tobytes()


def _run(ep: Endpointer, pcm: bytes, rate: int, ms: int = 20) -> list[tuple[int, VadEvent]]:
    """Feed frame by frame; return (index of the frame that produced it, event)."""
    return [(i, e) for i, f in enumerate(split_frames(pcm, rate, ms)) for e in ep.feed(f)]


# ----------------------------------------------------------------- WebRtcVad


@pytest.mark.parametrize("rate", RATES)
def test_webrtc_vad_says_speech_on_voiced_sound_and_not_on_quiet(rate: int) -> None:
    vad = WebRtcVad(rate)
    quiet = [vad.is_speech(f) for f in split_frames(_pcm(_quiet(1000, rate)), rate)]
    speech = [vad.is_speech(f) for f in split_frames(_pcm(_speech(1000, rate)), rate)]
    assert sum(speech) >= 48 and sum(quiet) <= 2
    zeros = WebRtcVad(rate)
    assert not any(zeros.is_speech(bytes(frame_bytes(rate, ms))) for ms in (10, 20, 30) * 10)


@pytest.mark.parametrize("ms", [10, 20, 30])
def test_webrtc_vad_warm_up_hides_the_untrained_start(ms: int) -> None:
    """Raw WebRTC calls the first ~100 ms of line noise speech; the wrapper does not."""
    import webrtcvad

    rate = 8000
    frames = split_frames(_pcm(_quiet(1000, rate, seed=5) * 5), rate, ms)
    raw = webrtcvad.Vad(2)
    assert any(raw.is_speech(f, rate) for f in frames[:4])
    vad = WebRtcVad(rate)
    for _ in range(2):
        assert not any(vad.is_speech(f) for f in frames)
        vad.reset()


@pytest.mark.parametrize("size", [0, 100, 322, 641])
def test_webrtc_vad_wrong_frame_size_is_a_clear_error(size: int) -> None:
    with pytest.raises(AudioError, match=r"10/20/30 ms \(160/320/480 bytes at 8000 Hz\)"):
        WebRtcVad(8000).is_speech(bytes(size))


def test_webrtc_vad_bad_settings() -> None:
    with pytest.raises(AudioError, match="11025"):
        WebRtcVad(11025)
    with pytest.raises(ValueError, match="aggressiveness"):
        WebRtcVad(8000, aggressiveness=4)
    vad: Vad = WebRtcVad(16000, 3)
    assert vad.rate == 16000


# ----------------------------------------------------------------- Endpointer, exact timing


@pytest.mark.parametrize("rate", RATES)
def test_endpointer_exact_timing_and_pre_roll(rate: int) -> None:
    pcm = _pcm(_quiet(1000, rate), _speech(1000, rate), _quiet(1500, rate))
    ep = Endpointer(EnergyVad(rate, -50.0))
    events = _run(ep, pcm, rate)
    assert [(i, e.kind, e.at) for i, e in events] == [
        (52, SPEECH_START, 1.0),  # 60 ms of speech heard by the end of frame 52 (1.04-1.06 s)
        (129, SPEECH_END, 2.0),  # 600 ms of silence heard by the end of frame 129 (2.60 s)
    ]
    audio = events[1][1].audio
    assert audio == pcm[int(0.8 * rate) * 2 : int(2.2 * rate) * 2]  # 200 ms each side
    assert events[0][1].audio == pcm[int(0.8 * rate) * 2 : int(1.06 * rate) * 2]  # so far
    assert not ep.speaking


def test_endpointer_pauses_shorter_than_end_silence_stay_in_the_utterance() -> None:
    rate = 8000
    pcm = _pcm(
        _quiet(400, rate),
        _speech(500, rate),
        _quiet(580, rate),
        _speech(300, rate),
        _quiet(700, rate),
    )
    events = _run(Endpointer(EnergyVad(rate, -50.0)), pcm, rate)
    assert [(e.kind, e.at) for _, e in events] == [(SPEECH_START, 0.4), (SPEECH_END, 1.78)]
    assert len(events[1][1].audio) == int((1.78 + 0.2 - 0.2) * rate) * 2


def test_endpointer_ignores_blips_shorter_than_start_ms() -> None:
    rate = 16000
    pcm = _pcm(
        _quiet(300, rate),
        _speech(40, rate),
        _quiet(300, rate),
        _speech(20, rate),
        _quiet(300, rate),
    )
    ep = Endpointer(EnergyVad(rate, -50.0))
    assert _run(ep, pcm, rate) == [] and not ep.speaking


def test_endpointer_speaking_flag_and_max_utterance() -> None:
    rate = 8000
    ep = Endpointer(EnergyVad(rate, -50.0), max_utterance_s=1.0, pre_roll_ms=100)
    frames = split_frames(_pcm(_quiet(200, rate), _speech(2500, rate)), rate)
    events = []
    for i, f in enumerate(frames):
        events += [(i, e) for e in ep.feed(f)]
        if i == 12:
            assert ep.speaking
    assert [(i, e.kind, e.at) for i, e in events] == [
        (12, SPEECH_START, 0.2),
        (59, TIMEOUT, 1.2),  # 1 s after the onset
        (62, SPEECH_START, 1.2),  # still talking: a new utterance starts
        (109, TIMEOUT, 2.2),
        (112, SPEECH_START, 2.2),
    ]
    assert len(events[1][1].audio) == int(1.1 * rate) * 2  # 100 ms pre-roll + 1 s


def test_endpointer_reset_and_speech_at_stream_start() -> None:
    rate = 16000
    ep = Endpointer(EnergyVad(rate, -50.0))
    pcm = _pcm(_speech(500, rate), _quiet(700, rate))
    first = _run(ep, pcm[: 10 * frame_bytes(rate)], rate)
    assert [e.kind for _, e in first] == [SPEECH_START] and ep.speaking
    ep.reset()
    assert not ep.speaking
    events = _run(ep, pcm, rate)
    assert [(e.kind, e.at) for _, e in events] == [(SPEECH_START, 0.0), (SPEECH_END, 0.5)]
    assert events[1][1].audio == pcm[: int(0.7 * rate) * 2]  # no pre-roll before the stream


def test_endpointer_other_frame_sizes_and_bad_frames() -> None:
    rate = 8000
    pcm = _pcm(_quiet(300, rate), _speech(600, rate), _quiet(900, rate))
    events = _run(
        Endpointer(EnergyVad(rate, -50.0), start_ms=50, end_silence_ms=500), pcm, rate, ms=10
    )
    assert [(e.kind, e.at) for _, e in events] == [(SPEECH_START, 0.3), (SPEECH_END, 0.9)]
    ep = Endpointer(EnergyVad(rate))
    with pytest.raises(AudioError, match="even byte count"):
        ep.feed(b"\x00" * 321)
    with pytest.raises(AudioError, match="VAD frame"):
        ep.feed(b"\x00" * 322)
    with pytest.raises(ValueError):
        Endpointer(EnergyVad(rate), max_utterance_s=0)


# ----------------------------------------------------------------- Endpointer + WebRTC VAD


@pytest.mark.parametrize("rate", RATES)
def test_endpointer_with_webrtc_vad(rate: int) -> None:
    pcm = _pcm(
        _quiet(800, rate),
        _speech(1200, rate, f0=220.0),
        _quiet(1000, rate),
        _speech(700, rate, seed=3),
        _quiet(900, rate),
    )
    events = _run(Endpointer(WebRtcVad(rate)), pcm, rate)
    kinds = [e.kind for _, e in events]
    assert kinds == [SPEECH_START, SPEECH_END, SPEECH_START, SPEECH_END]
    starts, ends = [e.at for _, e in events[::2]], [e.at for _, e in events[1::2]]
    assert starts == pytest.approx([0.8, 3.0], abs=0.041)
    assert ends == pytest.approx([2.07, 3.77], abs=0.08)  # WebRTC holds speech ~100 ms
    assert all(len(e.audio) > 0 for _, e in events[1::2])
