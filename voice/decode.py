"""Compressed voice messages (WeChat, WeCom, uploads) → PCM16 mono, and their transcription.

Formats, told apart by their first bytes (the `hint` — WeChat's `Format` field or the media's
Content-Type — only matters for Speex, which has no header of its own):

- AMR-NB `#!AMR\\n` (Official Account voice messages, 8 kHz) and AMR-WB `#!AMR-WB\\n`: PyAV
  (its FFmpeg build has the amrnb/amrwb decoders);
- SILK v3 `#!SILK_V3`, optionally after a 0x02 byte (Tencent's variant: WeChat / WeCom voice):
  the `silk-python` package (`pysilk`), decoded at 24 kHz as WeChat records;
- Speex "with header byte" (`audio/x-speex-with-header-byte`, WeChat's 高清语音, 16 kHz unless
  the hint says `rate=8000`): blocks of one length byte then one Speex frame, decoded with
  PyAV's native speex decoder. Speex in Ogg (`.spx`) goes through the container path;
- MP3, WAV, Ogg (Vorbis, Opus, Speex), M4A/AAC, FLAC, WebM: PyAV.

Anything else, damaged data, no audio or more than `max_seconds` of it → `AudioError` with a
Chinese and an English message. Decoding is CPU work: async callers use `decode_audio_async`
(a worker thread), never `decode_audio` on the event loop.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

from voice.audio import AudioError, resample

if TYPE_CHECKING:
    import av

    from voice.asr.base import AsrEngine, AsrResult

SILK_RATE = 24000  # WeChat records SILK at 24 kHz
SILK_RATES = frozenset({8000, 12000, 16000, 24000, 32000, 44100, 48000})  # SILK decoder outputs
SPEEX_RATE = 16000
MAX_BYTES = 16 * 1024 * 1024
MAX_SECONDS = 300.0  # WeChat voice messages are at most 60 s
# PyAV demuxers we accept (format names as FFmpeg reports them)
CONTAINERS = frozenset(
    {"amr", "amrnb", "amrwb", "wav", "ogg", "mp3", "aac", "flac", "matroska,webm"}
    | {"mov,mp4,m4a,3gp,3g2,mj2"}
)
SUPPORTED = "AMR、SILK、Speex、MP3、WAV、OGG、M4A"
MAGIC: dict[bytes, str] = {
    b"#!AMR\n": "av",
    b"#!AMR-WB\n": "av",
    b"#!SILK_V3": "silk",
    b"\x02#!SILK_V3": "silk",
    b"OggS": "av",
}
_RATE = re.compile(r"rate=(\d+)")


def _av() -> ModuleType:
    """PyAV (installed with faster-whisper, the `voice` extra)."""
    try:
        import av
    except ImportError as exc:
        raise AudioError(
            "未安装 PyAV，无法解码语音：pip install av", "PyAV is not installed: pip install av"
        ) from exc
    return av


def _unreadable(what: str, en: str) -> AudioError:
    return AudioError(f"语音无法解码：{what}（支持 {SUPPORTED}）", f"cannot decode the audio: {en}")


class _Sink:
    """Collects decoded frames as PCM16 mono at one rate, bounded to `max_seconds`."""

    def __init__(self, rate: int | None, max_seconds: float) -> None:
        self.rate, self.max_seconds = rate, max_seconds
        self.chunks: list[bytes] = []
        self.samples = 0
        self._resampler: av.AudioResampler | None = None

    def add(self, frame: av.AudioFrame | None) -> None:
        if self._resampler is None:
            if frame is None:
                return
            self.rate = self.rate or frame.sample_rate
            self._resampler = _av().AudioResampler(format="s16", layout="mono", rate=self.rate)
        for out in self._resampler.resample(frame):
            self.pcm(out.to_ndarray().astype("<i2", copy=False).tobytes())

    def pcm(self, data: bytes) -> None:
        self.chunks.append(data)
        self.samples += len(data) // 2
        if self.rate and self.samples > self.max_seconds * self.rate:
            raise AudioError(
                f"语音过长（超过 {self.max_seconds:.0f} 秒）",
                f"audio longer than {self.max_seconds:.0f} s",
            )

    def finish(self) -> tuple[bytes, int]:
        self.add(None)  # flush the resampler
        if not self.samples or not self.rate:
            raise _unreadable("没有声音数据", "no audio in it")
        return b"".join(self.chunks), self.rate


def _container(data: bytes, hint: str, rate: int | None, max_seconds: float) -> tuple[bytes, int]:
    av = _av()
    sink = _Sink(rate, max_seconds)
    try:
        with av.open(io.BytesIO(data), "r") as container:
            name = container.format.name
            if name not in CONTAINERS:
                raise _unreadable(f"不支持的格式 {name}", f"unsupported format {name!r}")
            if not container.streams.audio:
                raise _unreadable("没有音轨", "no audio stream")
            for frame in container.decode(container.streams.audio[0]):
                sink.add(frame)
    except av.FFmpegError as exc:
        raise _unreadable("文件损坏或格式未知", f"damaged or unknown format ({exc})") from exc
    return sink.finish()


def _speex_blocks(data: bytes) -> Iterator[bytes]:
    """The blocks of a header-byte Speex stream (a truncated last block is dropped)."""
    at = 0
    while at < len(data):
        size = data[at]
        block = data[at + 1 : at + 1 + size]
        at += 1 + size
        if size and len(block) == size:
            yield block


def _speex(data: bytes, hint: str, rate: int | None, max_seconds: float) -> tuple[bytes, int]:
    found = _RATE.search(hint)
    source = int(found.group(1)) if found else SPEEX_RATE
    if source not in (8000, 16000, 32000):
        raise _unreadable(f"Speex 采样率 {source} 无效", f"bad Speex rate {source}")
    av = _av()
    sink = _Sink(rate or source, max_seconds)
    codec: Any = av.CodecContext.create("speex", "r")
    codec.sample_rate, codec.layout = source, "mono"
    try:
        for block in _speex_blocks(data):
            for frame in codec.decode(av.Packet(block)):
                sink.add(frame)
    except av.FFmpegError as exc:
        raise _unreadable("Speex 数据损坏", f"damaged Speex data ({exc})") from exc
    return sink.finish()


def _silk(data: bytes, hint: str, rate: int | None, max_seconds: float) -> tuple[bytes, int]:
    try:
        import pysilk
    except ImportError as exc:
        raise AudioError(
            "未安装 silk-python，无法解码微信 SILK 语音：pip install silk-python",
            "silk-python is not installed, WeChat SILK voice cannot be decoded: "
            "pip install silk-python",
        ) from exc
    native = rate if rate in SILK_RATES else SILK_RATE
    out = io.BytesIO()
    try:
        pysilk.decode(io.BytesIO(data), out, native)
    except pysilk.SilkError as exc:
        raise _unreadable(f"SILK 数据损坏（{exc}）", f"damaged SILK data ({exc})") from exc
    sink = _Sink(native, max_seconds)
    sink.pcm(out.getvalue())
    pcm, got = sink.finish()
    if rate and rate != got:
        return resample(pcm, got, rate), rate
    return pcm, got


Decoder = Callable[[bytes, str, "int | None", float], tuple[bytes, int]]
DECODERS: dict[str, Decoder] = {"av": _container, "silk": _silk, "speex": _speex}


def sniff(data: bytes, hint: str = "") -> str:
    """Which decoder reads `data`: "silk", "speex" or "av" (PyAV probes the container)."""
    for magic, kind in MAGIC.items():
        if data.startswith(magic):
            return kind
    return "speex" if "speex" in hint.lower() else "av"


def decode_audio(
    data: bytes, hint: str = "", *, rate: int | None = None, max_seconds: float = MAX_SECONDS
) -> tuple[bytes, int]:
    """PCM16 mono and its rate (`rate` when given, else the recording's own). Blocking."""
    if not data:
        raise AudioError("语音内容为空", "the audio is empty")
    if len(data) > MAX_BYTES:
        raise AudioError(
            f"语音文件过大（{len(data)} 字节）", f"audio file too large ({len(data)} bytes)"
        )
    if rate is not None and not 1000 <= rate <= 384_000:
        raise AudioError(f"不支持的采样率：{rate!r}", f"unsupported sample rate: {rate!r}")
    return DECODERS[sniff(data, hint)](data, hint, rate, max_seconds)


async def decode_audio_async(
    data: bytes, hint: str = "", *, rate: int | None = None, max_seconds: float = MAX_SECONDS
) -> tuple[bytes, int]:
    """`decode_audio` on a worker thread (never blocks the event loop)."""
    return await asyncio.to_thread(
        lambda: decode_audio(data, hint, rate=rate, max_seconds=max_seconds)
    )


async def transcribe_audio(
    engine: AsrEngine, data: bytes, hint: str = "", *, timeout: float = 30.0
) -> AsrResult:
    """Decode a voice message (at the engine's rate) and recognise it. Raises `AudioError`
    (undecodable) or `AsrError` (recognition failed or timed out)."""
    pcm, rate = await decode_audio_async(data, hint, rate=engine.rate)
    return await engine.transcribe(pcm, rate, timeout=timeout)
