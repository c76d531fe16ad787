"""SIP message parsing and a UDP/TCP client socket for the raw tools (test support)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

_COMPACT = {
    "v": "via",
    "f": "from",
    "t": "to",
    "i": "call-id",
    "m": "contact",
    "l": "content-length",
    "c": "content-type",
    "k": "supported",
}
_URI_IN_BRACKETS = re.compile(r"<([^>]+)>")


@dataclass(frozen=True, slots=True)
class SipMessage:
    """A parsed request or response; ``status`` is 0 for requests."""

    start: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: str = ""
    raw: bytes = b""

    @property
    def is_response(self) -> bool:
        return self.start.startswith("SIP/2.0 ")

    @property
    def status(self) -> int:
        if not self.is_response:
            return 0
        code = self.start.split(" ", 2)[1]
        return int(code) if code.isdigit() else 0

    @property
    def reason(self) -> str:
        parts = self.start.split(" ", 2)
        return parts[2] if self.is_response and len(parts) > 2 else ""

    @property
    def method(self) -> str:
        return "" if self.is_response else self.start.split(" ", 1)[0]

    @property
    def request_uri(self) -> str:
        parts = self.start.split(" ")
        return "" if self.is_response or len(parts) < 2 else parts[1]

    def header_all(self, name: str) -> list[str]:
        key = name.lower()
        return [v for k, v in self.headers if _COMPACT.get(k.lower(), k.lower()) == key]

    def header(self, name: str, default: str = "") -> str:
        found = self.header_all(name)
        return found[0] if found else default

    @property
    def cseq(self) -> tuple[int, str]:
        num, _, method = self.header("CSeq").partition(" ")
        return (int(num) if num.isdigit() else -1), method.strip()

    def contact_uri(self) -> str | None:
        contact = self.header("Contact")
        match = _URI_IN_BRACKETS.search(contact)
        return match.group(1) if match else (contact.split(";")[0].strip() or None)


def _split(data: bytes) -> tuple[bytes, bytes] | None:
    head, sep, rest = data.partition(b"\r\n\r\n")
    return (head, rest) if sep else None


def parse(data: bytes) -> SipMessage | None:
    """One message (body cut at Content-Length); None when it is not SIP."""
    parts = _split(data)
    if parts is None:
        return None
    head, rest = parts
    lines = head.decode(errors="replace").split("\r\n")
    if not lines[0].startswith("SIP/2.0 ") and not lines[0].endswith(" SIP/2.0"):
        return None
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:
            headers[-1] = (headers[-1][0], headers[-1][1] + " " + line.strip())
        elif ":" in line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    msg = SipMessage(lines[0], headers, "", data)
    length = msg.header("Content-Length")
    body = rest[: int(length)] if length.isdigit() else rest
    return SipMessage(lines[0], headers, body.decode(errors="replace"), data)


def frame_length(buf: bytes) -> int | None:
    """Bytes of the first complete message in a TCP stream buffer, or None."""
    parts = _split(buf)
    if parts is None:
        return None
    head, _ = parts
    match = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)\s*$", head)
    total = len(head) + 4 + (int(match.group(1)) if match else 0)
    return total if len(buf) >= total else None


def rtp_target(sdp: str) -> tuple[str, int] | None:
    """(connection address, audio port) of an SDP body."""
    host = re.search(r"(?m)^c=IN IP4 (\S+)", sdp)
    media = re.search(r"(?m)^m=audio (\d+) ", sdp)
    return (host.group(1), int(media.group(1))) if host and media else None


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, feed: Callable[[bytes], None]) -> None:
        self.feed = feed

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.feed(data)


class SipSocket:
    """A client socket to one SIP peer; messages kept until a matcher takes them."""

    def __init__(self, transport: str) -> None:
        self.transport = transport
        self.local_port = 0
        self._inbox: list[SipMessage] = []
        self._arrived = asyncio.Event()
        self._send: Callable[[bytes], None] = lambda data: None
        self._closers: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, host: str, port: int, transport: str = "udp") -> SipSocket:
        if transport not in ("udp", "tcp"):
            raise ValueError(f"transport must be udp or tcp, not {transport!r}")
        self = cls(transport)
        loop = asyncio.get_running_loop()
        if transport == "udp":
            udp, _ = await loop.create_datagram_endpoint(
                lambda: _Udp(self._feed), local_addr=("127.0.0.1", 0), remote_addr=(host, port)
            )
            self.local_port = udp.get_extra_info("sockname")[1]
            self._send, self._closers = udp.sendto, [udp.close]
            return self
        reader, writer = await asyncio.open_connection(host, port)
        self.local_port = writer.get_extra_info("sockname")[1]
        self._task = asyncio.create_task(self._tcp_loop(reader))
        self._send, self._closers = writer.write, [self._cancel, writer.close]
        return self

    async def _tcp_loop(self, reader: asyncio.StreamReader) -> None:
        buf = b""
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while chunk := await reader.read(65536):
                buf += chunk
                while (size := frame_length(buf.lstrip(b"\r\n"))) is not None:
                    buf = buf.lstrip(b"\r\n")
                    self._feed(buf[:size])
                    buf = buf[size:]

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def _feed(self, data: bytes) -> None:
        msg = parse(data)
        if msg is not None:
            self._inbox.append(msg)
            self._arrived.set()

    def send(self, data: bytes) -> None:
        self._send(data)

    @staticmethod
    def matcher(call_id: str, cseq: int, method: str) -> Callable[[SipMessage], bool]:
        """Responses to the request (call_id, cseq, method)."""
        return lambda m: (
            m.is_response
            and m.header("Call-ID") == call_id
            and m.cseq
            == (
                cseq,
                method,
            )
        )

    async def next(self, match: Callable[[SipMessage], bool], timeout: float) -> SipMessage:
        """The oldest unconsumed message ``match`` accepts (TimeoutError after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            for index, msg in enumerate(self._inbox):
                if match(msg):
                    return self._inbox.pop(index)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no matching SIP message")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)

    def close(self) -> None:
        for close in self._closers:
            close()
        self._closers = []
