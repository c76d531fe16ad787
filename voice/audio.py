"""PCM16 helpers: G.711 µ-law/A-law, resampling, WAV I/O, frame slicing, levels, pacing.

Audio inside Zhike is PCM16 little-endian mono ``bytes`` with an explicit sample rate.
G.711 follows ITU-T G.711 as implemented by the ITU-T G.191 reference software (16-bit input,
one's-complement magnitude for negative samples), through lookup tables built once at import.
"""

from __future__ import annotations

import asyncio
import io
import math
import struct
import time
import wave
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from types import ModuleType

import numpy as np
import numpy.typing as npt

from bot.errors import ZhikeError

SAMPLE_WIDTH = 2
MIN_RATE, MAX_RATE = 1000, 384_000
_PCM16 = np.dtype("<i2")
_FLOAT = 3  # WAVE_FORMAT_IEEE_FLOAT
_EXTENSIBLE = 0xFFFE


class AudioError(ZhikeError, ValueError):
    """Malformed or unsupported audio. The message is Chinese first, then English."""

    def __init__(self, zh: str, en: str) -> None:
        self.zh, self.en = zh, en
        super().__init__(f"{zh} / {en}")


def _check_rate(rate: int) -> int:
    if not isinstance(rate, int | np.integer) or not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError(f"不支持的采样率：{rate!r}", f"unsupported sample rate: {rate!r}")
    return int(rate)


def _samples(pcm: bytes) -> npt.NDArray[np.int16]:
    """View PCM16 LE bytes as int16 samples (no copy)."""
    if len(pcm) % SAMPLE_WIDTH:
        raise AudioError(
            f"PCM16 数据长度必须是偶数，收到 {len(pcm)} 字节",
            f"PCM16 data must have an even byte count, got {len(pcm)}",
        )
    return np.frombuffer(pcm, dtype=_PCM16).astype(np.int16, copy=False)


def _to_bytes(samples: npt.NDArray[np.int16]) -> bytes:
    return np.ascontiguousarray(samples, dtype=_PCM16).tobytes()


def frame_bytes(rate: int, ms: int = 20) -> int:
    """Bytes in one PCM16 mono frame of ``ms`` milliseconds (320 at 8 kHz / 20 ms)."""
    _check_rate(rate)
    if ms <= 0 or (rate * ms) % 1000:
        raise AudioError(
            f"{ms} 毫秒在 {rate} Hz 下不是整数个采样点",
            f"{ms} ms is not a whole number of samples at {rate} Hz",
        )
    return rate * ms // 1000 * SAMPLE_WIDTH


# --------------------------------------------------------------------------- G.711


def _build_ulaw() -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int16]]:
    x = np.arange(-32768, 32768, dtype=np.int32)
    mag = np.where(x < 0, ~x, x) >> 2  # 14-bit magnitude, one's complement for negatives
    biased = np.minimum(mag + 33, 0x1FFF)
    seg = np.zeros_like(biased)
    for shift in range(1, 8):  # segment = number of significant bits of biased >> 6
        seg += (biased >> (5 + shift)) > 0
    code = ((7 - seg) << 4) | (15 - ((biased >> (seg + 1)) & 0xF))
    code = np.where(x >= 0, code | 0x80, code)
    encode = np.empty(65536, dtype=np.uint8)
    encode[x.astype(np.uint16)] = code.astype(np.uint8)

    c = np.arange(256, dtype=np.int32)
    inv = ~c & 0x7F
    exp, mant = inv >> 4, inv & 0xF
    step = 4 << (exp + 1)
    mag_out = (0x80 << exp) + step * mant + step // 2 - 132
    decode = np.where(c & 0x80, mag_out, -mag_out).astype(np.int16)
    return encode, decode


def _build_alaw() -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int16]]:
    x = np.arange(-32768, 32768, dtype=np.int32)
    mag = np.where(x < 0, ~x, x) >> 4  # 12-bit magnitude, one's complement for negatives
    exp = np.zeros_like(mag)
    for shift in range(5, 12):  # exponent = 1 + position of the leading bit above bit 4
        exp += (mag >> shift) > 0
    exp = np.where(mag > 15, exp + 1, 0)
    mant = np.where(exp > 0, (mag >> np.maximum(exp - 1, 0)) - 16, mag)
    code = (exp << 4) | mant
    code = np.where(x >= 0, code | 0x80, code) ^ 0x55
    encode = np.empty(65536, dtype=np.uint8)
    encode[x.astype(np.uint16)] = code.astype(np.uint8)

    c = np.arange(256, dtype=np.int32)
    ix = (c ^ 0x55) & 0x7F
    e, m = ix >> 4, ix & 0xF
    m = np.where(e > 0, m + 16, m)
    out = ((m << 4) + 8) << np.maximum(e - 1, 0)
    decode = np.where(c & 0x80, out, -out).astype(np.int16)
    return encode, decode


_ULAW_ENC, _ULAW_DEC = _build_ulaw()
_ALAW_ENC, _ALAW_DEC = _build_alaw()


def ulaw_encode(pcm: bytes) -> bytes:
    """PCM16 → G.711 µ-law (one byte per sample)."""
    return _ULAW_ENC[_samples(pcm).view(np.uint16)].tobytes()


def ulaw_decode(data: bytes) -> bytes:
    """G.711 µ-law → PCM16."""
    return _to_bytes(_ULAW_DEC[np.frombuffer(data, dtype=np.uint8)])


def alaw_encode(pcm: bytes) -> bytes:
    """PCM16 → G.711 A-law (one byte per sample)."""
    return _ALAW_ENC[_samples(pcm).view(np.uint16)].tobytes()


def alaw_decode(data: bytes) -> bytes:
    """G.711 A-law → PCM16."""
    return _to_bytes(_ALAW_DEC[np.frombuffer(data, dtype=np.uint8)])


# --------------------------------------------------------------------------- resampling

_SOXR_HINT = ("缺少 soxr：请运行 pip install soxr", "soxr is not installed: pip install soxr")


def _soxr() -> ModuleType:
    try:
        import soxr
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(" / ".join(_SOXR_HINT)) from exc
    return soxr


def resample(pcm: bytes, src_rate: int, dst_rate: int) -> bytes:
    """Resample PCM16 mono with soxr (HQ); returns the input unchanged when the rates match."""
    x = _samples(pcm)
    if _check_rate(src_rate) == _check_rate(dst_rate) or not len(x):
        return pcm
    return _to_bytes(_soxr().resample(x, src_rate, dst_rate))


class StreamResampler:
    """Chunk-by-chunk resampling; the concatenated output matches :func:`resample` closely."""

    def __init__(self, src_rate: int, dst_rate: int) -> None:
        self.src_rate, self.dst_rate = _check_rate(src_rate), _check_rate(dst_rate)
        self._stream = (
            None
            if src_rate == dst_rate
            else _soxr().ResampleStream(src_rate, dst_rate, 1, dtype="int16")
        )
        self._odd = b""

    def feed(self, pcm: bytes) -> bytes:
        data = self._odd + pcm
        cut = len(data) - len(data) % SAMPLE_WIDTH
        data, self._odd = data[:cut], data[cut:]
        if self._stream is None:
            return data
        return _to_bytes(self._stream.resample_chunk(_samples(data)))

    def flush(self) -> bytes:
        """Drain the filter delay; the resampler can then be fed a new stream."""
        self._odd = b""
        if self._stream is None:
            return b""
        tail = self._stream.resample_chunk(np.zeros(0, dtype=np.int16), last=True)
        self._stream.clear()
        return _to_bytes(tail)


# --------------------------------------------------------------------------- WAV I/O

# what wave/struct raise on malformed input (wave's chunk reader raises a bare RuntimeError)
_WAV_ERRORS = (wave.Error, EOFError, struct.error, ValueError, OverflowError, RuntimeError)


def _to_pcm16(raw: bytes, width: int, floating: bool) -> npt.NDArray[np.float64]:
    """Interleaved samples of any supported width → float64 in PCM16 units."""
    usable = len(raw) - len(raw) % width
    buf = raw[:usable]
    if floating and width in (4, 8):
        return np.frombuffer(buf, dtype=f"<f{width}").astype(np.float64) * 32768.0
    if width == 1:  # 8-bit WAV is unsigned
        return (np.frombuffer(buf, dtype=np.uint8).astype(np.float64) - 128.0) * 256.0
    if width == 3:
        b = np.frombuffer(buf, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        return np.where(v >= 1 << 23, v - (1 << 24), v).astype(np.float64) / 256.0
    if width in (2, 4):
        return np.frombuffer(buf, dtype=f"<i{width}").astype(np.float64) / (1 << (8 * width - 16))
    raise AudioError(
        f"不支持的 WAV 采样位宽：{8 * width} 位", f"unsupported WAV sample width: {8 * width}-bit"
    )


def _mix(samples: npt.NDArray[np.float64], channels: int) -> bytes:
    frames = samples[: len(samples) - len(samples) % channels].reshape(-1, channels)
    mono = np.rint(frames.mean(axis=1)) if channels > 1 else np.rint(frames[:, 0])
    return _to_bytes(np.clip(np.nan_to_num(mono), -32768, 32767).astype(np.int16))


def _riff_fallback(data: bytes) -> tuple[bytes, int]:
    """Parse what ``wave`` (3.11) rejects: IEEE float and WAVE_FORMAT_EXTENSIBLE."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioError(
            "不是 WAV 文件（缺少 RIFF/WAVE 头）", "not a WAV file (no RIFF/WAVE header)"
        )
    pos, fmt, payload = 12, None, None
    while pos + 8 <= len(data) and (fmt is None or payload is None):
        cid, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = data[pos + 8 : pos + 8 + size]
        if cid == b"fmt " and len(body) >= 16:
            fmt = struct.unpack_from("<HHIIHH", body)
            if fmt[0] == _EXTENSIBLE and len(body) >= 26:
                fmt = (struct.unpack_from("<H", body, 24)[0], *fmt[1:])
        elif cid == b"data":
            payload = body
        pos += 8 + size + (size & 1)
    if fmt is None or payload is None:
        raise AudioError("WAV 文件缺少 fmt 或 data 块", "WAV file lacks a fmt or data chunk")
    tag, channels, rate, _, _, bits = fmt
    if tag not in (1, _FLOAT) or channels < 1 or bits % 8 or not 8 <= bits <= 64:
        raise AudioError(
            f"不支持的 WAV 编码（格式 {tag}，{bits} 位）：请转换为 PCM16",
            f"unsupported WAV encoding (format {tag}, {bits}-bit): convert to PCM16",
        )
    return _mix(_to_pcm16(payload, bits // 8, tag == _FLOAT), channels), _check_rate(rate)


def _parse_wav(data: bytes) -> tuple[bytes, int]:
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            raw = w.readframes(w.getnframes())
    except wave.Error as exc:
        if "unknown format" not in str(exc):
            raise
        return _riff_fallback(data)
    return _mix(_to_pcm16(raw, width, False), channels), _check_rate(rate)


def read_wav(path: Path | bytes) -> tuple[bytes, int]:
    """Read a WAV file (path or bytes) as mono PCM16 and its sample rate.

    Stereo (or more channels) is averaged; 8/24/32-bit integer and 32/64-bit float samples
    are converted to 16 bits. Anything malformed or unsupported raises :class:`AudioError`.
    """
    data = path if isinstance(path, bytes) else Path(path).read_bytes()
    try:
        return _parse_wav(data)
    except AudioError:
        raise
    except _WAV_ERRORS as exc:
        raise AudioError(f"无法读取 WAV：{exc}", f"cannot read WAV: {exc}") from exc


def wav_bytes(pcm: bytes, rate: int) -> bytes:
    """PCM16 mono → a complete WAV file in memory."""
    _samples(pcm)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(SAMPLE_WIDTH)
        w.setframerate(_check_rate(rate))
        w.writeframes(pcm)
    return buf.getvalue()


def write_wav(path: Path, pcm: bytes, rate: int) -> None:
    """Write PCM16 mono as a WAV file (the parent directory must exist)."""
    Path(path).write_bytes(wav_bytes(pcm, rate))


def split_frames(pcm: bytes, rate: int, ms: int = 20) -> list[bytes]:
    """Cut PCM16 into frames of ``ms``; the last partial frame is zero-padded."""
    size = frame_bytes(rate, ms)
    _samples(pcm)
    frames = [pcm[i : i + size] for i in range(0, len(pcm), size)]
    if frames and len(frames[-1]) < size:
        frames[-1] = frames[-1].ljust(size, b"\x00")
    return frames


def duration(pcm: bytes, rate: int) -> float:
    """Seconds of PCM16 mono audio."""
    return len(_samples(pcm)) / _check_rate(rate)


def rms_dbfs(pcm: bytes) -> float:
    """RMS level in dBFS (a full-scale square wave is 0 dBFS, a full-scale sine −3.01);
    ``-inf`` for empty or digitally silent input."""
    x = _samples(pcm).astype(np.float64)
    power = float(np.mean(np.square(x / 32768.0))) if len(x) else 0.0
    return 10.0 * math.log10(power) if power > 0 else -math.inf


def silence(ms: int, rate: int) -> bytes:
    """``ms`` milliseconds of digital silence."""
    if ms < 0:
        raise AudioError(f"时长不能为负：{ms}", f"duration must not be negative: {ms}")
    return bytes(_check_rate(rate) * ms // 1000 * SAMPLE_WIDTH)


def tone(freqs: Sequence[float], ms: int, rate: int, level_dbfs: float = -10.0) -> bytes:
    """Sum of equal-amplitude sines whose total RMS level is ``level_dbfs`` (clipped)."""
    n = len(silence(ms, rate)) // SAMPLE_WIDTH
    if not freqs:
        return bytes(n * SAMPLE_WIDTH)
    if any(not 0 < f < rate / 2 for f in freqs):
        raise AudioError(f"频率超出范围：{list(freqs)}", f"frequency out of range: {list(freqs)}")
    amp = 32768.0 * math.sqrt(2.0 / len(freqs)) * 10.0 ** (level_dbfs / 20.0)
    t = np.arange(n) / rate
    x = amp * np.sum([np.sin(2.0 * np.pi * f * t) for f in freqs], axis=0)
    return _to_bytes(np.clip(np.rint(x), -32768, 32767).astype(np.int16))


# --------------------------------------------------------------------------- pacing


class FrameClock:
    """Paces outgoing frames in real time without drift; tolerant to event-loop jitter
    (a late tick sends the due frames at once, never more than `max_burst`).

    Frame ``k`` is due at ``t0 + k * frame_ms`` where ``t0`` is the first tick, so sleep
    jitter never accumulates. When a tick is later than ``max_burst`` frames, the excess is
    forgiven (counted in :attr:`dropped`) and pacing continues on the same grid.
    """

    def __init__(
        self,
        frame_ms: int = 20,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_burst: int = 5,
    ) -> None:
        if frame_ms <= 0 or max_burst < 1:
            raise ValueError("frame_ms must be > 0 and max_burst >= 1")
        self.period = frame_ms / 1000.0
        self.max_burst = max_burst
        self._clock, self._sleep = clock, sleep
        self._t0: float | None = None
        self._next = 0  # index of the next frame not yet released
        self.dropped = 0

    def reset(self) -> None:
        """Start a new schedule at the next tick."""
        self._t0, self._next, self.dropped = None, 0, 0

    async def tick(self) -> int:
        """Wait until at least one frame is due; return how many are due (1..max_burst)."""
        now = self._clock()
        if self._t0 is None:
            self._t0 = now
        due_at = self._t0 + self._next * self.period
        while now < due_at:
            await self._sleep(due_at - now)
            now = self._clock()
        due = max(int((now - self._t0) / self.period) + 1 - self._next, 1)
        self._next += due
        if due > self.max_burst:
            self.dropped += due - self.max_burst
            return self.max_burst
        return due
