from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.testing.edge_tts_server import FakeEdgeTts, Fault
from voice.tts.base import TtsError
from voice.tts.edge import EdgeEngine
from voice.tts.espeak import EspeakEngine
from voice.tts.fallback import FallbackEngine

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")

MP3 = Path(__file__).parents[2] / "fixtures" / "tts" / "hello_zh_24k48.mp3"
TEXT = "您好，请问有什么可以帮您？"
SWITCH = 0.5


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def fake() -> AsyncIterator[FakeEdgeTts]:
    async with FakeEdgeTts(MP3.read_bytes(), first_byte_delay=5.0) as server:
        yield server


async def _offline_time() -> float:
    engine = EspeakEngine()
    await engine.synthesize(TEXT)  # warm up (voice check)
    start = time.monotonic()
    await engine.synthesize(TEXT)
    return time.monotonic() - start


async def test_healthy_primary_is_used(fake: FakeEdgeTts) -> None:
    engine = FallbackEngine(EdgeEngine(endpoint=fake.endpoint), EspeakEngine(), SWITCH)
    speech = await engine.synthesize(TEXT)
    assert speech.engine == "edge"
    assert engine.switches == 0
    assert not engine.primary_down


async def test_failing_primary_falls_back_at_once(fake: FakeEdgeTts) -> None:
    fake.fault = Fault.REFUSE
    engine = FallbackEngine(EdgeEngine(endpoint=fake.endpoint), EspeakEngine(), SWITCH)
    start = time.monotonic()
    speech = await engine.synthesize(TEXT)
    elapsed = time.monotonic() - start
    assert speech.engine == "espeak"
    assert speech.duration > 1.0
    assert elapsed < SWITCH + 1.0
    assert engine.primary_down


async def test_slow_primary_is_abandoned_after_switch_after(fake: FakeEdgeTts) -> None:
    offline = await _offline_time()
    fake.fault = Fault.SLOW_FIRST_BYTE
    engine = FallbackEngine(EdgeEngine(endpoint=fake.endpoint), EspeakEngine(), SWITCH)
    start = time.monotonic()
    speech = await engine.synthesize(TEXT)
    elapsed = time.monotonic() - start
    assert speech.engine == "espeak"
    assert SWITCH <= elapsed < SWITCH + offline + 0.5  # generous bound for a busy machine
    assert engine.switches == 1


async def test_hanging_primary_is_abandoned(fake: FakeEdgeTts) -> None:
    fake.fault = Fault.HANG
    engine = FallbackEngine(EdgeEngine(endpoint=fake.endpoint), EspeakEngine(), SWITCH)
    start = time.monotonic()
    speech = await engine.synthesize(TEXT, timeout=5.0)
    assert speech.engine == "espeak"
    assert time.monotonic() - start < SWITCH + 1.0
    await asyncio.sleep(0.05)
    assert fake.connections == 1


async def test_primary_that_started_is_not_cut_off(fake: FakeEdgeTts) -> None:
    fake.fault = Fault.SLOW_FIRST_BYTE
    fake.first_byte_delay = 0.1  # first byte before switch_after, the whole prompt after
    fake.chunk_bytes, fake.chunk_delay = 1000, 0.04
    engine = FallbackEngine(EdgeEngine(endpoint=fake.endpoint), EspeakEngine(), 0.4)
    start = time.monotonic()
    speech = await engine.synthesize(TEXT)
    assert time.monotonic() - start > 0.6
    assert speech.engine == "edge"


async def test_cooldown_skips_the_primary_then_retries_it(fake: FakeEdgeTts) -> None:
    clock = Clock()
    fake.fault = Fault.REFUSE
    engine = FallbackEngine(
        EdgeEngine(endpoint=fake.endpoint), EspeakEngine(), SWITCH, cooldown=30.0, clock=clock
    )
    await engine.synthesize(TEXT)
    tried = fake.connections
    assert tried == 2  # one retry inside the edge engine

    fake.fault = Fault.NONE
    clock.now += 10.0
    assert (await engine.synthesize(TEXT)).engine == "espeak"
    assert fake.connections == tried  # straight to offline while cooling down
    assert engine.cache_names() == ("edge", "espeak")

    clock.now += 25.0
    assert (await engine.synthesize(TEXT)).engine == "edge"
    assert engine.cache_names() == ("edge",)


async def test_both_failing_is_an_error(fake: FakeEdgeTts) -> None:
    fake.fault = Fault.REFUSE
    engine = FallbackEngine(
        EdgeEngine(endpoint=fake.endpoint), EspeakEngine(binary="no-espeak-here"), SWITCH
    )
    with pytest.raises(TtsError, match="espeak-ng"):
        await engine.synthesize(TEXT)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        FallbackEngine(EspeakEngine(), EspeakEngine(), 0)
