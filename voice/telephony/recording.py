"""Call recordings: one stereo WAV per call (left = the caller, right = what we sent) and the
retention sweep that deletes old ones.

Recording is off by default (`voice: sip: recording: enabled`). Frames are written as they
come, so a long call never sits in memory. The session hands over one 20 ms frame per side
per tick; a tick where one side has nothing is filled with silence on that side, so both
channels stay aligned. A full disk (or any write error) stops the recording, is logged, and
never disturbs the call.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import stat
import time
import wave
from array import array
from datetime import datetime
from pathlib import Path

log = logging.getLogger(__name__)

SAMPLE_WIDTH = 2  # 16-bit PCM
DAY_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_ID = 80


class CallRecorder:
    """A stereo 16-bit WAV written frame by frame: left = caller, right = bot."""

    def __init__(self, path: Path, rate: int = 8000) -> None:
        self.path, self.rate = path, rate
        self._caller = bytearray()  # frames of one side still waiting for the other side
        self._bot = bytearray()
        self._frames = 0  # stereo sample frames written
        self._failed = False
        self._wav: wave.Wave_write | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            wav = wave.open(str(path), "wb")  # noqa: SIM115 - open for the whole call
            wav.setnchannels(2)
            wav.setsampwidth(SAMPLE_WIDTH)
            wav.setframerate(rate)
            self._wav = wav
        except (OSError, wave.Error) as exc:
            self._fail(exc)

    @property
    def failed(self) -> bool:
        """True when the recording was stopped by a write error."""
        return self._failed

    @property
    def seconds(self) -> float:
        return self._frames / self.rate

    def caller(self, pcm: bytes) -> None:
        """One frame heard from the caller (16-bit mono PCM at `rate`)."""
        self._push(self._caller, self._bot, pcm)

    def bot(self, pcm: bytes) -> None:
        """One frame we sent to the caller."""
        self._push(self._bot, self._caller, pcm)

    def close(self) -> Path:
        """Write what is left (the shorter side padded with silence) and finish the file.
        Safe to call more than once."""
        if self._wav is not None:
            self._pad(self._caller, len(self._bot))
            self._pad(self._bot, len(self._caller))
            self._flush()
            wav, self._wav = self._wav, None
            try:
                wav.close()
            except (OSError, wave.Error) as exc:
                self._fail(exc)
        self._caller.clear()
        self._bot.clear()
        return self.path

    # ------------------------------------------------------------ internals
    def _push(self, side: bytearray, other: bytearray, pcm: bytes) -> None:
        if self._wav is None:
            return
        if side:  # this side already has a frame the other side never matched: a gap there
            self._pad(other, len(side))
            self._flush()
        side += pcm[: len(pcm) - len(pcm) % SAMPLE_WIDTH]
        self._flush()

    @staticmethod
    def _pad(side: bytearray, length: int) -> None:
        if len(side) < length:
            side += bytes(length - len(side))

    def _flush(self) -> None:
        """Interleave and write what both sides have."""
        size = min(len(self._caller), len(self._bot))
        if not size or self._wav is None:
            return
        left, right = array("h", self._caller[:size]), array("h", self._bot[:size])
        del self._caller[:size], self._bot[:size]
        both = array("h", bytes(2 * size))
        both[0::2], both[1::2] = left, right  # byte order untouched: stays little-endian
        try:
            self._wav.writeframesraw(both.tobytes())
        except (OSError, wave.Error) as exc:
            self._fail(exc)
            return
        self._frames += len(left)

    def _fail(self, exc: Exception) -> None:
        log.error(
            "通话录音已停止（%s）：%s / recording stopped (%s): %s", self.path, exc, self.path, exc
        )
        self._failed = True
        wav, self._wav = self._wav, None
        self._caller.clear()
        self._bot.clear()
        if wav is not None:
            with contextlib.suppress(OSError, wave.Error):
                wav.close()


def recording_path(root: Path, call_id: str, started: datetime) -> Path:
    """`root/YYYY-MM-DD/HHMMSS-<call id made safe for a file name>.wav`."""
    safe = _UNSAFE.sub("_", call_id).strip("._")[:MAX_ID] or "call"
    return root / started.strftime("%Y-%m-%d") / f"{started.strftime('%H%M%S')}-{safe}.wav"


def sweep(root: Path, retention_days: float, now: float | None = None) -> int:
    """Delete `*.wav` files under `root` last modified more than `retention_days` ago, then the
    day folders left empty. Symbolic links are neither followed nor deleted. Returns the number
    of files deleted."""
    if not root.is_dir():
        return 0
    cutoff = (time.time() if now is None else now) - retention_days * 86400
    deleted = 0
    for folder, _dirs, files in os.walk(root, topdown=False):
        for name in files:
            if name.endswith(".wav") and _old_file(Path(folder, name), cutoff):
                deleted += _unlink(Path(folder, name))
        here = Path(folder)
        if here != root and DAY_FOLDER.match(here.name) and not any(here.iterdir()):
            try:
                here.rmdir()
            except OSError as exc:
                log.warning("could not remove %s: %s", here, exc)
    return deleted


def _old_file(path: Path, cutoff: float) -> bool:
    try:
        info = path.lstat()
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_mtime < cutoff


def _unlink(path: Path) -> int:
    try:
        path.unlink()
    except OSError as exc:
        log.warning("could not delete recording %s: %s", path, exc)
        return 0
    return 1
