from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from bot.testing.edge_tts_server import PATH, FakeEdgeTts

MP3 = Path(__file__).parents[2] / "fixtures" / "tts" / "hello_zh_24k48.mp3"
CONFIG = (
    "X-Timestamp:now\r\nContent-Type:application/json; charset=utf-8\r\nPath:speech.config"
    '\r\n\r\n{"context":{"synthesis":{"audio":{"outputFormat":"audio-24khz-48kbitrate-mono-mp3"}}}}'
)
SSML = (
    "X-RequestId:1\r\nContent-Type:application/ssml+xml\r\nX-Timestamp:now\r\nPath:ssml\r\n\r\n"
    "<speak version='1.0' xmlns='http://www.w3.org/2001/10/synthesis' xml:lang='en-US'>"
    "<voice name='zh-CN-XiaoxiaoNeural'><prosody pitch='+0Hz' rate='+5%' volume='+0%'>"
    "你好</prosody></voice></speak>"
)


async def test_wire_protocol_frames() -> None:
    mp3 = MP3.read_bytes()
    paths: list[str] = []
    audio = b""
    async with (
        FakeEdgeTts(mp3, chunk_bytes=8000) as fake,
        aiohttp.ClientSession() as session,
        session.ws_connect(fake.endpoint + "&ConnectionId=x") as ws,
    ):
        await ws.send_str(CONFIG)
        await ws.send_str(SSML)
        async for msg in ws:
            if msg.type is aiohttp.WSMsgType.TEXT:
                head = msg.data.split("\r\n\r\n", 1)[0]
                paths.append(head.rsplit("Path:", 1)[1])
                if paths[-1] == "turn.end":
                    break
            else:
                length = int.from_bytes(msg.data[:2], "big")
                header = msg.data[2 : 2 + length].decode()
                assert header.endswith("Path:audio\r\n")
                audio += msg.data[2 + length :]
    assert paths == ["turn.start", "response", "audio.metadata", "turn.end"]
    assert audio == mp3
    assert fake.requests[0].rate == "+5%" and fake.requests[0].text == "你好"


async def test_wrong_token_is_unauthorized() -> None:
    async with FakeEdgeTts(b"x") as fake, aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{fake.port}{PATH}?TrustedClientToken=wrong"
        async with session.get(url) as response:
            assert response.status == 401


async def test_protocol_violation_closes_the_socket() -> None:
    async with (
        FakeEdgeTts(b"x") as fake,
        aiohttp.ClientSession() as session,
        session.ws_connect(fake.endpoint) as ws,
    ):
        await ws.send_str(SSML)  # ssml before speech.config
        msg = await ws.receive()
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert fake.requests == []


def test_needs_audio() -> None:
    with pytest.raises(ValueError):
        FakeEdgeTts(b"")
