"""Raw RTP for tests: packets from any port/SSRC (foreign-source tests) or from a dialog's
own RTP socket (stdlib sockets; PCMU payloads from ``voice.audio``)."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
import uuid
from collections.abc import Callable

from voice.audio import split_frames, tone, ulaw_encode

RATE = 8000
LOCAL = "127.0.0.1"


def pcmu_tone(freq: float = 440.0, level_dbfs: float = -6.0) -> Callable[[int], bytes]:
    """Payload factory: packet ``i`` → the i-th 20 ms of a continuous PCMU sine (1 s loop)."""
    frames = [ulaw_encode(f) for f in split_frames(tone([freq], 1000, RATE, level_dbfs), RATE)]
    return lambda index: frames[index % len(frames)]


async def send_rtp(
    host: str,
    port: int,
    payload_type: int,
    ssrc: int,
    count: int,
    from_port: int | None = None,
    *,
    payload: Callable[[int], bytes] | None = None,
    interval_s: float = 0.02,
    sock: socket.socket | None = None,
) -> int:
    """``count`` RTP packets paced at ``interval_s`` from ``from_port`` (0/None: any port) or
    from ``sock`` (e.g. ``Dialog.rtp``, the port the dialog announced). Returns packets sent."""
    make = payload or pcmu_tone()
    own = sock is None
    if sock is None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((LOCAL, from_port or 0))
    seq0, ts0, start = int.from_bytes(uuid.uuid4().bytes[:2], "big"), 0, time.monotonic()
    try:
        for index in range(count):
            body = make(index)
            header = struct.pack(
                "!BBHII",
                0x80,
                (0x80 if index == 0 else 0) | payload_type,
                (seq0 + index) & 0xFFFF,
                (ts0 + index * len(body)) & 0xFFFFFFFF,
                ssrc & 0xFFFFFFFF,
            )
            sock.sendto(header + body, (host, port))
            delay = start + (index + 1) * interval_s - time.monotonic()
            await asyncio.sleep(max(delay, 0.0))
    finally:
        if own:
            sock.close()
    return count
