"""voice.audio: G.711 against the standard's decision/decoder tables, resampling, WAV, pacing."""

from __future__ import annotations

import asyncio
import io
import math
import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from voice.audio import (
    AudioError,
    FrameClock,
    StreamResampler,
    alaw_decode,
    alaw_encode,
    duration,
    frame_bytes,
    read_wav,
    resample,
    rms_dbfs,
    silence,
    split_frames,
    tone,
    ulaw_decode,
    ulaw_encode,
    wav_bytes,
    write_wav,
)

# ----------------------------------------------------------------- G.711 reference tables
# Built from the segment/interval structure of ITU-T G.711 Tables 2a/2b (µ-law in 14-bit
# units: segment s starts at 2**(s+5) - 33 with interval width 2**(s+1); A-law in 12-bit
# magnitude units: segment 0 and 1 width 1, segment s >= 1 starts at 2**(s+3) with width
# 2**(s-1)); decoder outputs are interval midpoints. 16-bit samples map to the codec's
# magnitude by an arithmetic shift, one's complement for negatives (ITU-T G.191).


def _ulaw_reference() -> tuple[np.ndarray, dict[int, int]]:
    lower, decoded = [], {}
    for s in range(8):
        start, width = 2 ** (s + 5) - 33, 2 ** (s + 1)
        for q in range(16):
            k = s * 16 + q
            lower.append(start + width * q)
            out = 0 if k == 0 else start + width * q + width // 2
            decoded[0xFF - k], decoded[0x7F - k] = out * 4, -out * 4
    return np.array(lower), decoded


def _alaw_reference() -> tuple[np.ndarray, dict[int, int]]:
    lower, decoded = [], {}
    for s in range(8):
        start, width = (0, 1) if s == 0 else (2 ** (s + 3), 2 ** max(s - 1, 0))
        for q in range(16):
            k = s * 16 + q
            lower.append(start + width * q)
            out = (2 * (start + width * q) + width) * 8  # midpoint, back to 16-bit units
            decoded[(k | 0x80) ^ 0x55], decoded[k ^ 0x55] = out, -out
    return np.array(lower), decoded


def _pcm(values: np.ndarray | list[int]) -> bytes:
    return np.asarray(values, dtype="<i2").tobytes()


def _ints(pcm: bytes) -> list[int]:
    return np.frombuffer(pcm, dtype="<i2").tolist()


ALL16 = np.arange(-32768, 32768)


def test_ulaw_decodes_every_code_to_the_standard_value() -> None:
    _, ref = _ulaw_reference()
    assert _ints(ulaw_decode(bytes(range(256)))) == [ref[c] for c in range(256)]
    assert _ints(ulaw_decode(bytes([0x00, 0x80, 0x0F, 0xFF, 0x7F]))) == [
        -32124,
        32124,
        -16764,
        0,
        0,
    ]


def test_ulaw_codes_reencode_to_themselves_except_negative_zero() -> None:
    codes = bytes(range(256))
    back = ulaw_encode(ulaw_decode(codes))
    differing = [c for c in range(256) if back[c] != c]
    assert differing == [0x7F] and back[0x7F] == 0xFF


def test_ulaw_encode_matches_the_decision_table_for_every_16_bit_input() -> None:
    lower, _ = _ulaw_reference()
    mag = np.where(ALL16 < 0, -ALL16 - 1, ALL16) >> 2
    k = np.searchsorted(lower, mag, side="right") - 1
    expected = np.where(ALL16 >= 0, 0xFF - k, 0x7F - k).astype(np.uint8)
    assert ulaw_encode(_pcm(ALL16)) == expected.tobytes()


@pytest.mark.parametrize("boundary", [31, 95, 223, 479, 991, 2015, 4063])
def test_ulaw_segment_boundaries(boundary: int) -> None:
    below, at = ulaw_encode(_pcm([4 * boundary - 1, 4 * boundary]))
    assert (below ^ 0xFF) & 0x0F == 15 and (at ^ 0xFF) & 0x0F == 0
    assert ((at ^ 0xFF) >> 4) == ((below ^ 0xFF) >> 4) + 1
    neg_below, neg_at = ulaw_encode(_pcm([-4 * boundary, -4 * boundary - 1]))
    assert neg_below == below & 0x7F and neg_at == at & 0x7F
    assert ulaw_encode(_pcm([32767, 32636, -32768])) == bytes([0x80, 0x80, 0x00])


def test_alaw_every_code_decodes_to_the_standard_value_and_back() -> None:
    _, ref = _alaw_reference()
    decoded = alaw_decode(bytes(range(256)))
    assert _ints(decoded) == [ref[c] for c in range(256)]
    assert alaw_encode(decoded) == bytes(range(256))
    assert _ints(alaw_decode(bytes([0xD5, 0x55, 0xAA, 0x2A]))) == [8, -8, 32256, -32256]


def test_alaw_encode_matches_the_decision_table_for_every_16_bit_input() -> None:
    lower, _ = _alaw_reference()
    mag = np.where(ALL16 < 0, -ALL16 - 1, ALL16) >> 4
    k = np.searchsorted(lower, mag, side="right") - 1
    expected = (np.where(ALL16 >= 0, k | 0x80, k) ^ 0x55).astype(np.uint8)
    assert alaw_encode(_pcm(ALL16)) == expected.tobytes()


@pytest.mark.parametrize("segment", range(1, 8))
def test_alaw_segment_boundaries(segment: int) -> None:
    start = 16 * 2 ** (segment - 1) * 16  # first 16-bit value of the segment
    below, at = (c ^ 0xD5 for c in alaw_encode(_pcm([start - 1, start])))
    assert below == (segment - 1) * 16 + 15 and at == segment * 16


def test_g711_round_trip_error_is_bounded_and_odd_input_rejected() -> None:
    x = _pcm(np.linspace(-30000, 30000, 4001).astype(int))
    for enc, dec in ((ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)):
        err = np.abs(np.array(_ints(dec(enc(x)))) - np.array(_ints(x)))
        rel = err / np.maximum(np.abs(np.array(_ints(x))), 256)
        assert rel.max() < 0.07
        with pytest.raises(AudioError, match="even byte count"):
            enc(b"\x01\x02\x03")
    assert ulaw_encode(b"") == b"" and ulaw_decode(b"") == b""


# ----------------------------------------------------------------- resampling


def _level_at(pcm: bytes, rate: int, freq: float) -> float:
    x = np.frombuffer(pcm, dtype="<i2").astype(float)
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(spec[round(freq * len(x) / rate)] / spec.max())


@pytest.mark.parametrize(
    ("src", "dst"), [(8000, 16000), (16000, 8000), (48000, 16000), (44100, 16000)]
)
def test_resample_keeps_a_tone_and_length(src: int, dst: int) -> None:
    pcm = tone([440.0], 500, src, -12.0)
    out = resample(pcm, src, dst)
    assert abs(len(out) // 2 - 500 * dst // 1000) <= 1
    assert _level_at(out, dst, 440.0) > 0.99
    assert abs(rms_dbfs(out[400:-400]) - (-12.0)) < 0.2


def test_resample_removes_content_above_the_new_nyquist() -> None:
    out = resample(tone([6000.0], 300, 16000, -6.0), 16000, 8000)
    assert rms_dbfs(out[400:-400]) < -80  # away from the start/stop transients


def test_resample_identity_and_errors() -> None:
    pcm = tone([300.0], 20, 8000)
    assert resample(pcm, 8000, 8000) is pcm
    assert resample(b"", 8000, 16000) == b""
    with pytest.raises(AudioError, match="sample rate"):
        resample(pcm, 0, 8000)
    with pytest.raises(AudioError, match="even"):
        resample(b"\x00", 8000, 16000)


@pytest.mark.parametrize(("src", "dst"), [(8000, 16000), (48000, 16000), (44100, 16000)])
def test_stream_resampler_matches_one_shot(src: int, dst: int) -> None:
    rng = np.random.default_rng(1)
    pcm = _pcm(
        np.frombuffer(tone([350.0, 1200.0], 700, src, -10.0), "<i2")
        + rng.integers(-300, 300, 700 * src // 1000)
    )
    sr = StreamResampler(src, dst)
    sizes = [1, 7, 320, 33, 4000, 641]
    out, pos, i = [], 0, 0
    while pos < len(pcm):
        step = sizes[i % len(sizes)]
        out.append(sr.feed(pcm[pos : pos + step]))
        pos, i = pos + step, i + 1
    out.append(sr.flush())
    streamed, oneshot = np.array(_ints(b"".join(out))), np.array(_ints(resample(pcm, src, dst)))
    assert abs(len(streamed) - len(oneshot)) <= 1
    n = min(len(streamed), len(oneshot))
    assert np.abs(streamed[:n] - oneshot[:n]).max() <= 4


def test_stream_resampler_same_rate_passes_through() -> None:
    sr = StreamResampler(8000, 8000)
    assert sr.feed(b"\x01") == b"" and sr.feed(b"\x02\x03") == b"\x01\x02" and sr.flush() == b""


# ----------------------------------------------------------------- WAV


def _wav(channels: int, width: int, rate: int, frames: bytes) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(frames)
    return buf.getvalue()


def test_wav_round_trip_bytes_and_file(tmp_path: Path) -> None:
    pcm = tone([440.0], 100, 16000)
    assert read_wav(wav_bytes(pcm, 16000)) == (pcm, 16000)
    write_wav(tmp_path / "a.wav", pcm, 8000)
    assert read_wav(tmp_path / "a.wav") == (pcm, 8000)


def test_wav_stereo_is_mixed_and_8_bit_is_widened() -> None:
    left, right = np.array([1000, -2000, 30000]), np.array([3000, 2000, 30001])
    stereo = np.stack([left, right], axis=1).astype("<i2").tobytes()
    assert _ints(read_wav(_wav(2, 2, 8000, stereo))[0]) == [2000, 0, 30000]
    pcm, rate = read_wav(_wav(1, 1, 8000, bytes([0, 128, 255])))
    assert _ints(pcm) == [-32768, 0, 32512] and rate == 8000


def _riff(
    fmt_tag: int, channels: int, bits: int, rate: int, data: bytes, ext: bool = False
) -> bytes:
    block = channels * bits // 8
    fields = (fmt_tag, channels, rate, rate * block, block, bits)
    if ext:
        fmt = (
            struct.pack("<HHIIHHHHI", 0xFFFE, *fields[1:], 22, bits, 0)
            + struct.pack("<H", fmt_tag)
            + bytes(14)
        )
    else:
        fmt = struct.pack("<HHIIHH", *fields)
    body = (
        b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", len(data))
        + data
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_wav_float_24_bit_and_extensible() -> None:
    floats = np.array([0.5, -0.25, 2.0], dtype="<f4").tobytes()
    assert read_wav(_riff(3, 1, 32, 16000, floats)) == (_pcm([16384, -8192, 32767]), 16000)
    assert read_wav(_riff(3, 1, 32, 16000, floats, ext=True))[0] == _pcm([16384, -8192, 32767])
    pcm24 = bytes([0x00, 0x10, 0x00, 0x00, 0x00, 0x80])  # 0x001000 >> 8, -2**23 >> 8
    assert read_wav(_wav(1, 3, 8000, pcm24))[0] == _pcm([16, -32768])


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello world",
        b"RIFF\x00\x00\x00\x00WAVE",
        b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00",
        bytes(range(256)) * 4,
    ],
)
def test_wav_garbage_raises_audio_error(data: bytes) -> None:
    with pytest.raises(AudioError, match="WAV"):
        read_wav(data)


def test_wav_unsupported_encodings_raise_clear_errors() -> None:
    with pytest.raises(AudioError, match="format 2"):
        read_wav(_riff(2, 1, 4, 8000, bytes(10)))  # MS ADPCM
    with pytest.raises(AudioError, match="sample rate"):
        read_wav(_riff(1, 1, 16, 0, bytes(10)))


def test_wav_fuzz_never_raises_anything_but_audio_error() -> None:
    rng = np.random.default_rng(7)
    good = _riff(1, 2, 16, 8000, tone([440.0], 10, 16000))
    for _ in range(1500):
        data = bytearray(good)
        for pos in rng.integers(0, 44, rng.integers(1, 4)):
            data[pos] = int(rng.integers(0, 256))
        data = data[: int(rng.integers(0, len(data) + 1))]
        try:
            pcm, rate = read_wav(bytes(data))
        except AudioError:
            continue
        assert len(pcm) % 2 == 0 and rate > 0


# ----------------------------------------------------------------- slicing, levels, tones


def test_frame_bytes_and_split_frames() -> None:
    assert frame_bytes(8000) == 320 and frame_bytes(16000) == 640 and frame_bytes(16000, 10) == 320
    with pytest.raises(AudioError, match="whole number"):
        frame_bytes(11025, 10)
    frames = split_frames(b"\x01\x00" * 200, 8000)
    assert [len(f) for f in frames] == [320, 320] and frames[1].endswith(b"\x00" * 160)
    assert split_frames(b"", 8000) == []


def test_duration_silence_and_levels() -> None:
    assert duration(silence(250, 16000), 16000) == 0.25
    assert rms_dbfs(silence(20, 8000)) == -math.inf and rms_dbfs(b"") == -math.inf
    assert rms_dbfs(_pcm([32767, -32767] * 10)) == pytest.approx(0.0, abs=0.01)
    assert rms_dbfs(tone([1000.0], 1000, 8000, -6.0)) == pytest.approx(-6.0, abs=0.05)
    assert max(_ints(tone([1000.0], 20, 8000, 0.0))) == 32767  # clipped, not wrapped
    assert rms_dbfs(tone([697.0, 1209.0], 200, 8000, -20.0)) == pytest.approx(-20.0, abs=0.05)
    with pytest.raises(AudioError):
        silence(-1, 8000)
    with pytest.raises(AudioError, match="frequency"):
        tone([5000.0], 20, 8000)


# ----------------------------------------------------------------- FrameClock


class SimClock:
    def __init__(self, oversleep: float = 0.0, seed: int = 0) -> None:
        self.now = 1000.0
        self.oversleep = oversleep
        self.rng = np.random.default_rng(seed)
        self.sleeps = 0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds + self.rng.uniform(0.0, self.oversleep)


async def test_frame_clock_paces_steadily() -> None:
    sim = SimClock()
    fc = FrameClock(20, sim.clock, sim.sleep)
    start = sim.now
    for k in range(50):
        assert await fc.tick() == 1
        assert sim.now == pytest.approx(start + 0.02 * k, abs=1e-9)


async def test_frame_clock_no_drift_over_10000_frames_with_jitter() -> None:
    sim = SimClock(oversleep=0.008, seed=3)
    fc = FrameClock(20, sim.clock, sim.sleep)
    start, sent = sim.now, 0
    while sent < 10_000:
        sent += await fc.tick()
    # every frame released no earlier than its slot and never more than one jitter late
    assert start + 0.02 * (sent - 1) <= sim.now < start + 0.02 * (sent - 1) + 0.008 + 1e-6
    assert fc.dropped == 0


async def test_frame_clock_late_tick_bursts_at_most_max_burst() -> None:
    sim = SimClock()
    fc = FrameClock(20, sim.clock, sim.sleep, max_burst=5)
    assert await fc.tick() == 1
    sim.now += 0.065  # frames 1..3 are due now (t = 20, 40, 60 ms)
    assert await fc.tick() == 3
    sim.now += 0.5  # event loop stalled: 25 frames due
    assert await fc.tick() == 5 and fc.dropped == 20
    before = sim.now
    assert await fc.tick() == 1  # back on the original 20 ms grid
    assert sim.now > before and round((sim.now - 1000.0) / 0.02, 6).is_integer()


async def test_frame_clock_reset_and_real_sleep() -> None:
    fc = FrameClock(10)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    total = sum([await fc.tick() for _ in range(4)])
    assert total >= 4 and loop.time() - t0 >= 0.029
    fc.reset()
    assert await fc.tick() == 1 and fc.dropped == 0
    with pytest.raises(ValueError):
        FrameClock(0)
