"""The Twilio Media Streams wire format: every inbound event, outbound frames, bad frames."""

from __future__ import annotations

import base64
import json

import pytest

from channels.voice.media import (
    L16,
    ULAW,
    Connected,
    Dtmf,
    Mark,
    Media,
    MediaError,
    MediaFormat,
    Start,
    Stop,
    clear_frame,
    mark_frame,
    media_frame,
    parse,
)
from voice.audio import tone, ulaw_encode

SID = "MZ18ad3ab5a668481ce02b83e7395059f0"
START = {
    "event": "start",
    "sequenceNumber": "1",
    "streamSid": SID,
    "start": {
        "accountSid": "AC123",
        "streamSid": SID,
        "callSid": "CA123",
        "tracks": ["inbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        "customParameters": {"caller": "13812345678"},
    },
}


def media(audio: bytes, **extra: object) -> str:
    body = {"track": "inbound", "chunk": "2", "timestamp": "40", "payload": "", **extra}
    body["payload"] = body["payload"] or base64.b64encode(audio).decode()
    return json.dumps({"event": "media", "streamSid": SID, "media": body})


def test_a_call_as_twilio_sends_it() -> None:
    assert parse('{"event": "connected", "protocol": "Call", "version": "1.0.0"}', None) == (
        Connected()
    )
    start = parse(json.dumps(START), None)
    assert isinstance(start, Start) and start.stream_sid == SID and start.call_sid == "CA123"
    assert start.parameters == {"caller": "13812345678"}
    pcm = tone([440.0], 20, 8000)
    frame = parse(media(ulaw_encode(pcm)), start.media_format)
    assert isinstance(frame, Media) and len(frame.pcm) == 320 and frame.chunk == 2
    assert frame.timestamp_ms == 40
    dtmf = {"event": "dtmf", "streamSid": SID, "dtmf": {"track": "inbound_track", "digit": "5"}}
    assert parse(json.dumps(dtmf), start.media_format) == Dtmf("5")
    mark = {"event": "mark", "streamSid": SID, "mark": {"name": "prompt-3"}}
    assert parse(json.dumps(mark), start.media_format) == Mark("prompt-3")
    stop = {"event": "stop", "streamSid": SID, "stop": {"accountSid": "AC123", "callSid": "CA123"}}
    assert parse(json.dumps(stop), start.media_format) == Stop("CA123")


def test_wideband_pcm_from_browsers() -> None:
    wide = json.loads(json.dumps(START))
    wide["start"]["mediaFormat"] = {"encoding": "audio/l16;rate=16000", "channels": 1}
    start = parse(json.dumps(wide), None)
    assert isinstance(start, Start) and start.media_format == MediaFormat(L16, 16000)
    pcm = tone([440.0], 20, 16000)
    frame = parse(media(pcm), start.media_format)
    assert isinstance(frame, Media) and frame.pcm == pcm


def test_outbound_frames_round_trip() -> None:
    fmt = MediaFormat(ULAW, 8000)
    pcm = tone([1000.0], 20, 8000)
    sent = json.loads(media_frame(SID, pcm, fmt))
    assert sent["event"] == "media" and sent["streamSid"] == SID
    assert base64.b64decode(sent["media"]["payload"]) == ulaw_encode(pcm)
    assert json.loads(mark_frame(SID, "p1")) == {
        "event": "mark",
        "streamSid": SID,
        "mark": {"name": "p1"},
    }
    assert json.loads(clear_frame(SID)) == {"event": "clear", "streamSid": SID}


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[1, 2]",
        '{"event": "dance"}',
        '{"event": "start"}',
        '{"event": "start", "start": {"mediaFormat": {"encoding": "audio/opus"}, "streamSid": "x"}}',
        '{"event": "start", "start": {"mediaFormat": {"encoding": "audio/x-mulaw", '
        '"sampleRate": 16000}, "streamSid": "x"}}',
        '{"event": "dtmf", "dtmf": {"digit": "12"}}',
        '{"event": "dtmf", "dtmf": {"digit": "X"}}',
        '{"event": "mark"}',
        "x" * 70_000,
    ],
)
def test_malformed_frames_raise_media_error(frame: str) -> None:
    with pytest.raises(MediaError):
        parse(frame, MediaFormat())


def test_media_problems() -> None:
    with pytest.raises(MediaError):
        parse(media(b"\x00" * 160), None)  # before start
    with pytest.raises(MediaError):
        parse(media(b"", payload="@@not-base64@@"), MediaFormat())
    with pytest.raises(MediaError):
        parse(media(b"\x00" * 3), MediaFormat(L16, 16000))  # odd PCM16
    with pytest.raises(MediaError):
        parse(media(b"\x00" * 160, track="outbound"), MediaFormat())
