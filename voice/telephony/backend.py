"""The boundary between Zhike and a SIP stack: what a call and a stack must offer.

Everything above this module (the call session, transfers, outbound calls, the server) talks
to these protocols only, so a stack can be replaced without touching the IVR. The one
implementation is `voice.telephony.baresip_backend` (libre/baresip through baresip-python).

Audio crosses the boundary as 16-bit mono PCM at the line's rate (8 kHz for G.711): `read()`
takes what the far end sent since the last call (the stack's jitter buffer already ordered
and paced it), `write()` queues what we send, `flush()` drops what is queued (barge-in).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from bot.errors import ZhikeError

LINE_RATE = 8000  # G.711


class SipError(ZhikeError):
    """A SIP operation failed (the message says what, in Chinese and English)."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")
        self.zh, self.en = zh, en


class TransferRefused(SipError):
    """The far end refused the REFER, or the transfer target never answered."""


class DialFailed(SipError):
    """An outbound call was not answered; `outcome` is busy | no_answer | declined | failed."""

    def __init__(self, outcome: str, detail: str) -> None:
        texts = {
            "busy": "对方忙",
            "no_answer": "无人接听",
            "declined": "对方拒接",
            "failed": "呼叫失败",
        }
        super().__init__(f"{texts.get(outcome, '呼叫失败')}（{detail}）", f"{outcome}: {detail}")
        self.outcome = outcome


@dataclass(frozen=True, slots=True)
class CallQuality:
    """A call's media health at its end (RTCP and jitter-buffer counters)."""

    duration_s: float = 0.0
    setup_s: float = 0.0
    rx_packets: int = 0
    tx_packets: int = 0
    rx_lost: int = 0
    tx_lost: int = 0
    rx_jitter_ms: float = 0.0
    tx_jitter_ms: float = 0.0
    rtt_ms: float = 0.0
    jbuf_late: int = 0
    jbuf_lost: int = 0
    mos: float = 0.0  # 1.0–4.5, an E-model-like estimate from loss, jitter and delay

    @property
    def loss_ratio(self) -> float:
        total = self.rx_packets + self.rx_lost
        return self.rx_lost / total if total else 0.0


class SipCall(Protocol):
    """One call, inbound or outbound."""

    peer: str  # the far end's URI
    headers: Mapping[str, str]  # allow-listed headers of the INVITE (P-Asserted-Identity …)

    @property
    def call_id(self) -> str:  # the SIP Call-ID
        ...

    @property
    def closed(self) -> bool: ...

    async def answer(self) -> None: ...

    async def reject(self) -> None:  # 486 Busy Here
        ...

    async def hangup(self) -> None: ...

    def read(self, max_bytes: int) -> bytes: ...

    def write(self, pcm: bytes) -> int: ...

    def flush(self) -> None: ...

    def queued(self) -> int:  # bytes written and not yet sent
        ...

    def on_dtmf(self, callback: Callable[[str], None]) -> None: ...

    async def wait_established(self, timeout: float) -> None: ...

    async def wait_closed(self) -> str:  # the close reason
        ...

    async def transfer(self, uri: str, timeout: float) -> None:  # raises TransferRefused
        ...

    def quality(self) -> CallQuality | None:  # None until the call has closed
        ...


IncomingHandler = Callable[[SipCall], Awaitable[None]]


class SipBackend(Protocol):
    """A running SIP stack: inbound calls go to the handler given to `start`."""

    async def start(self, on_call: IncomingHandler) -> None: ...

    async def dial(self, uri: str, headers: Mapping[str, str], timeout: float) -> SipCall:
        """An answered outbound call; `DialFailed` otherwise."""
        ...

    def active_calls(self) -> int: ...

    async def drain(self, timeout: float) -> None: ...

    async def close(self) -> None: ...


_USER = re.compile(r"^(?:\"[^\"]*\"\s*)?<?(?:sips?|tel):([^@;>]+)", re.IGNORECASE)
_DIGITS = re.compile(r"^\+?[0-9*#]{3,20}$")


def caller_number(uri: str) -> str:
    """The caller's number from a From / P-Asserted-Identity value: `sip:+8613800000000@…`
    → `13800000000`; a non-numeric user part is returned as it is; "" for anonymous."""
    match = _USER.match(uri.strip())
    if not match:
        return ""
    user = match.group(1).split(";")[0].strip()
    if user.lower() in ("anonymous", "unknown", "restricted"):
        return ""
    if not _DIGITS.match(user):
        return user[:64]
    digits = user.lstrip("+")
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits
