"""What the caller hears: a queue of prompts played out one 20 ms frame per tick.

The call ticks once per frame it receives, so playback is paced by the line itself (no timer
drift, and a carrier's buffer never holds more than a frame or two — a barge-in stops the
voice at once). `duck()` lowers the volume of what is playing (the caller started to speak),
`restore()` brings it back (it was only 嗯/好的), `stop()` drops everything interruptible.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from voice.audio import frame_bytes


@dataclass(slots=True)
class Prompt:
    pcm: bytes  # at the line rate
    text: str = ""
    interruptible: bool = True
    position: int = 0  # bytes already played

    @property
    def done(self) -> bool:
        return self.position >= len(self.pcm)


class Player:
    def __init__(self, rate: int, duck_gain: float = 0.25) -> None:
        self.rate = rate
        self.frame = frame_bytes(rate)
        self.duck_gain = duck_gain
        self.gain = 1.0
        self.queue: deque[Prompt] = deque()
        self.played: list[str] = []  # texts of prompts played to the end (for logs and tests)

    @property
    def playing(self) -> bool:
        return bool(self.queue)

    @property
    def interruptible(self) -> bool:
        """True when what plays now may be cut by the caller (legal notices may not)."""
        return bool(self.queue) and self.queue[0].interruptible

    def play(self, prompt: Prompt) -> None:
        self.queue.append(prompt)

    def next_frame(self) -> bytes:
        """The next 20 ms to send (silence when nothing plays)."""
        while self.queue and self.queue[0].done:
            self.played.append(self.queue.popleft().text)
        if not self.queue:
            self.gain = 1.0
            return bytes(self.frame)
        prompt = self.queue[0]
        chunk = prompt.pcm[prompt.position : prompt.position + self.frame]
        prompt.position += self.frame
        if len(chunk) < self.frame:
            chunk += bytes(self.frame - len(chunk))
        if prompt.done:
            self.played.append(self.queue.popleft().text)
        return chunk if self.gain >= 1.0 else _scaled(chunk, self.gain)

    def duck(self) -> None:
        if self.interruptible:
            self.gain = self.duck_gain

    def restore(self) -> None:
        self.gain = 1.0

    def stop(self) -> bool:
        """Drop the interruptible prompts (barge-in); True if something was cut."""
        if not self.interruptible:
            return False
        kept = [p for p in self.queue if not p.interruptible]
        self.queue = deque(kept)
        self.gain = 1.0
        return True


def _scaled(pcm: bytes, gain: float) -> bytes:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) * gain
    return samples.astype("<i2").tobytes()
