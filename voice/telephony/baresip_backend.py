"""`SipBackend` over libre/baresip (the `baresip-python` binding, optional extra `sip`).

One `baresip.Runtime` per process (the binding's rule) with one user agent per transport
(UDP, TCP): an agent answers only requests for its own transport. The stack does the SIP
transactions, SDP offer/answer (PCMU/PCMA + telephone-event), RTP/RTCP, the jitter buffer,
RFC 4733 and SIP INFO DTMF, REFER, digest auth and registration; callbacks arrive on our
event loop. Inbound INVITEs beyond the stack's call limit get `486 Busy Here` from C.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from voice.telephony.backend import (
    CallQuality,
    DialFailed,
    IncomingHandler,
    SipCall,
    SipError,
    TransferRefused,
)

if TYPE_CHECKING:
    from voice.telephony.config import SipConfig

log = logging.getLogger(__name__)
INSTALL_HINT = (
    "SIP 电话需要 baresip-python：pip install 'zhike[sip]' / "
    "SIP telephony needs baresip-python: pip install 'zhike[sip]'"
)
EXPOSED_HEADERS = ("P-Asserted-Identity", "X-Zhike-Intent", "X-Zhike-Handoff")
STACK_MARGIN = 4  # stack-level call slots beyond ours: bridge and outbound legs


def _baresip() -> Any:
    try:
        import baresip
    except ImportError as exc:  # pragma: no cover - the extra is installed in CI
        raise SipError("缺少 SIP 组件", INSTALL_HINT) from exc
    return baresip


class BaresipCall:
    """`SipCall` over one `baresip.Call`."""

    def __init__(self, call: Any) -> None:
        self._call = call
        self._b: Any = _baresip()  # looked up once: read() and write() run every frame
        self.peer: str = call.peer or ""
        self.headers: Mapping[str, str] = dict(call.headers or {})
        self._closed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        call.on(self._event)

    @property
    def call_id(self) -> str:
        """The SIP Call-ID (known from the first stack event of an outbound call)."""
        return str(self._call.call_id or "")

    def _event(self, event: Any) -> None:
        name = getattr(event.event, "name", "")
        if name == "CALL_CLOSED" and not self._closed.done():
            self._closed.set_result(event.text or "closed")
        elif name == "AUDIO_WARNING":
            log.debug("sip %s: audio warning %s", self.call_id, event.text)

    @property
    def closed(self) -> bool:
        return self._closed.done()

    async def answer(self) -> None:
        await self._call.answer()

    async def reject(self) -> None:
        await self._guard(self._call.reject)

    async def hangup(self) -> None:
        if not self.closed:
            await self._guard(self._call.hangup)

    async def _guard(self, action: Callable[[], Any]) -> None:
        with contextlib.suppress(self._b.BaresipError):
            await action()

    def read(self, max_bytes: int) -> bytes:
        b = self._b
        try:
            return bytes(self._call.audio.read(max_bytes))
        except (b.AudioNotActive, b.AudioRestarted):
            return b""

    def write(self, pcm: bytes) -> int:
        b = self._b
        try:
            return int(self._call.audio.write(pcm))
        except (b.AudioNotActive, b.AudioRestarted):
            return 0

    def flush(self) -> None:
        b = self._b
        with contextlib.suppress(b.AudioNotActive, b.AudioRestarted):
            self._call.audio.flush_tx()

    def queued(self) -> int:
        b = self._b
        try:
            return int(self._call.audio.info().tx_buffered)
        except (b.AudioNotActive, b.AudioRestarted):
            return 0

    def on_dtmf(self, callback: Callable[[str], None]) -> None:
        self._call.on_dtmf(lambda event: callback(str(event.digit)))

    async def wait_established(self, timeout: float) -> None:
        b = self._b
        try:
            await self._call.wait_established(timeout)
        except b.CallBusy as exc:
            raise DialFailed("busy", str(exc)) from exc
        except b.CallDeclined as exc:
            raise DialFailed("declined", str(exc)) from exc
        except b.CallTimeout as exc:
            raise DialFailed("no_answer", str(exc)) from exc
        except b.CallFailed as exc:
            raise DialFailed(_failure(exc), str(exc)) from exc

    async def wait_closed(self) -> str:
        return await asyncio.shield(self._closed)

    async def transfer(self, uri: str, timeout: float) -> None:
        b = self._b
        try:
            await self._call.transfer(uri, timeout=timeout)
        except (b.TransferFailed, b.BaresipError, ValueError) as exc:
            raise TransferRefused("转接失败", f"transfer to {uri} failed: {exc}") from exc

    def quality(self) -> CallQuality | None:
        stats = self._call.final_stats
        return None if stats is None else quality_of(stats)


def _replay(raw: Any, early: list[Any]) -> None:
    """The binding's call object starts listening only once `dial` returns; an agent that
    answers at once (a loaded event loop, a PBX on the same host) can be established
    before that, and the call would then wait for an answer that already came. Hand it the
    events it missed (the binding's own listener; version pinned in constraints.txt)."""
    for event in early:
        if event.call == raw.handle:
            raw._on_stack_event(event)


def _failure(exc: Exception) -> str:
    status = getattr(exc, "status", None)
    if status in (480, 408):
        return "no_answer"
    return "busy" if status in (486, 600) else "failed"


def quality_of(stats: Any) -> CallQuality:
    return CallQuality(
        duration_s=float(stats.duration_s),
        setup_s=float(stats.setup_s),
        rx_packets=int(stats.rx_packets),
        tx_packets=int(stats.tx_packets),
        rx_lost=int(stats.rx_lost),
        tx_lost=int(stats.tx_lost),
        rx_jitter_ms=float(stats.rx_jitter_ms),
        tx_jitter_ms=float(stats.tx_jitter_ms),
        rtt_ms=float(stats.rtt_ms),
        jbuf_late=int(stats.jbuf_late or 0),
        jbuf_lost=int(stats.jbuf_lost or 0),
        mos=round(float(stats.mos_estimate), 2),
    )


class BaresipBackend:
    """The stack for one process: start once, `close()` at shutdown."""

    def __init__(self, config: SipConfig, max_calls: int) -> None:
        self.config, self.max_calls = config, max_calls
        self._runtime: Any = None
        self._agents: dict[str, Any] = {}
        self._live: set[BaresipCall] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, on_call: IncomingHandler) -> None:
        b = _baresip()
        self._runtime = b.Runtime()
        c = self.config
        await self._runtime.start(
            b.Config(
                net_interface=c.interface(),
                max_concurrent_calls=self.max_calls + STACK_MARGIN,
                expose_headers=(c.caller_header, *EXPOSED_HEADERS)
                if c.caller_header not in EXPOSED_HEADERS
                else EXPOSED_HEADERS,
                rtp_timeout=c.rtp_timeout_s,
                extra_config_text=c.baresip_extra(),
            )
        )
        for transport in c.transports:
            ua = await b.UserAgent.create(
                self._runtime, self._account(transport), transfer_policy="reject"
            )
            ua.on_incoming(lambda call, h=on_call: self._incoming(call, h))
            self._agents[transport] = ua
            if c.registrar and c.reg_interval:
                self._spawn(self._register(ua, transport))
        log.info("sip: listening on %s:%d (%s)", c.host, c.port, "/".join(c.transports))

    def _account(self, transport: str) -> Any:
        c = self.config
        return _baresip().Account(
            user=c.user,
            domain=c.account_domain(),
            password=c.password,
            registrar=c.registrar.removeprefix("sip:") if c.registrar else None,
            reg_interval=c.reg_interval if c.registrar else 0,
            transport=transport,
            audio_codecs=tuple(c.codecs),
            dtmf_mode=c.dtmf,
            auth_user=c.username or None,
            extra_params=c.account_params(),
        )

    async def _register(self, ua: Any, transport: str) -> None:
        try:
            await ua.register()
            log.info("sip: registered (%s) with %s", transport, self.config.registrar)
        except Exception as exc:  # the stack retries on its own; report it once
            log.error("sip: registration (%s) failed: %s", transport, exc)

    def _incoming(self, call: Any, handler: IncomingHandler) -> None:
        wrapped = BaresipCall(call)
        self._live.add(wrapped)
        self._spawn(self._serve(wrapped, handler))

    async def _serve(self, call: BaresipCall, handler: IncomingHandler) -> None:
        try:
            await handler(call)
        except Exception:
            log.exception("sip: call %s failed", call.call_id)
            await call.hangup()
        finally:
            self._live.discard(call)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def active_calls(self) -> int:
        return sum(1 for c in self._live if not c.closed)

    async def dial(self, uri: str, headers: Mapping[str, str], timeout: float) -> SipCall:
        transport = "tcp" if "transport=tcp" in uri.lower() else "udp"
        ua = self._agents.get(transport) or next(iter(self._agents.values()))
        b = _baresip()
        early: list[Any] = []  # stack events dispatched before the call object existed
        record, runtime = early.append, self._runtime
        if runtime is None:
            raise DialFailed("failed", "the SIP stack is not started")
        runtime.subscribe(record)
        try:
            raw = await ua.dial(uri, headers=dict(headers))
        except (b.BaresipError, ValueError) as exc:
            raise DialFailed("failed", str(exc)) from exc
        finally:
            runtime.unsubscribe(record)
        _replay(raw, early)
        call = BaresipCall(raw)
        self._live.add(call)
        try:
            await call.wait_established(timeout)
        except DialFailed:
            self._live.discard(call)
            raise
        except asyncio.CancelledError:  # the caller left while we dialled: no agent left ringing
            self._live.discard(call)
            with contextlib.suppress(Exception):
                await call.hangup()
            raise
        self._spawn(self._forget_when_closed(call))
        return call

    async def _forget_when_closed(self, call: BaresipCall) -> None:
        await call.wait_closed()
        self._live.discard(call)

    async def drain(self, timeout: float) -> None:
        if self._runtime is None:
            return
        with contextlib.suppress(TimeoutError, _baresip().BaresipError):
            await asyncio.wait_for(self._runtime.drain(), timeout)

    async def close(self) -> None:
        for call in list(self._live):
            await call.hangup()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runtime is not None:
            runtime, self._runtime = self._runtime, None
            await runtime.close()
        self._agents.clear()


def make_backend(config: SipConfig, max_calls: int) -> BaresipBackend:
    return BaresipBackend(config, max_calls)
