"""A local fake of the Edge read-aloud TTS service, speaking edge-tts's real wire protocol.

One WebSocket per request at `/consumer/speech/synthesize/readaloud/edge/v1` (query:
`TrustedClientToken`, `ConnectionId`, `Sec-MS-GEC`, `Sec-MS-GEC-Version`). The client sends
two text messages, `Path:speech.config` (JSON, output format) and `Path:ssml` (the SSML with
voice and prosody); the service answers `turn.start`, `response`, `audio.metadata`, binary
`Path:audio` frames (a 2-byte big-endian header length, the header lines, then MP3 bytes),
an empty audio frame and `turn.end`. The fake replies with the MP3 it was given, in chunks,
and records every request. Fault modes: refuse the handshake (HTTP 503), hang after
`turn.start`, close the socket mid-stream, delay the first audio frame.

    async with FakeEdgeTts(mp3) as fake:
        engine = EdgeEngine(endpoint=fake.endpoint)
        fake.fault = Fault.HANG

Run it by hand: `python -m bot.testing.edge_tts_server sample.mp3 --port 8765`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from types import TracebackType

from aiohttp import WSCloseCode, WSMsgType, web

__all__ = ["PATH", "TRUSTED_CLIENT_TOKEN", "EdgeRequest", "FakeEdgeTts", "Fault"]

PATH = "/consumer/speech/synthesize/readaloud/edge/v1"
TRUSTED_CLIENT_TOKEN = "6A5AA1D4EAFF4E9FB37E23D68491D6F4"  # public constant of the service
OUTPUT_FORMAT = "audio-24khz-48kbitrate-mono-mp3"
_SSML_NS = "{http://www.w3.org/2001/10/synthesis}"
_TICKS = 10_000_000  # the service's offsets are in 100 ns ticks


class Fault(Enum):
    NONE = "none"
    REFUSE = "refuse"  # HTTP 503 instead of the WebSocket handshake
    HANG = "hang"  # turn.start, then nothing until the client gives up
    CLOSE_MID_STREAM = "close_mid_stream"  # half the audio, then the socket closes
    SLOW_FIRST_BYTE = "slow_first_byte"  # waits `first_byte_delay` before the first audio


@dataclass(frozen=True, slots=True)
class EdgeRequest:
    """What one client asked for."""

    query: dict[str, str]
    headers: dict[str, str]
    output_format: str
    ssml: str
    voice: str
    rate: str
    pitch: str
    volume: str
    text: str


def _text_message(request_id: str, path: str, body: str) -> str:
    return (
        f"X-RequestId:{request_id}\r\n"
        "Content-Type:application/json; charset=utf-8\r\n"
        f"Path:{path}\r\n\r\n{body}"
    )


def _audio_frame(request_id: str, stream_id: str, data: bytes) -> bytes:
    content_type = "Content-Type:audio/mpeg\r\n" if data else ""
    header = (
        f"X-RequestId:{request_id}\r\n{content_type}X-StreamId:{stream_id}\r\nPath:audio\r\n"
    ).encode()
    return len(header).to_bytes(2, "big") + header + data


def _split(message: str) -> tuple[dict[str, str], str]:
    head, _, body = message.partition("\r\n\r\n")
    headers = dict(line.split(":", 1) for line in head.split("\r\n") if ":" in line)
    return headers, body


def _parse_ssml(ssml: str) -> tuple[str, dict[str, str], str]:
    root = ET.fromstring(ssml)
    voice = root.find(f"{_SSML_NS}voice")
    prosody = voice.find(f"{_SSML_NS}prosody") if voice is not None else None
    if voice is None or prosody is None:
        raise ValueError("SSML without <voice><prosody>")
    return voice.get("name", ""), dict(prosody.attrib), "".join(prosody.itertext())


class FakeEdgeTts:
    """The fake service on 127.0.0.1 (a free port unless given), in the caller's event loop."""

    def __init__(
        self,
        mp3: bytes,
        *,
        fault: Fault = Fault.NONE,
        first_byte_delay: float = 1.0,
        chunk_bytes: int = 4096,
        chunk_delay: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if not mp3:
            raise ValueError("the fake needs some MP3 audio to serve")
        self.mp3 = mp3
        self.fault = fault
        self.first_byte_delay = first_byte_delay
        self.chunk_bytes = chunk_bytes
        self.chunk_delay = chunk_delay  # pause between audio frames (a real-time stream)
        self.host, self.port = host, port
        self.requests: list[EdgeRequest] = []
        self.connections = 0  # handshake attempts, refused ones included
        self._sockets: set[web.WebSocketResponse] = set()
        self._handlers: set[asyncio.Task[object]] = set()
        self._runner: web.AppRunner | None = None

    @property
    def endpoint(self) -> str:
        """The URL to give `EdgeEngine(endpoint=...)`."""
        if self._runner is None:
            raise RuntimeError("the fake edge-tts server is not running")
        return f"ws://{self.host}:{self.port}{PATH}?TrustedClientToken={TRUSTED_CLIENT_TOKEN}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get(PATH, self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def close(self) -> None:
        for task in list(self._handlers):  # hung or sleeping turns end now
            task.cancel()
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await ws.close(code=WSCloseCode.GOING_AWAY)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeEdgeTts:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ------------------------------------------------------------- protocol

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.connections += 1
        if self.fault is Fault.REFUSE:
            return web.Response(status=503, text="Service Unavailable")
        if request.query.get("TrustedClientToken") != TRUSTED_CLIENT_TOKEN:
            return web.Response(status=401, text="Unauthorized")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        self._sockets.add(ws)
        try:
            await self._session(ws, request)
        except asyncio.CancelledError:
            pass  # the fake is closing
        finally:
            self._sockets.discard(ws)
            if task is not None:
                self._handlers.discard(task)
        return ws

    async def _session(self, ws: web.WebSocketResponse, request: web.Request) -> None:
        config = await self._receive(ws, "speech.config")
        ssml = await self._receive(ws, "ssml")
        if config is None or ssml is None:
            return
        try:
            output = json.loads(config)["context"]["synthesis"]["audio"]["outputFormat"]
            voice, prosody, text = _parse_ssml(ssml)
        except (ValueError, KeyError, TypeError, ET.ParseError):
            await ws.close(code=WSCloseCode.UNSUPPORTED_DATA, message=b"bad request")
            return
        self.requests.append(
            EdgeRequest(
                query=dict(request.query),
                headers=dict(request.headers),
                output_format=str(output),
                ssml=ssml,
                voice=voice,
                rate=prosody.get("rate", ""),
                pitch=prosody.get("pitch", ""),
                volume=prosody.get("volume", ""),
                text=text,
            )
        )
        await self._turn(ws, text)
        async for _ in ws:  # the client closes after turn.end
            pass

    async def _receive(self, ws: web.WebSocketResponse, path: str) -> str | None:
        msg = await ws.receive()
        if msg.type is not WSMsgType.TEXT:
            return None
        headers, body = _split(msg.data)
        if headers.get("Path") != path:
            await ws.close(code=WSCloseCode.PROTOCOL_ERROR, message=f"expected {path}".encode())
            return None
        return body

    async def _turn(self, ws: web.WebSocketResponse, text: str) -> None:
        rid, sid = uuid.uuid4().hex, uuid.uuid4().hex.upper()
        await ws.send_str(_text_message(rid, "turn.start", '{"context":{"serviceTag":"fake"}}'))
        if self.fault is Fault.HANG:
            return  # the caller's `async for` waits until the client closes
        response = {"context": {"serviceTag": "fake"}, "audio": {"type": "inline"}}
        await ws.send_str(_text_message(rid, "response", json.dumps(response)))
        if self.fault is Fault.SLOW_FIRST_BYTE:
            await asyncio.sleep(self.first_byte_delay)
        await ws.send_str(_text_message(rid, "audio.metadata", self._metadata(text)))
        chunks = [
            self.mp3[i : i + self.chunk_bytes] for i in range(0, len(self.mp3), self.chunk_bytes)
        ]
        for i, chunk in enumerate(chunks):
            if self.fault is Fault.CLOSE_MID_STREAM and i >= max(1, len(chunks) // 2):
                await ws.close(code=WSCloseCode.INTERNAL_ERROR, message=b"fault injected")
                return
            if i and self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            await ws.send_bytes(_audio_frame(rid, sid, chunk))
        await ws.send_bytes(_audio_frame(rid, sid, b""))
        await ws.send_str(_text_message(rid, "turn.end", "{}"))

    def _metadata(self, text: str) -> str:
        seconds = len(self.mp3) * 8 / 48_000  # the service streams 48 kbit/s CBR
        data = {
            "Offset": _TICKS // 10,
            "Duration": int(seconds * _TICKS),
            "text": {"Text": text, "Length": len(text), "BoundaryType": "SentenceBoundary"},
        }
        return json.dumps({"Metadata": [{"Type": "SentenceBoundary", "Data": data}]})


async def _serve(mp3: Path, port: int, fault: Fault) -> None:
    async with FakeEdgeTts(mp3.read_bytes(), port=port, fault=fault) as fake:
        print(fake.endpoint, flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake edge-tts service for tests.")
    parser.add_argument("mp3", type=Path, help="MP3 file to answer every request with")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--fault", choices=[f.value for f in Fault], default="none")
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.mp3, args.port, Fault(args.fault)))


if __name__ == "__main__":
    main()
