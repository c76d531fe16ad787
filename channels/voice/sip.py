"""The phone channel's SIP transport: PBXs and carriers call the IVR directly.

`voice: sip:` in credentials.yml (see docs/channels/phone.md) starts a SIP user agent next
to `/voice/ws`; both share the engines, the call list and `max_calls`. Each answered INVITE
becomes a conversation `sip-<Call-ID>` whose caller number (P-Asserted-Identity, else From)
is the customer's identity; `voice.telephony.session.SipSession` runs it. Handoffs on a SIP
call go to the PBX agent queue of their skill group (`voice.telephony.transfer`) when one is
configured, else to the agent console as on every channel.

Only one process may own the SIP port: with `--workers N` the first worker to take the lock
file serves SIP, the others serve HTTP only.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import re
import uuid
from collections import OrderedDict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.notify import flush
from voice.telephony import metrics
from voice.telephony.backend import LINE_RATE, CallQuality, SipBackend, SipCall, caller_number
from voice.telephony.recording import CallRecorder, recording_path, sweep
from voice.telephony.session import SipSession
from voice.telephony.transfer import Outcome, Transferor

if TYPE_CHECKING:
    from channels.voice.channel import VoiceChannel
    from voice.telephony.config import SipConfig

log = logging.getLogger(__name__)
SWEEP_EVERY_S = 3600.0
ANSWER_TIMEOUT_S = 5.0
DRAIN_S = 10.0
KEPT_LOGS = 100
FOLLOW_GRACE_S = 5.0  # a transfer under way when the call ends may record its outcome
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def conversation_id(sip_call_id: str) -> str:
    return "sip-" + (_UNSAFE.sub("_", sip_call_id)[:120] or "call")


class SipTransport:
    def __init__(
        self, channel: VoiceChannel, config: SipConfig, project: Path, backend: SipBackend
    ) -> None:
        self.channel, self.config, self.project, self.backend = channel, config, project, backend
        self.running = False
        self.last_logs: OrderedDict[str, list[tuple[float, str, str]]] = OrderedDict()
        self._lock_fd: int | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._answering = 0  # inbound calls being answered (not yet in channel.calls)

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        if not self._take_lock():
            log.info("sip: another worker serves SIP (lock %s)", self._lock_path())
            return
        await self.backend.start(self.answer)
        self.running = True
        if self.config.recording.enabled:
            self._sweeper = asyncio.create_task(self._sweep_forever(), name="zhike-sip-sweep")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self.running:
            await self.backend.drain(0.0 if not self.backend.active_calls() else DRAIN_S)
            await self.backend.close()
            self.running = False
        self._release_lock()

    def _lock_path(self) -> Path:
        return self.project / ".zhike" / "sip.lock"

    def _take_lock(self) -> bool:
        path = self._lock_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing drops the lock
            self._lock_fd = None

    async def _sweep_forever(self) -> None:
        root = self.config.recording.path(self.project)
        while True:
            removed = await asyncio.to_thread(sweep, root, self.config.recording.retention_days)
            if removed:
                log.info("sip: %d recordings past retention deleted", removed)
            await asyncio.sleep(SWEEP_EVERY_S)

    # ------------------------------------------------------------ one inbound call
    async def answer(self, line: SipCall) -> None:
        if len(self.channel.calls) + self._answering >= self.channel.config.max_calls:
            log.warning("sip: max_calls reached: %s from %s gets 486", line.call_id, line.peer)
            metrics.rejected("busy")
            await line.reject()
            return
        # The slot is taken before the first await: a burst of INVITEs must not all pass the
        # check while the first ones are still being answered (they join `calls` in run()).
        self._answering += 1
        try:
            if not await self._establish(line):
                return
        finally:
            self._answering -= 1  # run() puts the call into `calls` before its first await
        metrics.call_started("inbound")
        await self.run(line, "inbound")

    async def _establish(self, line: SipCall) -> bool:
        try:
            await line.answer()
            await line.wait_established(ANSWER_TIMEOUT_S)
        except Exception as exc:  # the caller gave up while we answered
            log.info("sip: call %s not established: %s", line.call_id, exc)
            metrics.rejected("not_established")
            return False
        return True

    def caller_of(self, line: SipCall) -> str:
        header = self.config.caller_header
        found = next((v for k, v in line.headers.items() if k.lower() == header.lower()), "")
        return caller_number(found) or caller_number(line.peer) or "anonymous"

    async def run(
        self, line: SipCall, direction: str, greet: str | None = None, caller: str | None = None
    ) -> tuple[str, str]:
        """Serve an established call until it ends: (conversation id, outcome). The caller
        counted it with `metrics.call_started`; it is counted as ended here.
        Outbound calls pass the number dialled as `caller` (the customer) and the payload the
        bot starts with as `greet`."""
        cid = conversation_id(line.call_id or uuid.uuid4().hex)
        caller = caller or self.caller_of(line)
        call = self.channel.make_call(cid, caller, LINE_RATE, greet)
        recorder = self._recorder(cid)
        session = SipSession(line, call, recorder)
        service = self._service()
        transferor, follower = self._follow(session, service)
        self.channel.calls[cid] = call
        log.info("sip: %s call %s (%s) from %s", direction, cid, line.call_id, caller)
        try:
            await session.run()
        finally:
            await _stop(follower, transferor)
            await session.end()
            self.channel.calls.pop(cid, None)
            self._keep_log(cid, call.events)
            if service is not None:
                service.phone_calls.discard(cid)
            if recorder is not None:
                recorder.close()
            await flush(self.channel.holder.engine, cid, self.channel.notifier)
        outcome = _outcome(session.transfers, call.handoffs, call.handoff_state())
        quality = await _quality(line)
        metrics.call_ended(direction, outcome, quality)
        log.info("sip: call %s ended: %s (%s)", cid, outcome, _describe(quality))
        return cid, outcome

    def _keep_log(self, cid: str, events: list[tuple[float, str, str]]) -> None:
        """The latest calls' logs (call time, kind, detail), for operators and tests."""
        self.last_logs[cid] = list(events)
        while len(self.last_logs) > KEPT_LOGS:
            self.last_logs.popitem(last=False)

    def _recorder(self, cid: str) -> CallRecorder | None:
        settings = self.config.recording
        if not settings.enabled:
            return None
        path = recording_path(settings.path(self.project), cid, datetime.now())
        return CallRecorder(path, LINE_RATE)

    def _service(self) -> Any:
        hook = self.channel.holder.engine.handoff
        return getattr(hook, "service", None)

    def _follow(
        self, session: SipSession, service: Any
    ) -> tuple[Transferor | None, asyncio.Task[None] | None]:
        transfer = self.config.transfer
        if service is None or not (transfer.default or transfer.groups):
            return None, None
        from bot.handoff.phone import handed_over, transfer_failed

        service.phone_calls.add(session.call.call_id)
        transferor = Transferor(
            transfer,
            self.backend,
            lambda hid, how: handed_over(service, hid, how),
            lambda hid: transfer_failed(service, hid),
        )
        task = asyncio.create_task(transferor.follow(session), name="zhike-sip-transfer")
        return transferor, task


async def _stop(follower: asyncio.Task[None] | None, transferor: Transferor | None) -> None:
    """The call is over: a transfer under way may still record its outcome (the REFER's
    success closes the caller's line just before the handoff is marked handed over)."""
    if follower is None:
        return
    if transferor is not None and transferor.busy:
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(follower), FOLLOW_GRACE_S)
    follower.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await follower


def _outcome(outcomes: list[Outcome], handoffs: list[dict[str, str]], state: str | None) -> str:
    results = {o.result for o in outcomes}
    if results & {"transferred", "bridged"}:
        return "transferred"
    if "transfer_failed" in results:
        return "transfer_failed"
    if handoffs:
        return "abandoned" if state in ("queued", "assigned") else "transferred"
    return "self_service"


def _describe(quality: CallQuality | None) -> str:
    if quality is None:
        return "no media report"
    return (
        f"{quality.duration_s:.0f} s, rx {quality.rx_packets} packets, "
        f"loss {quality.loss_ratio:.1%}, jitter {quality.rx_jitter_ms:.1f} ms, "
        f"MOS {quality.mos:.2f}"
    )


async def _quality(line: SipCall) -> CallQuality | None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(line.wait_closed(), 2.0)
    return line.quality()
