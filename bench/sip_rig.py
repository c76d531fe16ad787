"""The server side of bench.sip_bench: the IVR with `voice: sip:` in this process, on one core.

`serving()` starts the reference bot's server (`LiveServer`, SIP on 127.0.0.1 UDP) with the
thread that starts it pinned to the server CPU, so the server's threads (uvicorn's loop, the
baresip stack, the engines' executors) inherit that CPU; the calling thread then moves back
to the driver CPUs, where the phones it starts inherit them. `observe()` keeps every
`SipSession` (its live `stats`) and our stack's end-of-call `CallQuality`, without changing
what the server does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from bench.common import ROOT
from bench.voice_bench import Scripted
from bot.server.app import create_app
from bot.server.live import LiveServer
from bot.server.settings import load_settings
from channels.voice.call import Call
from tests.voice.telephony.harness.phone import Phone, free_sip_port
from voice.asr.base import AsrEngine
from voice.telephony import metrics, session
from voice.telephony.backend import CallQuality
from voice.telephony.session import SipSession

T = TypeVar("T")
SESSIONS: dict[str, SipSession] = {}  # by conversation id
QUALITIES: list[CallQuality] = []  # our stack's RTCP / jitter-buffer report, in call-end order


@dataclass(frozen=True, slots=True)
class Cpus:
    server: set[int]
    driver: set[int]  # the phones and this driver

    @classmethod
    def split(cls) -> Cpus:
        cpus = sorted(os.sched_getaffinity(0))
        return cls({cpus[0]}, set(cpus[1:]) or {cpus[0]})


@dataclass(slots=True)
class Ivr:
    channel: Any  # channels.voice.channel.VoiceChannel
    uri: str  # where phones dial
    scripted: Scripted | None = None

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """`coro` on the server's event loop (engines bind their executors there)."""
        future = asyncio.run_coroutine_threadsafe(coro, self.channel.loop)
        return await asyncio.wrap_future(future)

    def listen(self, engine: AsrEngine) -> None:
        """New calls recognise with `engine`, handing on the transcript set here."""
        self.scripted = Scripted(engine)
        self.channel.asr = self.scripted

    async def call(self, cid: str, timeout: float = 3.0) -> Call | None:
        """The live `Call` of a conversation, once the transport has created it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found: Call | None = self.channel.calls.get(cid)
            if found is not None:
                return found
            await asyncio.sleep(0.01)
        return None


@contextlib.contextmanager
def serving(tmp: Path, name: str, cpus: Cpus, voice: dict[str, Any]) -> Iterator[Ivr]:
    """The server with `voice` (plus SIP on a free port) until the block ends."""
    port = free_sip_port()
    sip = {"listen": f"127.0.0.1:{port}", "transports": ["udp"], **voice.get("sip", {})}
    voice = {"tts": "espeak", "prompt_cache": str(tmp / "prompts"), "max_calls": 40, **voice}
    overrides = {
        "tracker_store": f"sqlite:///{tmp / name}.db",
        "model_poll_seconds": 0,
        "log_format": "text",
        "log_level": "WARNING",
        "channels": ("rest", "voice"),
        "channel_config": {"voice": {**voice, "sip": sip}},
        "handoff": {"db": str(tmp / f"{name}-handoff.db"), "hours": "00:00-24:00"},
    }
    app = create_app(load_settings(ROOT, env={}, overrides=overrides))
    os.sched_setaffinity(0, cpus.server)  # the server's threads inherit this thread's CPU
    try:
        with LiveServer(app):
            os.sched_setaffinity(0, cpus.driver)
            channel = app.state.zhike.channels["voice"]
            if channel.sip is None or not channel.sip.running:
                raise RuntimeError("the SIP transport did not start")
            yield Ivr(channel, f"sip:ivr@127.0.0.1:{port}")
    finally:
        os.sched_setaffinity(0, cpus.driver)


def observe() -> None:
    """Once per process: register each `SipSession` and keep each call's `CallQuality`."""
    if getattr(SipSession, "_bench_observed", False):
        return
    created = SipSession.__init__
    ended = metrics.METRICS.ended

    def init(self: SipSession, *args: Any, **kwargs: Any) -> None:
        created(self, *args, **kwargs)
        SESSIONS[self.call.call_id] = self

    def quality(direction: str, outcome: str, report: CallQuality | None) -> None:
        if report is not None:
            QUALITIES.append(report)
        ended(direction, outcome, report)

    setattr(session.SipSession, "__init__", init)  # noqa: B010
    setattr(session.SipSession, "_bench_observed", True)  # noqa: B010
    setattr(metrics.METRICS, "ended", quality)  # noqa: B010 (an instance attribute wins)


def phone_rtcp(phone: Phone) -> dict[str, float]:
    """The phone's last RTCP view of what we sent it: packets, lost, jitter (ms)."""
    reports = phone.events("CALL_RTCP")
    stats = reports[-1].raw.get("rtcp_stats") if reports else None
    rx = stats.get("rx") if isinstance(stats, dict) else None
    got = {k: float(v) for k, v in rx.items() if isinstance(v, int | float)} if rx else {}
    return {
        "received": got.get("sent", 0.0),
        "lost": got.get("lost", 0.0),
        "jitter_ms": got.get("jit", 0.0) / 1000,  # µs in baresip's event
    }
