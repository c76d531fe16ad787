"""One SIP call through the IVR: the line's audio and keys into a `Call`, its voice back.

A drift-free 20 ms clock drives the call: every tick takes one frame the stack received
(None while the far end sends nothing, e.g. on hold), runs `Call.frame()` and writes the
frame it returns. The stack's transmit buffer is kept a few frames ahead so scheduling
jitter never becomes a gap; silence is not written while the buffer is already ahead, which
resynchronises after a stall. Keys (RFC 4733 / SIP INFO) reach the call between frames;
a barge-in flushes what is still queued for the line.

During a telephony transfer (`voice.telephony.transfer`) the caller stays in this loop: the
hold prompt plays, and when a bridge to an agent is up the two lines are relayed frame by
frame (the recording keeps both sides).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from channels.voice.call import Call
from voice.audio import FrameClock, frame_bytes
from voice.telephony.backend import LINE_RATE, SipCall

log = logging.getLogger(__name__)
LEAD_FRAMES = 3  # frames queued ahead of the stack's transmit clock
MAX_BACKLOG = 10  # received frames waiting beyond this are dropped (we fell behind)
HANGUP_DRAIN_S = 3.0  # time for the last words to leave before our BYE
FRAME = frame_bytes(LINE_RATE)
SILENCE = bytes(FRAME)


class Recorder(Protocol):
    """What the session hands each frame to (voice.telephony.recording.CallRecorder)."""

    def caller(self, pcm: bytes) -> None: ...

    def bot(self, pcm: bytes) -> None: ...


@dataclass(slots=True)
class SessionStats:
    frames: int = 0
    late_ticks: int = 0  # frames the clock forgave (the loop fell behind)
    dropped_rx: int = 0  # received frames dropped because we fell behind
    underruns: int = 0  # ticks where the transmit buffer was already empty


class SipSession:
    def __init__(self, line: SipCall, call: Call, recorder: Recorder | None = None) -> None:
        self.line, self.call, self.recorder = line, call, recorder
        self.bridge: SipCall | None = None  # an agent's line relayed to the caller
        self.stats = SessionStats()
        self.handed_over = False  # the caller left us for an agent (REFER accepted)
        self._rx = bytearray()
        self._keys: deque[str] = deque()
        self._cursor = 0  # call.events already looked at
        self._handoffs = 0  # call.handoffs already looked at
        self.new_handoffs: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        self.transfers: list[Any] = []  # voice.telephony.transfer.Outcome, in order
        self.tasks: set[asyncio.Task[None]] = set()  # helpers living as long as the call
        line.on_dtmf(self._keys.append)

    async def run(self) -> None:
        """Until the caller hangs up, the bot hangs up, or the call was transferred away."""
        self.line.write(SILENCE * LEAD_FRAMES)
        clock = FrameClock()
        started = time.monotonic()
        await self.call.start()
        while not self.line.closed and not self.call.ended and not self.handed_over:
            due = await clock.tick()
            for _ in range(due):
                await self._tick()
        self.stats.late_ticks = clock.dropped
        if self.call.ended and not self.line.closed and not self.handed_over:
            await self._drain_and_hang_up()
        log.info(
            "sip: call %s done after %.1f s (%d frames, %d late, %d rx dropped, %d underruns)",
            self.call.call_id,
            time.monotonic() - started,
            self.stats.frames,
            self.stats.late_ticks,
            self.stats.dropped_rx,
            self.stats.underruns,
        )

    async def _tick(self) -> None:
        self.stats.frames += 1
        heard = self._take()
        while self._keys:
            await self.call.dtmf(self._keys.popleft())
        if self.bridge is not None:
            self._relay(heard, self.bridge)
            return
        out = await self.call.frame(heard)
        self._watch()
        self._send(out)
        if self.recorder is not None:
            self.recorder.caller(heard or SILENCE)
            self.recorder.bot(out)

    def _take(self) -> bytes | None:
        self._rx += self.line.read(FRAME * (MAX_BACKLOG + 2))
        excess = len(self._rx) - FRAME * MAX_BACKLOG
        if excess > 0:
            cut = excess // FRAME * FRAME + (FRAME if excess % FRAME else 0)
            del self._rx[:cut]
            self.stats.dropped_rx += cut // FRAME
        if len(self._rx) < FRAME:
            return None
        frame = bytes(self._rx[:FRAME])
        del self._rx[:FRAME]
        return frame

    def _send(self, out: bytes) -> None:
        queued = self.line.queued()
        if queued == 0:
            self.stats.underruns += 1
        if out == SILENCE and queued >= FRAME * LEAD_FRAMES:
            return  # already ahead: skipping silence brings the lead back
        self.line.write(out)

    def _relay(self, heard: bytes | None, agent: SipCall) -> None:
        if heard is not None:
            agent.write(heard)
        spoken = agent.read(FRAME * 4)[-FRAME * 2 :] or SILENCE  # keep the relay's delay small
        for i in range(0, len(spoken), FRAME):
            self._send(spoken[i : i + FRAME].ljust(FRAME, b"\x00"))
        if self.recorder is not None:
            self.recorder.caller(heard or SILENCE)
            self.recorder.bot(spoken[:FRAME].ljust(FRAME, b"\x00"))

    def _watch(self) -> None:
        """Barge-ins flush the line; new handoffs go to whoever transfers the call."""
        events = self.call.events
        while self._cursor < len(events):
            _, kind, _ = events[self._cursor]
            self._cursor += 1
            if kind == "barge-in":
                self.line.flush()
        while self._handoffs < len(self.call.handoffs):
            self.new_handoffs.put_nowait(self.call.handoffs[self._handoffs])
            self._handoffs += 1

    async def played(self, timeout: float) -> None:
        """Wait until the call has nothing more to say and the line has sent it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline and not self.line.closed:
            quiet = not self.call.busy and not self.call.player.playing
            if quiet and self.line.queued() <= FRAME * LEAD_FRAMES:
                return
            await asyncio.sleep(0.02)

    async def _drain_and_hang_up(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HANGUP_DRAIN_S
        while loop.time() < deadline and self.line.queued() > 0 and not self.line.closed:
            await asyncio.sleep(0.02)
        await self.line.hangup()

    async def end(self) -> None:
        """After the loop: the caller's side is over (the turn in flight is still saved)."""
        if self.bridge is not None:
            with contextlib.suppress(Exception):
                await self.bridge.hangup()
        for task in self.tasks:
            task.cancel()
        await self.call.hangup()
