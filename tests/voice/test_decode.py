"""voice.decode on WeChat's voice formats, made at test time from the committed caller WAVs:
AMR-NB with PyAV's libopencore_amrnb encoder, SILK v3 (Tencent header) with pysilk, MP3 / Ogg
Opus / M4A / WAV / FLAC with PyAV. Speex has no encoder in PyAV: `greet_16k.spx` (4.8 KB) was
made once with Debian's speex 1.2.1 (`speexenc -w --quality 8 greet_16k.wav greet_16k.spx`);
WeChat's header-byte Speex is built here from its Ogg packets. The AMR transcript is checked
with the whisper-base test model."""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pysilk
import pytest

from voice.asr.models import whisper_test_model
from voice.asr.whisper import WhisperEngine
from voice.audio import AudioError, duration, read_wav, resample, tone
from voice.decode import decode_audio, decode_audio_async, sniff, transcribe_audio

AUDIO = Path(__file__).parents[1] / "fixtures" / "audio"
QUERY = AUDIO / "query_balance_16k.wav"  # 我想查一下话费, 2.28 s
SPEEX = AUDIO / "greet_16k.spx"  # 你好, 1.27 s
SPEEX_HINT = "audio/x-speex-with-header-byte; rate=16000"


@pytest.fixture(scope="module")
def caller() -> tuple[bytes, int]:
    return read_wav(QUERY)


def encode(pcm: bytes, rate: int, fmt: str, codec: str, out_rate: int | None = None) -> bytes:
    """`pcm` encoded with PyAV into an in-memory file."""
    out_rate = out_rate or rate
    if out_rate != rate:
        pcm, rate = resample(pcm, rate, out_rate), out_rate
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate, layout="mono")
        assert isinstance(stream, av.AudioStream)
        frame = av.AudioFrame.from_ndarray(
            np.frombuffer(pcm, "<i2").reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = rate
        resampler = av.AudioResampler(stream.format.name, "mono", rate)
        for part in [*resampler.resample(frame), *resampler.resample(None)]:
            container.mux(stream.encode(part))
        container.mux(stream.encode(None))
    return buf.getvalue()


def amr_nb(pcm: bytes, rate: int) -> bytes:
    return encode(pcm, rate, "amr", "libopencore_amrnb", 8000)


def silk(pcm: bytes, rate: int, tencent: bool = True) -> bytes:
    out = io.BytesIO()
    pysilk.encode(io.BytesIO(resample(pcm, rate, 24000)), out, 24000, 24000, tencent=tencent)
    return out.getvalue()


def speex_header_byte(ogg: bytes) -> bytes:
    """WeChat's 高清语音 layout: each Speex frame after one byte giving its length."""
    with av.open(io.BytesIO(ogg), "r") as container:
        frames = [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size]
    return b"".join(bytes([len(f)]) + f for f in frames)


def close_to(pcm: bytes, rate: int, seconds: float, slack: float = 0.08) -> bool:
    return math.isclose(duration(pcm, rate), seconds, abs_tol=slack)


# ------------------------------------------------------------------ WeChat's formats
def test_amr_nb_decodes_at_8k_or_at_the_rate_asked(caller: tuple[bytes, int]) -> None:
    data = amr_nb(*caller)
    assert data.startswith(b"#!AMR\n") and len(data) < 5000
    pcm, rate = decode_audio(data, "amr")
    assert rate == 8000 and close_to(pcm, rate, 2.28)
    pcm16, rate16 = decode_audio(data, rate=16000)
    assert rate16 == 16000 and close_to(pcm16, rate16, 2.28)


@pytest.mark.parametrize("tencent", [True, False])
def test_silk_v3_decodes_with_and_without_the_leading_byte(
    caller: tuple[bytes, int], tencent: bool
) -> None:
    data = silk(*caller, tencent=tencent)
    assert data.startswith(b"\x02#!SILK_V3" if tencent else b"#!SILK_V3")
    assert sniff(data) == "silk"
    pcm, rate = decode_audio(data)
    assert rate == 24000 and close_to(pcm, rate, 2.28)
    for asked in (16000, 22050):  # a SILK decoder rate, and one resampled after
        pcm, rate = decode_audio(data, rate=asked)
        assert rate == asked and close_to(pcm, rate, 2.28)


def test_speex_in_ogg_and_wechats_header_byte_speex() -> None:
    ogg = SPEEX.read_bytes()
    from_ogg, rate = decode_audio(ogg, "speex")
    assert rate == 16000 and close_to(from_ogg, rate, 1.27)
    raw = speex_header_byte(ogg)
    assert sniff(raw, SPEEX_HINT) == "speex" and sniff(raw, "speex") == "speex"
    pcm, rate = decode_audio(raw, SPEEX_HINT)
    assert rate == 16000 and pcm == from_ogg  # the same frames, the same samples
    assert np.abs(np.frombuffer(pcm, "<i2")).max() > 1000  # sound, not silence
    with pytest.raises(AudioError):  # without the hint it is no known format
        decode_audio(raw)


CONTAINERS = [("mp3", "libmp3lame"), ("ogg", "libopus"), ("ipod", "aac"), ("wav", "pcm_s16le")]


@pytest.mark.parametrize(("fmt", "codec"), [*CONTAINERS, ("flac", "flac")])
def test_generic_containers(caller: tuple[bytes, int], fmt: str, codec: str) -> None:
    out_rate = 48000 if codec == "libopus" else 16000
    pcm, rate = decode_audio(encode(*caller, fmt, codec, out_rate))
    assert rate == out_rate and close_to(pcm, rate, 2.28, slack=0.1)
    level = np.abs(np.frombuffer(pcm, "<i2")).mean()
    assert level > 100  # the speech is there


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello world" * 20,
        bytes(range(256)) * 8,
        b"#!AMR\n" + bytes(60),
        b"\x02#!SILK_V3" + b"\x01\x02\x03" * 40,
        b"\x89PNG\r\n\x1a\n" + bytes(200),  # FFmpeg reads it, as an image
        b"RIFF\x24\x00\x00\x00WAVEfmt ",
    ],
)
def test_garbage_is_a_clear_audio_error(data: bytes) -> None:
    with pytest.raises(AudioError) as caught:
        decode_audio(data, "amr")
    assert "语音" in caught.value.zh and "audio" in caught.value.en


def test_speex_garbage_and_limits(caller: tuple[bytes, int]) -> None:
    with pytest.raises(AudioError, match="Speex"):
        decode_audio(bytes([20]) + bytes(range(20)) * 3, SPEEX_HINT)
    with pytest.raises(AudioError, match="Speex"):
        decode_audio(speex_header_byte(SPEEX.read_bytes()), "audio/speex; rate=44100")
    with pytest.raises(AudioError, match=r"too long|过长"):
        decode_audio(amr_nb(*caller), max_seconds=1.0)
    with pytest.raises(AudioError, match="sample rate"):
        decode_audio(amr_nb(*caller), rate=10)


def test_silence_and_tones_decode_too() -> None:
    beep = tone([440.0], 500, 16000)
    pcm, rate = decode_audio(encode(beep, 16000, "wav", "pcm_s16le"), rate=8000)
    assert rate == 8000 and close_to(pcm, rate, 0.5, slack=0.01)


# ------------------------------------------------------------------ async and recognition
async def test_async_decoding_runs_off_the_loop(caller: tuple[bytes, int]) -> None:
    pcm, rate = await decode_audio_async(silk(*caller), rate=16000)
    assert rate == 16000 and close_to(pcm, rate, 2.28)
    with pytest.raises(AudioError):
        await decode_audio_async(b"not audio at all" * 10)


@pytest.fixture(scope="module")
def whisper() -> Iterator[WhisperEngine]:
    engine = WhisperEngine(whisper_test_model(), phrases=["话费", "流量", "套餐"])
    yield engine
    engine.close()


async def test_whisper_hears_the_request_in_the_amr(
    whisper: WhisperEngine, caller: tuple[bytes, int]
) -> None:
    heard = await transcribe_audio(whisper, amr_nb(*caller), "amr", timeout=60)
    assert "话费" in heard.text, heard
