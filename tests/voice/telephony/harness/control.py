"""ctrl_tcp client for Debian baresip 1.0.0: netstring-framed JSON over TCP.

Wire format (verified against 1.0.0): every message is a netstring ``<len>:<json>,``.

- command: ``{"command": "dial", "params": "sip:b@127.0.0.1:5170", "token": "3"}``
- response: ``{"response": true, "ok": true, "data": "", "token": "3"}`` (``data`` is the
  text the menu command printed, e.g. ``"sip:a@…: Answering incoming call\\n"``)
- event (unsolicited): ``{"event": true, "type": "CALL_ESTABLISHED", "class": "call",
  "accountaor": "sip:a@127.0.0.1:5160", "direction": "outgoing", "peeruri": "sip:b@…",
  "id": "<SIP Call-ID>", "param": "sip:b@…"}``. ``CALL_DTMF_START`` carries the digit in
  ``param``, ``CALL_DTMF_END`` has no ``param``, ``CALL_CLOSED`` the reason, ``CALL_RTCP``
  adds ``rtcp_stats``; ``CALL_LOCAL_SDP`` of an outgoing call has no ``id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

_MAX_NETSTRING = 1 << 20


class PhoneError(RuntimeError):
    """A baresip phone failed: it did not start, refused a command or went away."""


@dataclass(frozen=True, slots=True)
class PhoneEvent:
    """One unsolicited ctrl_tcp event, in arrival order."""

    type: str
    param: str = ""
    call_id: str = ""
    peer_uri: str = ""
    direction: str = ""
    raw: Mapping[str, object] = field(default_factory=dict)

    @classmethod
    def from_json(cls, obj: Mapping[str, object]) -> PhoneEvent:
        def text(key: str) -> str:
            value = obj.get(key)
            return value if isinstance(value, str) else ""

        return cls(
            type=text("type"),
            param=text("param"),
            call_id=text("id"),
            peer_uri=text("peeruri"),
            direction=text("direction"),
            raw=dict(obj),
        )


def netstring(obj: Mapping[str, object]) -> bytes:
    data = json.dumps(obj, ensure_ascii=False).encode()
    return b"%d:%s," % (len(data), data)


class Control:
    """One ctrl_tcp connection: commands with tokens, every event kept in order."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer
        self._pending: dict[str, asyncio.Future[Mapping[str, object]]] = {}
        self._token = 0
        self.events: list[PhoneEvent] = []
        self._cursor: dict[str, int] = {}
        self._changed = asyncio.Condition()
        self.closed = False
        self._task = asyncio.create_task(self._read_loop())

    @classmethod
    async def connect(cls, port: int, timeout: float = 1.0) -> Control:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
        return cls(reader, writer)

    async def _read_one(self) -> Mapping[str, object]:
        size = int((await self._reader.readuntil(b":"))[:-1])
        if not 0 <= size <= _MAX_NETSTRING:
            raise PhoneError(f"bad netstring length {size}")
        data = await self._reader.readexactly(size + 1)
        obj = json.loads(data[:-1])
        return obj if isinstance(obj, dict) else {}

    async def _read_loop(self) -> None:
        try:
            while True:
                await self._dispatch(await self._read_one())
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, PhoneError):
            pass
        finally:
            self.closed = True
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(PhoneError("ctrl_tcp connection closed"))
            async with self._changed:
                self._changed.notify_all()

    async def _dispatch(self, obj: Mapping[str, object]) -> None:
        if obj.get("event") is True:
            async with self._changed:
                self.events.append(PhoneEvent.from_json(obj))
                self._changed.notify_all()
            return
        fut = self._pending.pop(str(obj.get("token", "")), None)
        if fut is not None and not fut.done():
            fut.set_result(obj)

    async def command(self, command: str, params: str = "", timeout: float = 5.0) -> str:
        """Send one menu command and return its ``data`` text; PhoneError when not ok."""
        if self.closed:
            raise PhoneError(f"{command}: ctrl_tcp connection closed")
        self._token += 1
        token = str(self._token)
        fut: asyncio.Future[Mapping[str, object]] = asyncio.get_running_loop().create_future()
        self._pending[token] = fut
        msg = {"command": command, "params": params, "token": token}
        self._writer.write(netstring(msg))
        await self._writer.drain()
        try:
            reply = await asyncio.wait_for(fut, timeout)
        finally:
            self._pending.pop(token, None)
        data = reply.get("data")
        text = data if isinstance(data, str) else ""
        if reply.get("ok") is not True:
            raise PhoneError(f"{command} {params}: {text.strip() or reply}")
        return text

    def send_nowait(self, command: str, params: str = "") -> None:
        """Fire a command without waiting for its response (``quit``)."""
        if not self.closed:
            self._token += 1
            msg = {"command": command, "params": params, "token": str(self._token)}
            self._writer.write(netstring(msg))

    def _take(self, kind: str) -> PhoneEvent | None:
        start = self._cursor.get(kind, 0)
        for index in range(start, len(self.events)):
            if self.events[index].type == kind:
                self._cursor[kind] = index + 1
                return self.events[index]
        self._cursor[kind] = len(self.events)
        return None

    async def wait_event(self, kind: str, timeout: float) -> PhoneEvent:
        """The first event of type ``kind`` not returned before; TimeoutError lists the rest."""

        async def wait() -> PhoneEvent:
            async with self._changed:
                while True:
                    found = self._take(kind)
                    if found is not None:
                        return found
                    if self.closed:
                        raise PhoneError(f"ctrl_tcp closed while waiting for {kind}")
                    await self._changed.wait()

        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            seen = ", ".join(f"{e.type}({e.param})" for e in self.events) or "none"
            raise TimeoutError(f"no {kind} within {timeout:g} s; events seen: {seen}") from None

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()
