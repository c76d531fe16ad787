"""The Twilio Media Streams wire format: JSON text frames over a WebSocket.

Inbound (from the carrier / gateway / softphone): `connected`, `start` (stream and call ids,
`mediaFormat`, `customParameters`), `media` (base64 audio, 20 ms per frame), `dtmf`, `mark`
(a mark we sent has been played, or dropped by `clear`), `stop`. Outbound: `media` (our audio,
base64), `mark` (tell us when playback reaches this point) and `clear` (drop queued audio:
barge-in).

Audio is µ-law 8 kHz as Twilio sends it; `audio/l16;rate=16000` (PCM16 little-endian) is also
accepted, for browsers and gateways that can send wideband audio. Frames are decoded into PCM16
here, so the call flow never sees the wire format. Malformed frames raise `MediaError` (the
transport logs and skips them; the call goes on).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from voice.audio import ulaw_decode, ulaw_encode

ULAW = "audio/x-mulaw"
L16 = "audio/l16"
MAX_FRAME_BYTES = 64 * 1024  # one JSON frame; 20 ms of µ-law is ~250 bytes of JSON
DIGITS = frozenset("0123456789*#ABCD")


class MediaError(ValueError):
    """A frame that is not valid Media Streams JSON (the reason is in the message)."""


@dataclass(frozen=True, slots=True)
class MediaFormat:
    encoding: str = ULAW
    rate: int = 8000
    channels: int = 1

    def decode(self, payload: bytes) -> bytes:
        """Wire audio → PCM16 at `rate`."""
        if self.encoding == ULAW:
            return ulaw_decode(payload)
        if len(payload) % 2:
            raise MediaError("odd number of bytes in L16 audio")
        return payload

    def encode(self, pcm: bytes) -> bytes:
        return ulaw_encode(pcm) if self.encoding == ULAW else pcm


@dataclass(frozen=True, slots=True)
class Connected:
    protocol: str = "Call"
    version: str = "1.0.0"


@dataclass(frozen=True, slots=True)
class Start:
    stream_sid: str
    call_sid: str = ""
    account_sid: str = ""
    media_format: MediaFormat = field(default_factory=MediaFormat)
    parameters: Mapping[str, str] = field(default_factory=dict)  # customParameters (caller id …)


@dataclass(frozen=True, slots=True)
class Media:
    pcm: bytes  # decoded PCM16
    chunk: int = 0
    timestamp_ms: int = 0


@dataclass(frozen=True, slots=True)
class Dtmf:
    digit: str


@dataclass(frozen=True, slots=True)
class Mark:
    name: str


@dataclass(frozen=True, slots=True)
class Stop:
    call_sid: str = ""


InboundEvent = Connected | Start | Media | Dtmf | Mark | Stop


def _str(body: Mapping[str, Any], key: str, default: str = "") -> str:
    value = body.get(key, default)
    if not isinstance(value, str | int):
        raise MediaError(f"{key} must be a string")
    return str(value)


def _section(frame: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    body = frame.get(key)
    if not isinstance(body, Mapping):
        raise MediaError(f"`{key}` event without its `{key}` object")
    return body


def _media_format(raw: Any) -> MediaFormat:
    if raw is None:
        return MediaFormat()
    if not isinstance(raw, Mapping):
        raise MediaError("mediaFormat must be an object")
    encoding = str(raw.get("encoding", ULAW)).lower()
    base, _, params = encoding.partition(";")
    rate = int(raw.get("sampleRate") or params.partition("rate=")[2] or 8000)
    channels = int(raw.get("channels", 1))
    if base not in (ULAW, L16):
        raise MediaError(f"unsupported encoding {encoding!r} (use {ULAW} or {L16})")
    if rate not in (8000, 16000) or (base == ULAW and rate != 8000) or channels != 1:
        raise MediaError(f"unsupported audio: {encoding} {rate} Hz × {channels}")
    return MediaFormat(base, rate, channels)


def _start(frame: Mapping[str, Any], fmt: MediaFormat | None) -> Start:
    body = _section(frame, "start")
    params = body.get("customParameters") or {}
    if not isinstance(params, Mapping):
        raise MediaError("customParameters must be an object")
    sid = _str(body, "streamSid") or _str(frame, "streamSid")
    if not sid:
        raise MediaError("start without a streamSid")
    return Start(
        stream_sid=sid,
        call_sid=_str(body, "callSid"),
        account_sid=_str(body, "accountSid"),
        media_format=_media_format(body.get("mediaFormat")),
        parameters={str(k): str(v) for k, v in params.items()},
    )


def _media(frame: Mapping[str, Any], fmt: MediaFormat | None) -> Media:
    if fmt is None:
        raise MediaError("media before start")
    body = _section(frame, "media")
    if body.get("track", "inbound") not in ("inbound", "inbound_track"):
        raise MediaError(f"unexpected track {body.get('track')!r}")
    try:
        payload = base64.b64decode(_str(body, "payload"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MediaError("media payload is not base64") from exc
    try:
        chunk, stamp = int(body.get("chunk") or 0), int(body.get("timestamp") or 0)
    except (TypeError, ValueError) as exc:
        raise MediaError("chunk and timestamp must be numbers") from exc
    return Media(fmt.decode(payload), chunk, stamp)


def _dtmf(frame: Mapping[str, Any], fmt: MediaFormat | None) -> Dtmf:
    digit = _str(_section(frame, "dtmf"), "digit").upper()
    if digit not in DIGITS or len(digit) != 1:
        raise MediaError(f"not a DTMF digit: {digit!r}")
    return Dtmf(digit)


def _mark(frame: Mapping[str, Any], fmt: MediaFormat | None) -> Mark:
    return Mark(_str(_section(frame, "mark"), "name"))


def _stop(frame: Mapping[str, Any], fmt: MediaFormat | None) -> Stop:
    body = frame.get("stop")
    return Stop(_str(body, "callSid") if isinstance(body, Mapping) else "")


def _connected(frame: Mapping[str, Any], fmt: MediaFormat | None) -> Connected:
    return Connected(_str(frame, "protocol", "Call"), _str(frame, "version", "1.0.0"))


PARSERS: dict[str, Callable[[Mapping[str, Any], MediaFormat | None], InboundEvent]] = {
    "connected": _connected,
    "start": _start,
    "media": _media,
    "dtmf": _dtmf,
    "mark": _mark,
    "stop": _stop,
}


def parse(text: str | bytes, fmt: MediaFormat | None) -> InboundEvent:
    """One inbound frame; `fmt` is the stream's format from its `start` (None before it)."""
    if len(text) > MAX_FRAME_BYTES:
        raise MediaError(f"frame over {MAX_FRAME_BYTES} bytes")
    try:
        frame = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MediaError("frame is not JSON") from exc
    if not isinstance(frame, Mapping):
        raise MediaError("frame is not a JSON object")
    parser = PARSERS.get(str(frame.get("event")))
    if parser is None:
        raise MediaError(f"unknown event {frame.get('event')!r}")
    return parser(frame, fmt)


# ------------------------------------------------------------------ outbound
def media_frame(stream_sid: str, pcm: bytes, fmt: MediaFormat) -> str:
    payload = base64.b64encode(fmt.encode(pcm)).decode("ascii")
    return json.dumps({"event": "media", "streamSid": stream_sid, "media": {"payload": payload}})


def mark_frame(stream_sid: str, name: str) -> str:
    return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear_frame(stream_sid: str) -> str:
    return json.dumps({"event": "clear", "streamSid": stream_sid})
