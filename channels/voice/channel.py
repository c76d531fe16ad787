"""The phone channel: Twilio Media Streams on `WS /voice/ws`, one `Call` per stream.

A carrier (Twilio `<Connect><Stream>`), a SIP gateway or the browser softphone (`/voice`)
opens the socket and sends `connected`, `start` (µ-law 8 kHz, or `audio/l16;rate=16000`),
then `media` frames, `dtmf` keys, `mark` echoes and finally `stop`. We answer with `media`
frames at the line's format, `mark` and `clear` (barge-in: drop the audio the far end still
has queued).

- **Pacing**: inbound audio (any chunk size) is cut into exact 20 ms frames; each one ticks the
  call and one 20 ms frame goes back, so our audio follows the line's clock. When nothing
  arrives for `IDLE_S`, a `FrameClock` keeps the call ticking so prompts still play.
- **Transcript** (for the softphone): with customParameters `{"transcript": "1"}` the socket
  also gets `{"event": "transcript", "role": "caller" | "bot", "text": …}`.
- **Robustness**: a malformed frame is logged and skipped; a stream without `start` within
  `start_timeout_s` is closed (1008), an unsupported `start` too (1003); beyond `max_calls`
  the caller hears a polite busy prompt and the socket closes (1013). The peer leaving hangs
  the call up (what was said is saved); the bot hanging up closes the socket (1000) once the
  far end played the last words (a `mark` echo, or `MARK_WAIT_S`).
- **Handoff**: agents' messages (`send`) are spoken on the live call.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from bot.messages import OutboundMessage
from bot.notify import LogNotifier, Notifier, flush
from bot.server.holder import EngineHolder
from channels.voice.call import Call
from channels.voice.config import Deaf, NoAsr, VoiceConfig, build_asr, build_tts
from channels.voice.media import (
    Connected,
    Dtmf,
    InboundEvent,
    Mark,
    Media,
    MediaError,
    Start,
    Stop,
    clear_frame,
    mark_frame,
    media_frame,
    parse,
)
from voice.asr.base import AsrEngine, AsrError
from voice.audio import FrameClock, frame_bytes, resample, split_frames
from voice.tts.base import TtsEngine, TtsError

if TYPE_CHECKING:
    from bot.server.state import ServerState
    from channels.voice.sip import SipTransport

log = logging.getLogger(__name__)

CHANNEL = "voice"
PATH = "/voice/ws"
BUSY_TEXT = "抱歉，当前来电较多，请您稍后再拨。"
IDLE_S = 0.1  # no inbound audio for this long: tick on our own clock
MARK_WAIT_S = 2.0  # how long the far end may take to play our last words
MAX_QUEUED = 500  # inbound frames (10 s) waiting for the call; more are dropped
MAX_LOGGED = 5  # bad frames logged per stream (then counted only)
END_MARK, BUSY_MARK = "zhike-end", "zhike-busy"
CLOSE_NORMAL, CLOSE_UNSUPPORTED, CLOSE_POLICY, CLOSE_BUSY = 1000, 1003, 1008, 1013
SEND_ERRORS = (WebSocketDisconnect, RuntimeError, OSError)
TRANSCRIPT: dict[str, tuple[str, Callable[[str], str]]] = {
    "heard": ("caller", lambda text: text),
    "dtmf": ("caller", lambda digit: f"（按键 {digit}）"),
    "say": ("bot", lambda text: text),
}


class Rejected(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


class Reframer:
    """PCM chunks of any size in, exact 20 ms frames out."""

    def __init__(self, rate: int) -> None:
        self.size = frame_bytes(rate)
        self._buf = bytearray()

    def feed(self, pcm: bytes) -> list[bytes]:
        self._buf += pcm
        whole = len(self._buf) // self.size * self.size
        chunk = bytes(self._buf[:whole])
        del self._buf[:whole]
        return [chunk[i : i + self.size] for i in range(0, whole, self.size)]


@dataclass(eq=False)
class Stream:
    """One accepted socket and its call."""

    ws: WebSocket
    start: Start
    call: Call
    transcript: bool
    inbound: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    marks: dict[str, asyncio.Event] = field(default_factory=dict)
    cursor: int = 0  # call.events already looked at
    gone: bool = False  # the peer stopped or closed
    bad: int = 0
    keys_out_of_band: bool = False

    def leave(self) -> None:
        if not self.gone:
            self.gone = True
            self.inbound.put_nowait(None)
            for event in self.marks.values():
                event.set()


class VoiceChannel:
    name = CHANNEL

    def __init__(
        self,
        holder: EngineHolder,
        config: VoiceConfig,
        asr: AsrEngine,
        tts: TtsEngine,
        notifier: Notifier | None = None,
    ) -> None:
        self.holder, self.config, self.asr, self.tts = holder, config, asr, tts
        self.notifier: Notifier = notifier or LogNotifier()  # after-call links (SMS …)
        self.calls: dict[str, Call] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._warm: asyncio.Task[None] | None = None
        self.sip: SipTransport | None = None  # the SIP transport (`voice: sip:`), if configured

    def router(self) -> APIRouter:
        router = APIRouter()
        router.add_api_websocket_route(PATH, self.media_stream, name="voice_media_stream")
        return router

    async def send(self, conversation_id: str, messages: list[OutboundMessage]) -> None:
        call = self.calls.get(conversation_id)
        if call is None or call.ended:
            log.warning("voice: call %s is not live: message dropped", conversation_id)
            return
        await call.say_messages(messages)

    async def start(self) -> None:
        """Load the ASR model and synthesise the busy prompt before the first caller."""
        self.loop = asyncio.get_running_loop()  # for transports that run in other threads
        self._warm = asyncio.create_task(self._warm_up(), name="zhike-voice-warm-up")
        if self.sip is not None:
            await self.sip.start()

    async def close(self) -> None:
        if self.sip is not None:
            await self.sip.close()
        if self._warm is not None:
            self._warm.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._warm
        await asyncio.gather(*(c.hangup() for c in list(self.calls.values())))

    async def _warm_up(self) -> None:
        load = getattr(self.asr, "load", None)
        try:
            if load is not None:
                await load()
            await self.tts.synthesize(BUSY_TEXT, self.config.voice)
        except (AsrError, TtsError) as exc:
            log.warning("voice: warm-up failed: %s", exc)

    # ------------------------------------------------------------ one socket
    async def media_stream(self, websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            start = await self._handshake(websocket)
        except Rejected as exc:
            log.warning("voice: stream refused: %s", exc.reason)
            await _close(websocket, exc.code, exc.reason)
            return
        if start is None:
            return
        if len(self.calls) >= self.config.max_calls:
            await self._busy(websocket, start)
            return
        if start.stream_sid in self.calls:
            await _close(websocket, CLOSE_POLICY, "stream already connected")
            return
        call = self._new_call(start)
        stream = Stream(websocket, start, call, start.parameters.get("transcript") == "1")
        self.calls[call.call_id] = call
        fmt = start.media_format
        log.info(
            "voice: call %s from %s (%s %d Hz)", call.call_id, call.caller, fmt.encoding, fmt.rate
        )
        try:
            await self._run(stream)
        finally:
            del self.calls[call.call_id]

    async def _handshake(self, ws: WebSocket) -> Start | None:
        """The stream's `start` (None: the peer left first)."""
        token = self.config.token
        given = ws.query_params.get("token", "")
        if token and not hmac.compare_digest(given.encode(), token.encode()):
            raise Rejected(CLOSE_POLICY, "invalid or missing token")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.start_timeout_s
        while True:
            try:
                data = await asyncio.wait_for(_receive(ws), max(deadline - loop.time(), 0.0))
            except TimeoutError:
                raise Rejected(CLOSE_POLICY, "no start event") from None
            if data is None:
                return None
            try:
                event = parse(data, None)
            except MediaError as exc:
                if _event_name(data) == "start":
                    raise Rejected(CLOSE_UNSUPPORTED, f"bad start: {exc}"[:120]) from None
                log.info("voice: frame before start skipped: %s", exc)
                continue
            if isinstance(event, Start):
                return event
            if isinstance(event, Stop):
                return None

    def _new_call(self, start: Start) -> Call:
        params, rate = start.parameters, start.media_format.rate
        caller = (params.get("caller") or params.get("From") or "").strip()[:64] or "anonymous"
        return self.make_call(start.stream_sid, caller, rate)

    def make_call(self, call_id: str, caller: str, rate: int, greet: str | None = None) -> Call:
        """A call with this channel's engines and settings (`greet`: the first payload, e.g.
        `/remind_payment` for an outbound call; default `/greet`)."""
        settings = self.config.call_settings(rate)
        if greet:
            settings = replace(settings, greet_payload=greet)
        return Call(
            call_id,
            caller,
            self.holder,
            self.asr,
            self.tts,
            settings,
            vad=Deaf(rate) if isinstance(self.asr, NoAsr) else None,
            inband_dtmf=self.config.inband_dtmf,
        )

    async def _run(self, stream: Stream) -> None:
        call = stream.call
        reader = asyncio.create_task(self._read(stream))
        try:
            await call.start()
            await self._pump(stream)
            if call.ended and not stream.gone:  # the bot hung up: let the last words play
                await self._wait_mark(stream, END_MARK, MARK_WAIT_S)
        finally:
            if not stream.gone:
                await _close(stream.ws, CLOSE_NORMAL, "call ended")
            stream.leave()
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            await call.hangup()  # the turn in flight finishes and is saved
            await flush(self.holder.engine, call.call_id, self.notifier)  # after-call links
            log.info("voice: call %s ended", call.call_id)

    async def _pump(self, stream: Stream) -> None:
        """Tick the call once per inbound frame, or on a `FrameClock` while the line is quiet."""
        clock, idle = FrameClock(), False
        while not stream.call.ended and not stream.gone:
            if not idle:
                try:
                    pcm = await asyncio.wait_for(stream.inbound.get(), IDLE_S)
                except TimeoutError:
                    idle = True
                    clock.reset()
                    continue
                if pcm is not None:
                    await self._tick(stream, pcm)
                continue
            due = await clock.tick()
            if not stream.inbound.empty():
                idle = False
                continue
            for _ in range(due):
                await self._tick(stream, None)

    async def _tick(self, stream: Stream, pcm: bytes | None) -> None:
        out = await stream.call.frame(pcm)
        await self._flush(stream)
        await _send(stream, media_frame(stream.start.stream_sid, out, stream.start.media_format))

    async def _flush(self, stream: Stream) -> None:
        """`clear` on barge-in, and the transcript when the client asked for it."""
        events, sid = stream.call.events, stream.start.stream_sid
        while stream.cursor < len(events):
            _, kind, detail = events[stream.cursor]
            stream.cursor += 1
            if kind == "barge-in":
                await _send(stream, clear_frame(sid))
            elif stream.transcript and kind in TRANSCRIPT and detail.strip():
                role, render = TRANSCRIPT[kind]
                line = {
                    "event": "transcript",
                    "streamSid": sid,
                    "role": role,
                    "text": render(detail),
                }
                await _send(stream, json.dumps(line, ensure_ascii=False))

    # ------------------------------------------------------------ inbound
    async def _read(self, stream: Stream) -> None:
        reframer = Reframer(stream.start.media_format.rate)
        handlers: dict[type, Callable[[Any], Awaitable[bool]]] = {
            Media: lambda e: self._on_media(stream, reframer, e),
            Dtmf: lambda e: self._on_dtmf(stream, e),
            Mark: lambda e: self._on_mark(stream, e),
            Stop: _stop,
            Start: lambda e: self._on_bad(stream, MediaError("second start ignored")),
            Connected: _go_on,
        }
        try:
            while (data := await _receive(stream.ws)) is not None:
                try:
                    event: InboundEvent = parse(data, stream.start.media_format)
                except MediaError as exc:
                    await self._on_bad(stream, exc)
                    continue
                if not await handlers[type(event)](event):
                    break
        except SEND_ERRORS:
            pass
        finally:
            stream.leave()

    async def _on_media(self, stream: Stream, reframer: Reframer, event: Media) -> bool:
        for frame in reframer.feed(event.pcm):
            if stream.inbound.qsize() < MAX_QUEUED:
                stream.inbound.put_nowait(frame)
        return True

    async def _on_dtmf(self, stream: Stream, event: Dtmf) -> bool:
        call = stream.call
        if not stream.keys_out_of_band:  # the far end sends keys: stop listening for tones
            stream.keys_out_of_band = True
            heard = [d for t, k, d in call.events[-20:] if k == "dtmf" and call.now - t <= 0.5]
            call.dtmf_detector = None
            if event.digit in heard:  # already heard in-band
                return True
        await call.dtmf(event.digit)
        return True

    async def _on_mark(self, stream: Stream, event: Mark) -> bool:
        waiting = stream.marks.get(event.name)
        if waiting is not None:
            waiting.set()
        return True

    async def _on_bad(self, stream: Stream, exc: MediaError) -> bool:
        stream.bad += 1
        level = logging.WARNING if stream.bad <= MAX_LOGGED else logging.DEBUG
        log.log(level, "voice: call %s: bad frame skipped: %s", stream.call.call_id, exc)
        return True

    async def _wait_mark(self, stream: Stream, name: str, timeout: float) -> None:
        """Send a mark and wait until the far end echoes it (all audio before it played)."""
        event = stream.marks.setdefault(name, asyncio.Event())
        await _send(stream, mark_frame(stream.start.stream_sid, name))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    # ------------------------------------------------------------ busy
    async def _busy(self, ws: WebSocket, start: Start) -> None:
        log.warning("voice: max_calls reached: %s hears the busy prompt", start.stream_sid)
        fmt, sid = start.media_format, start.stream_sid
        try:
            speech = await self.tts.synthesize(BUSY_TEXT, self.config.voice)
        except TtsError as exc:
            log.warning("voice: no busy prompt: %s", exc)
        else:
            pcm = resample(speech.pcm, speech.rate, fmt.rate)
            with contextlib.suppress(*SEND_ERRORS):
                for frame in split_frames(pcm, fmt.rate):
                    await ws.send_text(media_frame(sid, frame, fmt))
                await ws.send_text(mark_frame(sid, BUSY_MARK))
                waited = _until_mark(ws, start, BUSY_MARK)
                await asyncio.wait_for(waited, speech.duration + MARK_WAIT_S)
        await _close(ws, CLOSE_BUSY, "busy")


# ---------------------------------------------------------------- helpers
async def _receive(ws: WebSocket) -> str | bytes | None:
    """The next frame's data, None once the peer closed."""
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        return None
    data: str | bytes | None = message.get("text")
    return data if data is not None else message.get("bytes") or b""


async def _until_mark(ws: WebSocket, start: Start, name: str) -> None:
    while (data := await _receive(ws)) is not None:
        with contextlib.suppress(MediaError):
            event = parse(data, start.media_format)
            if isinstance(event, Stop) or (isinstance(event, Mark) and event.name == name):
                return


async def _send(stream: Stream, text: str) -> None:
    if stream.gone:
        return
    try:
        await stream.ws.send_text(text)
    except SEND_ERRORS:
        stream.leave()


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(*SEND_ERRORS):
        await ws.close(code, reason)


async def _stop(event: Stop) -> bool:
    return False


async def _go_on(event: Connected) -> bool:
    return True


def _event_name(data: str | bytes) -> str:
    try:
        frame = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return ""
    return str(frame.get("event")) if isinstance(frame, dict) else ""


def create_channel(state: ServerState, config: Mapping[str, Any]) -> VoiceChannel:
    settings = VoiceConfig.from_mapping(config)
    project = state.settings.project
    channel = VoiceChannel(
        state.holder,
        settings,
        build_asr(settings, project),
        build_tts(settings, project),
        state.notifier,
    )
    if config.get("sip") is not None:
        channel.sip = sip_transport(channel, config["sip"], project)
    _expose_metrics(state, channel.sip is not None)
    return channel


def _expose_metrics(state: ServerState, sip: bool) -> None:
    from voice.asr.base import METRICS as ASR_METRICS

    registries = [ASR_METRICS.registry]
    if sip:
        from voice.telephony.metrics import METRICS as SIP_METRICS

        registries.append(SIP_METRICS.registry)
    state.metrics.expose(*registries)


def sip_transport(channel: VoiceChannel, raw: Any, project: Path) -> SipTransport:
    """The SIP transport for the `voice: sip:` section (ValueError when it is invalid)."""
    from channels.voice.sip import SipTransport
    from voice.telephony.baresip_backend import make_backend
    from voice.telephony.config import SipConfig

    if not isinstance(raw, Mapping):
        raise ValueError("sip 应为一个配置段 / sip must be a mapping")
    sip = SipConfig.from_mapping(raw)
    return SipTransport(channel, sip, project, make_backend(sip, channel.config.max_calls))
