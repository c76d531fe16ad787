"""Raw SIP/RTP tools for bad-input tests (stdlib asyncio/socket only, 127.0.0.1).

- :func:`invite`: one INVITE with an SDP offer built from ``codecs``; collects the
  responses until a final one, ACKs it, and (``hangup=True``) BYEs a 2xx.
- :class:`Dialog`: a tiny UAC dialog (INVITE/ACK, in-dialog INFO DTMF
  ``application/dtmf-relay``, BYE) with its own RTP socket.
- :func:`options`, :func:`send_garbage`, :func:`flood`, :func:`send_rtp`, and
  :func:`build_invite` for hand-made truncated/malformed messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from collections.abc import Mapping, Sequence
from types import TracebackType

from tests.voice.telephony.harness.rawrtp import pcmu_tone, send_rtp
from tests.voice.telephony.harness.sipmsg import SipMessage, SipSocket, parse, rtp_target

__all__ = [
    "Dialog",
    "SipMessage",
    "SipResponse",
    "build_invite",
    "build_request",
    "flood",
    "invite",
    "options",
    "pcmu_tone",
    "send_garbage",
    "send_rtp",
]

SipResponse = SipMessage
STATIC_CODECS = {"0": "PCMU/8000", "3": "GSM/8000", "8": "PCMA/8000", "9": "G722/8000"}
STATIC_CODECS["18"] = "G729/8000"
LOCAL = "127.0.0.1"


def _token() -> str:
    return uuid.uuid4().hex[:16]


def sdp_offer(codecs: Sequence[str], rtp_port: int, dtmf_pt: int | None = 101) -> str:
    """An audio offer: each codec is a payload type ("0", "18") or "96 opus/48000/2"."""
    pts: list[str] = []
    maps: list[str] = []
    for codec in codecs:
        pt, _, name = codec.partition(" ")
        name = name or STATIC_CODECS.get(pt, "")
        pts.append(pt)
        if name:
            maps.append(f"a=rtpmap:{pt} {name}")
    if dtmf_pt is not None:
        pts.append(str(dtmf_pt))
        maps += [f"a=rtpmap:{dtmf_pt} telephone-event/8000", f"a=fmtp:{dtmf_pt} 0-15"]
    lines = [
        "v=0",
        f"o=zhike {int(time.time())} 1 IN IP4 {LOCAL}",
        "s=-",
        f"c=IN IP4 {LOCAL}",
        "t=0 0",
        f"m=audio {rtp_port} RTP/AVP {' '.join(pts)}",
        *maps,
        "a=ptime:20",
        "a=sendrecv",
    ]
    return "\r\n".join(lines) + "\r\n"


def build_request(
    method: str,
    uri: str,
    *,
    via: str,
    from_: str,
    to: str,
    call_id: str,
    cseq: int,
    contact: str | None = None,
    headers: Mapping[str, str] | None = None,
    body: str = "",
    content_type: str | None = None,
) -> bytes:
    """A SIP request as bytes (Content-Length computed from ``body``)."""
    lines = [
        f"{method} {uri} SIP/2.0",
        f"Via: {via}",
        "Max-Forwards: 70",
        f"From: {from_}",
        f"To: {to}",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {method}",
    ]
    if contact:
        lines.append(f"Contact: {contact}")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if content_type and body:
        lines.append(f"Content-Type: {content_type}")
    payload = body.encode()
    lines += ["User-Agent: zhike-rawsip", f"Content-Length: {len(payload)}", "", ""]
    return "\r\n".join(lines).encode() + payload


def build_invite(
    host: str,
    port: int,
    *,
    local_port: int,
    rtp_port: int = 9,
    codecs: Sequence[str] = ("0",),
    transport: str = "udp",
    user: str = "ivr",
    from_user: str = "13800000000",
    call_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    sdp: str | None = None,
) -> bytes:
    """A complete INVITE (tests may cut or corrupt the bytes)."""
    tp = transport.upper()
    suffix = ";transport=tcp" if transport == "tcp" else ""
    return build_request(
        "INVITE",
        f"sip:{user}@{host}:{port}{suffix}",
        via=f"SIP/2.0/{tp} {LOCAL}:{local_port};branch=z9hG4bK{_token()};rport",
        from_=f"<sip:{from_user}@{LOCAL}>;tag={_token()}",
        to=f"<sip:{user}@{host}:{port}>",
        call_id=call_id or _token(),
        cseq=1,
        contact=f"<sip:{from_user}@{LOCAL}:{local_port}{suffix}>",
        headers=headers,
        body=sdp_offer(codecs, rtp_port) if sdp is None else sdp,
        content_type="application/sdp",
    )


class Dialog:
    """A UAC call owned by the test: ``await Dialog.open(...)`` sends the INVITE."""

    def __init__(self, sock: SipSocket, rtp: socket.socket, request: bytes, user: str) -> None:
        self.sock, self.rtp, self.user = sock, rtp, user
        self.invite = parse(request)
        assert self.invite is not None
        self.call_id = self.invite.header("Call-ID")
        self.responses: list[SipMessage] = []
        self.final: SipMessage | None = None
        self._cseq = 1

    @property
    def local_rtp_port(self) -> int:
        port: int = self.rtp.getsockname()[1]
        return port

    @property
    def established(self) -> bool:
        return self.final is not None and 200 <= self.final.status < 300

    @property
    def remote_rtp(self) -> tuple[str, int] | None:
        """Where the far end wants RTP (from the SDP of the 2xx)."""
        return rtp_target(self.final.body) if self.established and self.final else None

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        *,
        codecs: Sequence[str] = ("0",),
        transport: str = "udp",
        user: str = "ivr",
        from_user: str = "13800000000",
        call_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        sdp: str | None = None,
        timeout: float = 5.0,
    ) -> Dialog:
        """INVITE, wait for the final response and ACK it (check ``established``)."""
        sock = await SipSocket.open(host, port, transport)
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtp.bind((LOCAL, 0))
        rtp.setblocking(False)
        request = build_invite(
            host,
            port,
            local_port=sock.local_port,
            rtp_port=rtp.getsockname()[1],
            codecs=codecs,
            transport=transport,
            user=user,
            from_user=from_user,
            call_id=call_id,
            headers=headers,
            sdp=sdp,
        )
        dialog = cls(sock, rtp, request, user)
        try:
            await dialog._run_invite(request, timeout)
        except BaseException:
            dialog.close()
            raise
        return dialog

    async def _run_invite(self, request: bytes, timeout: float) -> None:
        match = self.sock.matcher(self.call_id, 1, "INVITE")
        self.sock.send(request)
        deadline = time.monotonic() + timeout
        interval = 0.5
        while self.final is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                msg = await self.sock.next(match, min(left, interval))
            except TimeoutError:
                if not self.responses and self.sock.transport == "udp":
                    self.sock.send(request)  # timer A
                interval = min(interval * 2, 4.0)
                continue
            self.responses.append(msg)
            if msg.status >= 200:
                self.final = msg
        self._ack(self.final)

    def _ack(self, final: SipMessage) -> None:
        inv = self.invite
        assert inv is not None
        uri, via = inv.request_uri, inv.header("Via")
        if 200 <= final.status < 300:
            uri = final.contact_uri() or uri
            via = via.split(";branch=")[0] + f";branch=z9hG4bK{_token()};rport"
        ack = build_request(
            "ACK",
            uri,
            via=via,
            from_=inv.header("From"),
            to=final.header("To"),
            call_id=self.call_id,
            cseq=1,
        )
        self.sock.send(ack)

    async def request(
        self, method: str, body: str = "", content_type: str | None = None, timeout: float = 3.0
    ) -> SipMessage:
        """An in-dialog request; returns its final response (TimeoutError otherwise)."""
        if not self.established or self.final is None or self.invite is None:
            raise RuntimeError(f"{method}: no established dialog")
        self._cseq += 1
        inv = self.invite
        via = inv.header("Via").split(";branch=")[0] + f";branch=z9hG4bK{_token()};rport"
        msg = build_request(
            method,
            self.final.contact_uri() or inv.request_uri,
            via=via,
            from_=inv.header("From"),
            to=self.final.header("To"),
            call_id=self.call_id,
            cseq=self._cseq,
            body=body,
            content_type=content_type,
        )
        self.sock.send(msg)
        match = self.sock.matcher(self.call_id, self._cseq, method)
        deadline = time.monotonic() + timeout
        while True:
            reply = await self.sock.next(match, max(deadline - time.monotonic(), 0.0))
            if reply.status >= 200:
                return reply

    async def info_dtmf(self, digit: str, duration_ms: int = 160) -> SipMessage:
        """SIP INFO ``application/dtmf-relay`` with ``Signal=<digit>``."""
        body = f"Signal={digit}\r\nDuration={duration_ms}\r\n"
        return await self.request("INFO", body, "application/dtmf-relay")

    async def bye(self) -> SipMessage:
        return await self.request("BYE")

    def close(self) -> None:
        self.sock.close()
        self.rtp.close()

    async def __aenter__(self) -> Dialog:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.established:
            with contextlib.suppress(TimeoutError, OSError, RuntimeError):
                await self.bye()
        self.close()


async def invite(
    host: str,
    port: int,
    *,
    codecs: Sequence[str] = ("0",),
    transport: str = "udp",
    call_id: str | None = None,
    from_user: str = "13800000000",
    user: str = "ivr",
    headers: Mapping[str, str] | None = None,
    sdp: str | None = None,
    hangup: bool = True,
    timeout: float = 5.0,
) -> list[SipMessage]:
    """All responses to one INVITE (last = final unless timed out); a 2xx gets ACK + BYE."""
    dialog = await Dialog.open(
        host,
        port,
        codecs=codecs,
        transport=transport,
        user=user,
        from_user=from_user,
        call_id=call_id,
        headers=headers,
        sdp=sdp,
        timeout=timeout,
    )
    try:
        if hangup and dialog.established:
            with contextlib.suppress(TimeoutError):
                await dialog.bye()
    finally:
        dialog.close()
    return dialog.responses


async def options(
    host: str, port: int, *, transport: str = "udp", user: str = "ivr", timeout: float = 3.0
) -> SipMessage:
    """OPTIONS out of dialog; the final response (TimeoutError when none)."""
    sock = await SipSocket.open(host, port, transport)
    try:
        call_id = _token()
        suffix = ";transport=tcp" if transport == "tcp" else ""
        sock.send(
            build_request(
                "OPTIONS",
                f"sip:{user}@{host}:{port}{suffix}",
                via=f"SIP/2.0/{transport.upper()} {LOCAL}:{sock.local_port};"
                f"branch=z9hG4bK{_token()};rport",
                from_=f"<sip:probe@{LOCAL}>;tag={_token()}",
                to=f"<sip:{user}@{host}:{port}>",
                call_id=call_id,
                cseq=1,
                headers={"Accept": "application/sdp"},
            )
        )
        match = sock.matcher(call_id, 1, "OPTIONS")
        deadline = time.monotonic() + timeout
        while True:
            reply = await sock.next(match, max(deadline - time.monotonic(), 0.0))
            if reply.status >= 200:
                return reply
    finally:
        sock.close()


def send_garbage(host: str, port: int, data: bytes) -> None:
    """One UDP datagram of arbitrary bytes."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(data, (host, port))


async def flood(
    host: str, port: int, n: int, *, user: str = "ivr", timeout: float = 5.0
) -> list[int]:
    """``n`` concurrent UDP INVITEs (distinct Call-IDs); final status per INVITE in send order
    (0 = no final response). 2xx calls are ACKed and hung up."""

    async def one() -> int:
        dialog = await Dialog.open(host, port, user=user, timeout=timeout)
        try:
            if dialog.established:
                with contextlib.suppress(TimeoutError):
                    await dialog.bye()
        finally:
            dialog.close()
        return dialog.final.status if dialog.final else 0

    return list(await asyncio.gather(*(one() for _ in range(n))))
