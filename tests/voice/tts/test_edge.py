from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import edge_tts.communicate
import edge_tts.constants
import pytest

from bot.testing.edge_tts_server import FakeEdgeTts, Fault
from voice.audio import rms_dbfs
from voice.tts.base import OUTPUT_RATE, TtsError, Voice
from voice.tts.edge import EdgeEngine, decode_mp3, endpoint_url

MP3 = Path(__file__).parents[2] / "fixtures" / "tts" / "hello_zh_24k48.mp3"
MP3_SECONDS = 3.312  # 24 kHz mono, 48 kbit/s CBR, made with lame (see the fixture README)


@pytest.fixture
async def fake() -> AsyncIterator[FakeEdgeTts]:
    async with FakeEdgeTts(MP3.read_bytes(), chunk_bytes=1000, first_byte_delay=1.0) as server:
        yield server


def test_decode_fixture() -> None:
    pcm, rate = decode_mp3(MP3.read_bytes())
    assert rate == 24000
    assert len(pcm) / 2 / rate == pytest.approx(MP3_SECONDS, abs=0.01)


async def test_synthesizes_through_the_service_protocol(fake: FakeEdgeTts) -> None:
    engine = EdgeEngine(endpoint=fake.endpoint)
    voice = Voice("zh-CN-YunxiNeural", rate="+20%", pitch="-5Hz", volume="+10%")
    speech = await engine.synthesize("您好，欢迎致电小知客服", voice)

    assert speech.engine == "edge"
    assert speech.rate == OUTPUT_RATE
    assert speech.duration == pytest.approx(MP3_SECONDS, abs=0.02)
    assert rms_dbfs(speech.pcm) > -35.0
    assert 0 < speech.first_byte_s < 1.0

    [request] = fake.requests
    assert "YunxiNeural" in request.voice
    assert (request.rate, request.pitch, request.volume) == ("+20%", "-5Hz", "+10%")
    assert request.text == "您好，欢迎致电小知客服"
    assert "rate='+20%'" in request.ssml
    assert request.output_format == "audio-24khz-48kbitrate-mono-mp3"
    assert request.query["ConnectionId"] and request.query["Sec-MS-GEC"]


async def test_text_is_escaped_into_ssml(fake: FakeEdgeTts) -> None:
    await EdgeEngine(endpoint=fake.endpoint).synthesize("价格<100元 & 包邮")
    assert fake.requests[0].text == "价格<100元 & 包邮"
    assert "&lt;100" in fake.requests[0].ssml


async def test_refused_handshake_is_retried_once_then_fails(fake: FakeEdgeTts) -> None:
    fake.fault = Fault.REFUSE
    engine = EdgeEngine(endpoint=fake.endpoint)
    with pytest.raises(TtsError, match="503") as info:
        await engine.synthesize("你好")
    assert info.value.retryable
    assert fake.connections == 2
    assert engine.stats.retries == 1


async def test_nothing_listening() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    engine = EdgeEngine(endpoint=f"ws://127.0.0.1:{port}/edge/v1")
    with pytest.raises(TtsError, match="cannot reach"):
        await engine.synthesize("你好", timeout=3.0)


async def test_hang_times_out(fake: FakeEdgeTts) -> None:
    fake.fault = Fault.HANG
    engine = EdgeEngine(endpoint=fake.endpoint)
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(TtsError, match="timed out"):
        await engine.synthesize("你好", timeout=0.5)
    assert loop.time() - start < 1.5
    assert fake.requests  # it did get the request


async def test_close_mid_stream_is_detected(fake: FakeEdgeTts) -> None:
    fake.fault = Fault.CLOSE_MID_STREAM
    engine = EdgeEngine(endpoint=fake.endpoint)
    with pytest.raises(TtsError, match="mid-way") as info:
        await engine.synthesize("你好")
    assert info.value.retryable
    assert len(fake.requests) == 2  # retried once


async def test_slow_first_byte_is_measured(fake: FakeEdgeTts) -> None:
    fake.fault = Fault.SLOW_FIRST_BYTE
    fake.first_byte_delay = 0.4
    speech = await EdgeEngine(endpoint=fake.endpoint).synthesize("你好")
    assert 0.4 <= speech.first_byte_s < 1.2
    assert speech.duration == pytest.approx(MP3_SECONDS, abs=0.02)


async def test_bad_voice_settings_are_not_retried(fake: FakeEdgeTts) -> None:
    engine = EdgeEngine(endpoint=fake.endpoint)
    with pytest.raises(TtsError, match="invalid voice") as info:
        await engine.synthesize("你好", Voice(rate="fast"))
    assert not info.value.retryable
    assert fake.connections == 0


async def test_endpoints_apply_per_engine(fake: FakeEdgeTts) -> None:
    async with FakeEdgeTts(MP3.read_bytes()) as other:
        first = EdgeEngine(endpoint=fake.endpoint)
        second = EdgeEngine(endpoint=other.endpoint)
        await asyncio.gather(first.synthesize("一"), second.synthesize("二"))
    assert [r.text for r in fake.requests] == ["一"]
    assert [r.text for r in other.requests] == ["二"]
    # outside an engine call, edge-tts sees its own service URL
    assert f"{edge_tts.communicate.WSS_URL}" == edge_tts.constants.WSS_URL


def test_endpoint_url() -> None:
    assert endpoint_url("ws://h:1/p").endswith(
        "/p?TrustedClientToken=" + edge_tts.constants.TRUSTED_CLIENT_TOKEN
    )
    assert endpoint_url("wss://h/p?TrustedClientToken=x") == "wss://h/p?TrustedClientToken=x"
    with pytest.raises(TtsError, match="ws://"):
        EdgeEngine(endpoint="http://h/p")
