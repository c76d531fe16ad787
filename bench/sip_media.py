"""What crossed the line in bench.sip_bench: RTP on the loopback wire, and a phone's recordings.

`Wire` captures the G.711 RTP packets on `lo` with an `AF_PACKET` socket (Linux; root or
CAP_NET_RAW, else `Wire.open()` is None and the bench relies on the recordings) and stamps
each with the kernel's receive time, converted to the `time.monotonic()` clock that
`Call.marks` use. `levels` reads a baresip phone's sndfile WAV (`…-enc.wav`: what it sent,
`…-dec.wav`: what it heard) as one dBFS value per 20 ms frame.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from voice.audio import alaw_decode, read_wav, rms_dbfs, split_frames, ulaw_decode

ETH_P_IP = 0x0800
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; also the cmsg type
PAYLOADS = {0: ulaw_decode, 8: alaw_decode}  # PCMU, PCMA
FRAME_S = 0.02
CLOCK_TICKS = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0


@dataclass(frozen=True, slots=True)
class Packet:
    at: float  # time.monotonic() of the kernel's capture
    src: int  # UDP ports
    dst: int
    seq: int
    payload_type: int
    payload: bytes

    def level(self) -> float:
        return rms_dbfs(PAYLOADS[self.payload_type](self.payload))


def parse(datagram: bytes, at: float) -> Packet | None:
    """An IPv4/UDP datagram carrying RTP with a G.711 payload, else None."""
    if len(datagram) < 20 or datagram[0] >> 4 != 4 or datagram[9] != socket.IPPROTO_UDP:
        return None
    ihl = (datagram[0] & 0x0F) * 4
    src, dst = struct.unpack_from("!HH", datagram, ihl)
    rtp = datagram[ihl + 8 :]
    if len(rtp) <= 12 or rtp[0] >> 6 != 2 or rtp[1] & 0x7F not in PAYLOADS:
        return None
    header = 12 + 4 * (rtp[0] & 0x0F)  # CSRCs
    (seq,) = struct.unpack_from("!H", rtp, 2)
    return Packet(at, src, dst, seq, rtp[1] & 0x7F, rtp[header:])


class Wire:
    """RTP packets seen on the loopback interface since `open()`, until `close()`."""

    def __init__(self, sock: socket.socket) -> None:
        self.packets: list[Packet] = []
        self._sock = sock
        self._offset = time.time() - time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-wire", daemon=True)

    @classmethod
    def open(cls) -> Wire | None:
        """Start capturing; None where raw sockets are not allowed (or not Linux)."""
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
        except (OSError, AttributeError):
            return None
        try:
            sock.bind(("lo", 0))
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            sock.settimeout(0.2)
        except OSError:
            sock.close()
            return None
        wire = cls(sock)
        wire._thread.start()
        return wire

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, ancillary, _flags, _address = self._sock.recvmsg(2048, 64)
            except TimeoutError:
                continue
            except OSError:
                return
            packet = parse(data, self._stamp(ancillary))
            if packet is not None:
                self.packets.append(packet)

    def _stamp(self, ancillary: list[tuple[int, int, bytes]]) -> float:
        for level, kind, raw in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(raw) >= 16:
                seconds, nanos = struct.unpack_from("qq", raw)
                return seconds + nanos / 1e9 - self._offset
        return time.monotonic()

    def flows(self, ports: range, since: float) -> tuple[list[Packet], list[Packet]]:
        """(sent by the phone whose RTP ports are `ports`, sent to it) since `since`. Only its
        busiest port pair counts (other processes' phones may use the same ports), and a
        packet captured twice (out of and into `lo`) counts once."""
        mine = [
            p for p in list(self.packets) if p.at >= since and (p.src in ports or p.dst in ports)
        ]
        pairs = Counter((p.src, p.dst) for p in mine if p.src in ports)
        if not pairs:
            return [], []
        (phone, peer), _count = pairs.most_common(1)[0]
        return _once(mine, phone, peer), _once(mine, peer, phone)

    def forget(self, before: float) -> None:
        self.packets = [p for p in list(self.packets) if p.at >= before]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(1.0)
        with contextlib.suppress(OSError):
            self._sock.close()


def _once(packets: list[Packet], src: int, dst: int) -> list[Packet]:
    seen: dict[int, Packet] = {}
    for p in packets:
        if (p.src, p.dst) == (src, dst):
            seen.setdefault(p.seq, p)
    return sorted(seen.values(), key=lambda p: p.at)


def last_loud(packets: Sequence[Packet], dbfs: float) -> Packet | None:
    return next((p for p in reversed(packets) if p.level() > dbfs), None)


def first_loud(packets: Sequence[Packet], after: float, dbfs: float) -> Packet | None:
    return next((p for p in packets if p.at > after and p.level() > dbfs), None)


# ---------------------------------------------------------------- recordings
def levels(path: Path) -> list[float]:
    """dBFS of each 20 ms frame of a WAV."""
    pcm, rate = read_wav(path)
    return [rms_dbfs(f) for f in split_frames(pcm, rate)]


def last_above(frames: Sequence[float], dbfs: float) -> int | None:
    return next((i for i in range(len(frames) - 1, -1, -1) if frames[i] > dbfs), None)


def first_above(frames: Sequence[float], start: int, dbfs: float) -> int | None:
    return next((i for i in range(start, len(frames)) if frames[i] > dbfs), None)


def rtp_ports(phone_root: Path) -> range:
    """The RTP port range a harness phone was configured with (its `config` file)."""
    for line in (phone_root / "config").read_text().splitlines():
        if line.startswith("rtp_ports"):
            low, high = line.split()[1].split("-")
            return range(int(low), int(high) + 1)
    raise ValueError(f"no rtp_ports in {phone_root / 'config'}")


def proc_cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of a process so far (Linux /proc), 0.0 when gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
