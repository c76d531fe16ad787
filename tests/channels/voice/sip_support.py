"""What the SIP end-to-end tests share: the reference bot served with `voice: sip:` on
127.0.0.1 (uvicorn in a thread, the real SIP stack in-process) and small helpers to drive
calls and read trackers, call logs and recordings.

One baresip Runtime per process: never keep two `serve()` blocks open at once (module- or
class-scoped fixtures, one after the other).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import wave
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.server.app import create_app
from bot.server.live import LiveServer
from bot.server.settings import load_settings
from tests.voice.telephony.harness.phone import Phone, free_sip_port
from voice.audio import read_wav, rms_dbfs, split_frames, write_wav

AUDIO = Path(__file__).parents[2] / "fixtures" / "audio"
ZHANG_WEI = "13812345678"  # in the demo data
AUDIBLE_DBFS = -40.0


@dataclasses.dataclass
class Ivr:
    url: str
    sip_uri: str
    state: Any

    @property
    def port(self) -> int:
        return int(self.sip_uri.rsplit(":", 1)[1])

    @property
    def channel(self) -> Any:
        return self.state.channels["voice"]

    def tracker(self, conversation: str) -> dict[str, Any]:
        return httpx.get(f"{self.url}/conversations/{conversation}/tracker", timeout=10).json()


@contextlib.contextmanager
def serve(root: Path, tmp: Path, voice: Mapping[str, Any]) -> Iterator[Ivr]:
    """The reference bot (a trained copy at `root`) with the phone channel `voice`; its
    `sip:` section gets `listen: 127.0.0.1:<free port>`. State lives in `tmp`."""
    port = free_sip_port()
    sip = {"listen": f"127.0.0.1:{port}", **dict(voice.get("sip") or {})}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ZHIKE_DEMO_DB", str(tmp / "demo.db"))
        if voice.get("asr") == "whisper":
            from voice.asr.models import whisper_test_model

            patch.setenv("ZHIKE_WHISPER_MODEL", str(whisper_test_model()))
        settings = load_settings(
            root,
            env={},
            overrides={
                "tracker_store": f"sqlite:///{tmp / 'tracker.db'}",
                "model_poll_seconds": 0,
                "log_format": "text",
                "channels": ("rest", "voice"),
                "channel_config": {"voice": {**voice, "sip": sip}},
                "handoff": {"db": str(tmp / "handoff.db"), "hours": "00:00-24:00"},
            },
        )
        app = create_app(settings)
        with LiveServer(app) as live:
            yield Ivr(live.url, f"sip:ivr@127.0.0.1:{port}", app.state.zhike)


def conversation(sip_call_id: str) -> str:
    from channels.voice.sip import conversation_id

    return conversation_id(sip_call_id)


def mic(tmp: Path, *parts: bytes | str) -> Path:
    """A caller's microphone: recordings (file names) and silences (bytes) in order."""
    pcm = b"".join(p if isinstance(p, bytes) else read_wav(AUDIO / p)[0] for p in parts)
    path = tmp / f"mic-{time.monotonic_ns()}.wav"
    write_wav(path, pcm, 8000)
    return path


def user_texts(tracker: dict[str, Any]) -> list[str]:
    return [e.get("text") or "" for e in tracker["events"] if e["event"] == "user"]


def bot_texts(tracker: dict[str, Any]) -> list[str]:
    return [e.get("text") or "" for e in tracker["events"] if e["event"] == "bot"]


async def until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def said(ivr: Ivr, cid: str, words: str, timeout: float) -> None:
    await until(lambda: any(words in t for t in bot_texts(ivr.tracker(cid))), timeout, words)


async def spoken(ivr: Ivr, cid: str, words: str, timeout: float) -> None:
    """The live call has played a prompt containing `words` (spoken menus are composed at
    speak time: "按1…")."""

    def heard() -> bool:
        call = ivr.channel.calls.get(cid)
        return call is not None and any(words in text for text in call.player.played)

    await until(heard, timeout, words)


def audible_seconds_of(pcm: bytes, rate: int) -> float:
    return sum(0.02 for f in split_frames(pcm, rate) if rms_dbfs(f) > AUDIBLE_DBFS)


def audible_seconds(path: Path) -> float:
    pcm, rate = read_wav(path)
    return audible_seconds_of(pcm, rate)


async def call(ivr: Ivr, phone: Phone) -> str:
    await phone.dial(ivr.sip_uri)
    established = await phone.wait_event("CALL_ESTABLISHED", 10)
    return conversation(established.call_id)


async def hang_up(phone: Phone, ivr: Ivr | None = None, cid: str = "") -> None:
    """The caller hangs up (and, given the server, our side has finished the call)."""
    await phone.hangup()
    await phone.wait_event("CALL_CLOSED", 10)
    if ivr is not None:
        await ended(ivr, cid)


async def ended(ivr: Ivr, cid: str, timeout: float = 15.0) -> None:
    """Our side has finished the call `cid` (its log is kept)."""
    await until(lambda: cid in ivr.channel.sip.last_logs, timeout, f"the call {cid} to end")


def logged(ivr: Ivr, cid: str) -> list[tuple[float, str, str]]:
    """The call log (call time, kind, detail) of a live or finished call."""
    live = ivr.channel.calls.get(cid)
    return list(live.events if live is not None else ivr.channel.sip.last_logs.get(cid, []))


async def turned(ivr: Ivr, cid: str, text: str, timeout: float = 15.0) -> None:
    """The call has started a turn with `text` (read in-process: no HTTP polling)."""
    await until(lambda: ("turn", text) in [(k, d) for _, k, d in logged(ivr, cid)], timeout, text)


async def speaking(ivr: Ivr, cid: str, prompts: int, timeout: float = 20.0) -> None:
    """The call has started to speak its `prompts`-th prompt (in-process)."""
    await until(lambda: [k for _, k, _ in logged(ivr, cid)].count("say") >= prompts, timeout, "say")


# ---------------------------------------------------------------- media checks
class SessionStats(logging.Handler):
    """`SipSession.run`'s last line per call: frames, late ticks, rx dropped, underruns."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.calls: dict[str, tuple[int, int, int, int]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        if record.msg.startswith("sip: call %s done") and isinstance(args, tuple):
            frames, late, dropped, underruns = (int(str(a)) for a in args[2:6])
            self.calls[str(args[0])] = (frames, late, dropped, underruns)


@contextlib.contextmanager
def session_stats() -> Iterator[SessionStats]:
    logger = logging.getLogger("voice.telephony.session")
    handler, level = SessionStats(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def stereo(path: Path) -> tuple[bytes, bytes, int]:
    """(left, right, rate) of a 16-bit stereo WAV."""
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (2, 2)
        rate, data = wav.getframerate(), wav.readframes(wav.getnframes())
    frames = [data[i : i + 4] for i in range(0, len(data), 4)]
    return b"".join(f[:2] for f in frames), b"".join(f[2:] for f in frames), rate


def first_audible(pcm: bytes, rate: int) -> float:
    for index, frame in enumerate(split_frames(pcm, rate)):
        if audible_seconds_of(frame, rate):
            return index * 0.02
    return -1.0
