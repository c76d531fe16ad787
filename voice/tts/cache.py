"""Content-addressed prompt cache: synthesise a static prompt once, play it from disk after.

`PromptCache(root)` stores 16 kHz WAV files under `root/ab/<sha256>.wav`; the key is the
SHA-256 of the producing engine's name, the voice fields and the speakable text (see
`speech_text`), so a changed text or voice is simply a new file. Writes are atomic (a temp
file in the same folder, fsync, rename): readers never see half a file. Reads refresh the
file's mtime, and `prune(max_bytes)` drops the least recently used files.

`CachedEngine(engine, cache)` wraps any engine: a hit costs one file read and no TTS call;
a miss is synthesised and stored under the engine that actually spoke (for a fallback, the
offline engine's audio is stored under its own name and only served while the primary is
down).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from voice.audio import AudioError, read_wav, wav_bytes
from voice.tts.base import Speech, TtsEngine, Voice, speech_text, time_left

log = logging.getLogger("zhike.tts")

KEY_VERSION = 1  # bump when the audio for the same key would change (output format …)
_STALE_TMP_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class CacheSize:
    files: int
    bytes: int


class PromptCache:
    """WAV files addressed by (engine, voice, text); safe for concurrent writers."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @staticmethod
    def key(engine: str, voice: Voice, text: str) -> str:
        payload = [
            KEY_VERSION,
            engine,
            voice.name,
            voice.rate,
            voice.pitch,
            voice.volume,
            speech_text(text),
        ]
        blob = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.wav"

    def contains(self, engine: str, voice: Voice, text: str) -> bool:
        return self.path(self.key(engine, voice, text)).is_file()

    def get(self, engine: str, voice: Voice, text: str) -> Speech | None:
        """The cached speech, or None (a corrupt file counts as a miss and is removed)."""
        start = time.monotonic()
        path = self.path(self.key(engine, voice, text))
        try:
            pcm, rate = read_wav(path)
        except FileNotFoundError:
            return None
        except (AudioError, OSError) as exc:
            log.warning("tts cache: dropping unreadable %s: %s", path, exc)
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: pruned last
        return Speech(pcm, rate, engine, cached=True, first_byte_s=time.monotonic() - start)

    def put(self, speech: Speech, voice: Voice, text: str) -> Path:
        """Store `speech` under the engine that produced it; returns the file."""
        path = self.path(self.key(speech.engine, voice, text))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.stem}.{uuid.uuid4().hex}.tmp"
        try:
            with tmp.open("wb") as fh:
                fh.write(wav_bytes(speech.pcm, speech.rate))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        return path

    def _files(self) -> list[tuple[float, int, Path]]:
        out: list[tuple[float, int, Path]] = []
        for path in self.root.glob("??/*.wav"):
            with contextlib.suppress(OSError):
                st = path.stat()
                out.append((st.st_mtime, st.st_size, path))
        return out

    def size(self) -> CacheSize:
        files = self._files()
        return CacheSize(len(files), sum(size for _, size, _ in files))

    def __len__(self) -> int:
        return len(self._files())

    def prune(self, max_bytes: int) -> int:
        """Remove least recently used files until at most `max_bytes` remain (and leftover
        temp files older than an hour); returns how many cached files were removed."""
        now = time.time()
        for tmp in self.root.glob("??/.*.tmp"):
            with contextlib.suppress(OSError):
                if now - tmp.stat().st_mtime > _STALE_TMP_SECONDS:
                    tmp.unlink()
        files = sorted(self._files())
        total = sum(size for _, size, _ in files)
        removed = 0
        for _, size, path in files:
            if total <= max_bytes:
                break
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
            total -= size
        return removed


class CachedEngine(TtsEngine):
    """Any engine behind a `PromptCache`."""

    retries = 0  # the wrapped engine retries on its own

    def __init__(self, engine: TtsEngine, cache: PromptCache) -> None:
        super().__init__()
        self.engine, self.cache = engine, cache
        self.name = f"{engine.name}+cache"
        self.hits = 0
        self.misses = 0

    def cache_names(self) -> tuple[str, ...]:
        return self.engine.cache_names()

    async def _synthesize_impl(self, text: str, voice: Voice) -> Speech:
        for producer in self.engine.cache_names():
            hit = await asyncio.to_thread(self.cache.get, producer, voice, text)
            if hit is not None:
                self.hits += 1
                return hit
        self.misses += 1
        speech = await self.engine.synthesize(text, voice, timeout=max(time_left(10.0), 0.001))
        try:
            await asyncio.to_thread(self.cache.put, speech, voice, text)
        except OSError as exc:  # a full or read-only disk must not cost the caller the prompt
            log.warning("tts cache: cannot store a prompt in %s: %s", self.cache.root, exc)
        return speech
