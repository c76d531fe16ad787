from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

import pytest

from voice.audio import tone
from voice.tts.base import Speech, TtsEngine, TtsError, Voice
from voice.tts.cache import CachedEngine, PromptCache
from voice.tts.espeak import EspeakEngine
from voice.tts.fallback import FallbackEngine

TEXT = "您好，欢迎致电小知客服。"


class CountingEngine(TtsEngine):
    """A tone per call; counts calls; can be told to fail."""

    def __init__(self, name: str = "counting", fail: bool = False) -> None:
        super().__init__()
        self.name = name
        self.fail = fail
        self.calls = 0

    async def _synthesize_impl(self, text: str, voice: Voice) -> Speech:
        self.calls += 1
        if self.fail:
            raise TtsError("服务不可用", "service down")
        return Speech(tone([300.0 + len(text)], 400, 16000), 16000, self.name)


def test_key_depends_on_engine_voice_and_text() -> None:
    key = PromptCache.key("edge", Voice(), TEXT)
    assert len(key) == 64
    assert PromptCache.key("edge", Voice(), TEXT) == key
    assert PromptCache.key("espeak", Voice(), TEXT) != key
    assert PromptCache.key("edge", Voice(name="zh-CN-YunxiNeural"), TEXT) != key
    assert PromptCache.key("edge", Voice(rate="+10%"), TEXT) != key
    assert PromptCache.key("edge", Voice(pitch="+5Hz"), TEXT) != key
    assert PromptCache.key("edge", Voice(volume="-5%"), TEXT) != key
    assert PromptCache.key("edge", Voice(), "您好。") != key
    # the same speakable text is the same prompt
    assert PromptCache.key("edge", Voice(), f"**{TEXT}** 😊\n") == key


def test_put_get_round_trip(tmp_path: Path) -> None:
    cache = PromptCache(tmp_path)
    speech = Speech(tone([440.0], 300, 16000), 16000, "edge")
    path = cache.put(speech, Voice(), TEXT)
    assert path.parent.parent == tmp_path and path.suffix == ".wav"
    hit = cache.get("edge", Voice(), TEXT)
    assert hit is not None
    assert (hit.pcm, hit.rate, hit.engine, hit.cached) == (speech.pcm, 16000, "edge", True)
    assert cache.get("espeak", Voice(), TEXT) is None
    assert cache.contains("edge", Voice(), TEXT)
    assert len(cache) == 1


def test_writes_are_atomic(tmp_path: Path) -> None:
    cache = PromptCache(tmp_path)
    good = Speech(tone([440.0], 300, 16000), 16000, "edge")
    cache.put(good, Voice(), TEXT)
    before = cache.path(cache.key("edge", Voice(), TEXT)).read_bytes()
    bad = Speech(b"\x01", 16000, "edge")  # odd byte count: the WAV writer refuses it
    with pytest.raises(ValueError):
        cache.put(bad, Voice(), TEXT)
    # the old file is intact and no temp file is left behind
    assert cache.path(cache.key("edge", Voice(), TEXT)).read_bytes() == before
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [
        cache.path(cache.key("edge", Voice(), TEXT)).name
    ]


async def test_concurrent_writers_of_one_key(tmp_path: Path) -> None:
    cache = PromptCache(tmp_path)
    speech = Speech(tone([440.0], 300, 16000), 16000, "edge")
    await asyncio.gather(*(asyncio.to_thread(cache.put, speech, Voice(), TEXT) for _ in range(8)))
    hit = cache.get("edge", Voice(), TEXT)
    assert hit is not None and hit.pcm == speech.pcm
    assert len(list(tmp_path.rglob("*.tmp"))) == 0


def test_corrupt_file_is_a_miss_and_removed(tmp_path: Path) -> None:
    cache = PromptCache(tmp_path)
    path = cache.put(Speech(tone([440.0], 300, 16000), 16000, "edge"), Voice(), TEXT)
    path.write_bytes(b"RIFF not really")
    assert cache.get("edge", Voice(), TEXT) is None
    assert not path.exists()


def test_size_and_prune_least_recently_used(tmp_path: Path) -> None:
    cache = PromptCache(tmp_path)
    texts = ["第一条。", "第二条。", "第三条。"]
    for i, text in enumerate(texts):
        path = cache.put(Speech(tone([440.0], 300, 16000), 16000, "edge"), Voice(), text)
        os.utime(path, (1000.0 + i, 1000.0 + i))
    cache.get("edge", Voice(), texts[0])  # used now: newest
    stale = tmp_path / "ab" / ".old.tmp"
    stale.parent.mkdir(exist_ok=True)
    stale.write_bytes(b"x")
    os.utime(stale, (1.0, 1.0))

    size = cache.size()
    assert size.files == 3
    one = size.bytes // 3
    assert cache.prune(one + 10) == 2
    assert cache.contains("edge", Voice(), texts[0])
    assert not cache.contains("edge", Voice(), texts[1])
    assert not stale.exists()
    assert cache.prune(10**9) == 0


async def test_hit_costs_no_engine_call(tmp_path: Path) -> None:
    inner = CountingEngine()
    engine = CachedEngine(inner, PromptCache(tmp_path))
    first = await engine.synthesize(TEXT)
    assert (first.cached, inner.calls) == (False, 1)

    start = time.perf_counter()
    again = await engine.synthesize(TEXT + "  ")
    elapsed = time.perf_counter() - start
    assert again.cached
    assert again.pcm == first.pcm
    assert again.engine == "counting"
    assert inner.calls == 1
    assert elapsed < 0.5
    assert (engine.hits, engine.misses) == (1, 1)

    await engine.synthesize(TEXT, Voice(rate="+10%"))
    assert inner.calls == 2  # another voice is another prompt


async def test_unwritable_cache_still_speaks(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    inner = CountingEngine()
    speech = await CachedEngine(inner, PromptCache(blocker)).synthesize(TEXT)
    assert speech.pcm and inner.calls == 1


async def test_offline_audio_only_stands_in_while_primary_is_down(tmp_path: Path) -> None:
    primary = CountingEngine("primary", fail=True)
    offline = CountingEngine("offline")
    now = [1000.0]
    fallback = FallbackEngine(primary, offline, 0.5, cooldown=30.0, clock=lambda: now[0])
    cache = PromptCache(tmp_path)
    engine = CachedEngine(fallback, cache)

    spoken = await engine.synthesize(TEXT)
    assert spoken.engine == "offline"
    assert cache.contains("offline", Voice(), TEXT)
    assert not cache.contains("primary", Voice(), TEXT)

    again = await engine.synthesize(TEXT)  # primary cooling down: the offline copy is fine
    assert again.cached and offline.calls == 1

    now[0] += 31.0  # cool-down over: the primary's own audio is wanted again
    primary.fail = False
    fresh = await engine.synthesize(TEXT)
    assert (fresh.engine, fresh.cached, primary.calls) == ("primary", False, 2)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")
async def test_cached_espeak(tmp_path: Path) -> None:
    engine = CachedEngine(EspeakEngine(), PromptCache(tmp_path))
    first = await engine.synthesize(TEXT)
    second = await engine.synthesize(TEXT)
    assert second.cached and second.pcm == first.pcm and second.engine == "espeak"
