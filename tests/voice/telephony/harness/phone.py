"""A real SIP phone for tests: one Debian baresip 1.0.0 process on 127.0.0.1.

``start_phone`` writes ``config`` + ``accounts`` into ``tmp/name``, picks free ports, starts
``baresip -s -f DIR`` (stdin = /dev/null; the ``stdio`` module is never loaded, it fails
without a terminal) with its output (SIP trace included) in ``DIR/baresip.log``, and
returns a :class:`Phone` once ctrl_tcp accepts (about 15 ms).

Facts of baresip 1.0.0 this relies on:

- The microphone is ``aufile,<wav>`` and **aufile EOF ends the call** (BYE). The harness
  therefore writes ``DIR/mic.wav``: the given WAV as 8 kHz mono PCM16 followed by
  ``pad_s`` of silence (default 60 s; plain silence without a WAV). Each call plays it
  from the start.
- Recording is done by the ``sndfile`` module into ``DIR/rec``:
  ``dump-YYYY-MM-DD-HH-MM-SS-dec.wav`` (what the phone heard) and ``…-enc.wav`` (what it
  sent), 8 kHz mono. Names have one-second resolution, so two calls of one phone within a
  second share a file: use one phone per recorded call. Read them after ``CALL_CLOSED``.
- ``answer="auto"`` answers at once (agent phones); ``"manual"`` emits ``CALL_INCOMING``
  and waits for :meth:`Phone.accept`.
- A REFER (``transfer``) makes the far phone dial the Refer-To URI as is: a
  ``?X-Zhike-Handoff=…`` URI header ends up in the new INVITE's Request-URI and To.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import IO, Protocol

from tests.voice.telephony.harness.control import Control, PhoneError, PhoneEvent
from voice.audio import read_wav, resample, silence, write_wav

MODULES = Path("/usr/lib/baresip/modules")
RATE = 8000
ANSWER_MODES = ("auto", "manual")
TRANSPORTS = ("udp", "tcp")
_RTP_BLOCK = 40  # ports per phone (RTP + RTCP per call: ~20 calls)
_rtp_blocks = itertools.count(os.getpid() * 7)
_TRACE_HEAD = re.compile(r"^(UDP|TCP|TLS) (\S+) -> (\S+)$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_TRACE_START, _TRACE_END = "\x1b[36;1m#\n", "\x1b[;m"


def baresip_missing() -> str | None:
    """Why the harness cannot run here, or None."""
    if shutil.which("baresip") is None:
        return "baresip not installed (apt-get install --no-install-recommends baresip-core)"
    if not (MODULES / "ctrl_tcp.so").exists():
        return f"baresip modules missing in {MODULES}"
    return None


# --------------------------------------------------------------------------- ports


def _free(port: int, kind: socket.SocketKind) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A port the kernel considers free right now (bind to port 0)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_sip_port() -> int:
    """A port free for UDP and TCP whose port+1 is free too (baresip puts TLS there)."""
    for _ in range(200):
        port = free_port(socket.SOCK_DGRAM)
        if port < 65535 and all(
            _free(p, k) for p in (port, port + 1) for k in (socket.SOCK_STREAM, socket.SOCK_DGRAM)
        ):
            return port
    raise PhoneError("no free SIP port pair found")


def rtp_range() -> tuple[int, int]:
    """A block of RTP ports below the ephemeral range, different for every phone."""
    low = 20000 + (next(_rtp_blocks) % 300) * _RTP_BLOCK
    return low, low + _RTP_BLOCK - 1


# --------------------------------------------------------------------------- files


def write_mic(src: Path | None, dst: Path, pad_s: float) -> Path:
    """``src`` as 8 kHz mono PCM16 plus ``pad_s`` of trailing silence, written to ``dst``."""
    pcm = b""
    if src is not None:
        pcm, rate = read_wav(src)
        pcm = resample(pcm, rate, RATE)
    write_wav(dst, pcm + silence(int(pad_s * 1000), RATE), RATE)
    return dst


def _config(root: Path, sip_port: int, ctrl_port: int, rtp: tuple[int, int], extra: str) -> str:
    mic = root / "mic.wav"
    lines = [
        f"sip_listen 127.0.0.1:{sip_port}",
        "net_interface 127.0.0.1",
        f"audio_source aufile,{mic}",
        f"audio_alert aufile,{mic}",
        "audio_player aufile,/dev/null",
        f"audio_path {root}",
        f"rtp_ports {rtp[0]}-{rtp[1]}",
        f"module_path {MODULES}",
        "module g711.so",
        "module aufile.so",
        "module sndfile.so",
        "module ctrl_tcp.so",
        "module_tmp account.so",
        "module_app menu.so",
        f"ctrl_tcp_listen 127.0.0.1:{ctrl_port}",
        f"snd_path {root / 'rec'}",
    ]
    return "\n".join(lines) + "\n" + extra


def _account(name: str, sip_port: int, answer: str, transport: str) -> str:
    params = ";transport=tcp" if transport == "tcp" else ""
    return (
        f"<sip:{name}@127.0.0.1:{sip_port}{params}>;answermode={answer};regint=0;"
        "audio_codecs=pcmu,pcma\n"
    )


# --------------------------------------------------------------------------- phone


class Phone:
    """One baresip process driven over ctrl_tcp. Always :meth:`close` it (the fixture does)."""

    def __init__(
        self,
        name: str,
        root: Path,
        sip_port: int,
        transport: str,
        proc: subprocess.Popen[bytes],
        log: IO[bytes],
        control: Control,
    ) -> None:
        self.name, self.root, self.sip_port, self.transport = name, root, sip_port, transport
        self._proc, self._log, self._control = proc, log, control
        suffix = ";transport=tcp" if transport == "tcp" else ""
        self.uri = f"sip:{name}@127.0.0.1:{sip_port}{suffix}"
        self.log_path = root / "baresip.log"

    @property
    def pid(self) -> int:
        return self._proc.pid

    def running(self) -> bool:
        return self._proc.poll() is None

    async def command(self, command: str, params: str = "", timeout: float = 5.0) -> str:
        """Any menu command (``listcalls``, ``hold``, ``answermode auto`` …); its output."""
        return await self._control.command(command, params, timeout)

    async def dial(self, uri: str) -> None:
        """Call ``uri``. A TCP phone drops ``;transport=tcp`` from it first: 1.0.0 appends
        its account's transport parameter itself (it would appear twice)."""
        if self.transport == "tcp":
            base, sep, tail = uri.partition("?")
            uri = base.replace(";transport=tcp", "") + sep + tail
        await self.command("dial", uri)

    async def accept(self) -> None:
        await self.command("accept")

    async def hangup(self) -> None:
        await self.command("hangup")

    async def transfer(self, uri: str) -> None:
        """REFER the current call to ``uri`` (sent as ``Refer-To: uri`` without ``<>``)."""
        await self.command("transfer", uri)

    async def dtmf(self, digits: str, gap_s: float = 0.25) -> None:
        """RFC 4733 events, one ``sndcode`` per key (1.0.0 releases the key by itself:
        exactly one CALL_DTMF_START/END pair arrives per digit at the far end)."""
        for index, digit in enumerate(digits):
            if index:
                await asyncio.sleep(gap_s)
            await self.command("sndcode", digit)

    async def wait_event(self, kind: str, timeout: float = 10.0) -> PhoneEvent:
        """The first not yet returned event of type ``kind`` (CALL_INCOMING, CALL_RINGING,
        CALL_ESTABLISHED, CALL_DTMF_START, TRANSFER, CALL_CLOSED …)."""
        return await self._control.wait_event(kind, timeout)

    def events(self, kind: str | None = None) -> list[PhoneEvent]:
        """All events so far, in order (only those of type ``kind`` when given)."""
        return [e for e in self._control.events if kind is None or e.type == kind]

    def heard(self) -> Path | None:
        """The latest ``*-dec.wav`` written by sndfile: what this phone heard."""
        found = sorted((self.root / "rec").glob("*-dec.wav"))
        return found[-1] if found else None

    async def wait_heard(self, timeout: float = 3.0) -> Path:
        """:meth:`heard` once sndfile has finalised it (the WAV header of a file still being
        written says 0 bytes of data); TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            path = self.heard()
            if path is not None and _finalised(path):
                return path
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: no finished recording in {self.root / 'rec'}")
            await asyncio.sleep(0.02)

    def sent(self) -> Path | None:
        """The latest ``*-enc.wav``: what this phone sent."""
        found = sorted((self.root / "rec").glob("*-enc.wav"))
        return found[-1] if found else None

    def log(self) -> str:
        return _ANSI.sub("", self.log_path.read_text(errors="replace"))

    def received(self, method: str | None = None) -> list[str]:
        """Full text of the SIP requests this phone received, from the ``-s`` trace: each
        message there is ``ESC[36;1m#``, ``UDP src -> dst``, the message, ``ESC[;m``."""
        here = f"127.0.0.1:{self.sip_port}"
        text = self.log_path.read_text(errors="replace").replace("\r\n", "\n")
        found: list[str] = []
        for block in text.split(_TRACE_START)[1:]:
            head, _, message = block.split(_TRACE_END, 1)[0].partition("\n")
            match = _TRACE_HEAD.match(head.strip())
            if not match or match.group(3) != here or message.startswith("SIP/2.0"):
                continue
            if method is None or message.startswith(method + " "):
                found.append(message.rstrip("\n"))
        return found

    def request_uris(self) -> list[str]:
        """Request-URIs of the INVITEs this phone received, in order."""
        return [msg.split("\n", 1)[0].split(" ")[1] for msg in self.received("INVITE")]

    async def close(self) -> None:
        """``quit``, then SIGTERM, then SIGKILL; idempotent."""
        if self.running():
            self._control.send_nowait("quit")
            if not await _exited(self._proc, 2.0):
                self._proc.terminate()
                if not await _exited(self._proc, 1.0):
                    self._proc.kill()
                    await _exited(self._proc, 2.0)
        await self._control.close()
        self._log.close()


def _finalised(path: Path) -> bool:
    head = path.read_bytes()[:8]
    return len(head) == 8 and int.from_bytes(head[4:8], "little") + 8 == path.stat().st_size


async def _exited(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def _connect(proc: subprocess.Popen[bytes], port: int, timeout: float) -> Control | None:
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(OSError, TimeoutError):
            return await Control.connect(port)
        await asyncio.sleep(0.01)
    return None


class PhoneFactory(Protocol):
    """The ``phones`` fixture: ``await phones("agent", answer="auto")``."""

    async def __call__(
        self,
        name: str,
        *,
        wav: Path | None = None,
        answer: str = "manual",
        transport: str = "udp",
        pad_s: float = 60.0,
        extra_config: str = "",
    ) -> Phone: ...


async def start_phone(
    tmp: Path,
    name: str,
    *,
    wav: Path | None = None,
    answer: str = "manual",
    transport: str = "udp",
    pad_s: float = 60.0,
    extra_config: str = "",
    timeout: float = 5.0,
) -> Phone:
    """Start a baresip phone in ``tmp/name`` (see the module docstring); retried on a port race."""
    if answer not in ANSWER_MODES or transport not in TRANSPORTS:
        raise ValueError(f"answer must be one of {ANSWER_MODES}, transport of {TRANSPORTS}")
    root = tmp / name
    (root / "rec").mkdir(parents=True, exist_ok=True)
    write_mic(wav, root / "mic.wav", pad_s)
    for _attempt in range(3):
        sip_port, ctrl_port = free_sip_port(), free_port()
        (root / "config").write_text(_config(root, sip_port, ctrl_port, rtp_range(), extra_config))
        (root / "accounts").write_text(_account(name, sip_port, answer, transport))
        log = (root / "baresip.log").open("wb")
        proc = subprocess.Popen(
            ["baresip", "-s", "-f", str(root)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=root,
        )
        try:
            control = await _connect(proc, ctrl_port, timeout)
        except BaseException:  # cancelled: never leave the process behind
            proc.kill()
            proc.wait(5)
            log.close()
            raise
        if control is not None:
            return Phone(name, root, sip_port, transport, proc, log, control)
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)
        log.close()
    tail = (root / "baresip.log").read_text(errors="replace")[-2000:]
    raise PhoneError(f"baresip {name} did not start; log tail:\n{tail}")
