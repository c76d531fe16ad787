"""The call flow, frames in → frames out, on the reference bot's real engine.

Speech is a voiced tone the energy VAD hears, the ASR engine says what the script says (the
recognisers are tested in tests/voice/asr), and the TTS engine speaks a tone whose length
follows the text (espeak and edge are tested in tests/voice/tts) — so the timing of every
branch (barge-in, fillers, no-input, digits) is exact in call time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from bot.messages import OutboundMessage
from bot.runtime import build_engine
from bot.server.holder import EngineHolder
from channels.voice.call import TEXTS, Call, CallSettings
from voice.asr.base import AsrEngine, AsrError, AsrResult, Hypothesis
from voice.audio import rms_dbfs, silence, tone
from voice.tts.base import Speech, TtsEngine, Voice
from voice.vad import EnergyVad

RATE = 8000
FRAME = 320
LONG = "您好，欢迎致电小知客服热线，查话费请按一，办理套餐请按二，宽带报修请按三，人工服务请按零。"


class ScriptedAsr(AsrEngine):
    """Hears each utterance as the next line of the script."""

    name = "scripted"
    rate = 8000

    def __init__(self, script: list[str | Exception]) -> None:
        super().__init__()
        self.script = script
        self.heard = 0

    async def _transcribe_impl(self, pcm: bytes) -> AsrResult:
        line = self.script[self.heard] if self.heard < len(self.script) else ""
        self.heard += 1
        if isinstance(line, Exception):
            raise line
        return AsrResult(line, (Hypothesis(line, 0.9),), True, self.name, 0.0)


class ToneTts(TtsEngine):
    """60 ms of tone per character, so a prompt's length follows its text."""

    name = "tone"

    def __init__(self) -> None:
        super().__init__()
        self.said: list[str] = []

    async def _synthesize_impl(self, text: str, voice: Voice) -> Speech:
        self.said.append(text)
        return Speech(tone([440.0], 60 * len(text), 16000, -12.0), 16000, self.name)


@pytest.fixture(scope="module")
def holder(reference_root: Path, tmp_path_factory: pytest.TempPathFactory) -> EngineHolder:
    from bot import model as model_io

    model = model_io.load(model_io.latest(reference_root / "models"))
    handoff = {"db": str(tmp_path_factory.mktemp("voice") / "handoff.db"), "hours": "00:00-24:00"}
    engine = build_engine(reference_root, model, store_url="sqlite://", handoff=handoff)
    return EngineHolder(engine)


@pytest.fixture(autouse=True)
def demo_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZHIKE_DEMO_DB", str(tmp_path / "demo.db"))


_calls = iter(range(1, 10_000))


def make_call(holder: EngineHolder, script: list[str | Exception], **settings: object) -> Call:
    call = Call(
        f"call-{next(_calls)}",
        "13812345678",
        holder,
        ScriptedAsr(script),
        ToneTts(),
        CallSettings(**settings),  # type: ignore[arg-type]
        vad=EnergyVad(RATE, threshold_dbfs=-35.0),
    )
    return call


async def ticks(call: Call, pcm: bytes | None, seconds: float) -> list[bytes]:
    frames = [pcm[i : i + FRAME] for i in range(0, len(pcm), FRAME)] if pcm else []
    out = []
    for i in range(round(seconds / 0.02)):
        out.append(await call.frame(frames[i] if i < len(frames) else silence(20, RATE)))
    return out


async def quiet(call: Call, seconds: float) -> list[bytes]:
    return await ticks(call, silence(int(seconds * 1000), RATE), seconds)


async def say(call: Call, seconds: float = 0.6) -> list[bytes]:
    """The caller speaks for `seconds`, then is quiet long enough to end the utterance."""
    voice = tone([150.0, 300.0, 450.0], int(seconds * 1000), RATE, -15.0)
    out = await ticks(call, voice, seconds)
    out += await quiet(call, 0.7)
    await call.settle()
    return out


async def answered(call: Call) -> None:
    await call.settle()


def kinds(call: Call, kind: str) -> list[str]:
    return [detail for _, k, detail in call.events if k == kind]


@pytest.fixture
async def greeted(holder: EngineHolder) -> AsyncIterator[Call]:
    call = make_call(holder, [])
    await call.start()
    await call.settle()
    yield call
    await call.hangup()


# ------------------------------------------------------------------ prompts and barge-in
async def test_greeting_plays_and_a_key_stops_it_at_once(greeted: Call) -> None:
    assert greeted.player.playing and kinds(greeted, "say")
    out = await quiet(greeted, 0.2)
    assert rms_dbfs(out[-1]) > -20  # the greeting is audible
    await greeted.dtmf("*")  # any key barges in …
    assert "dtmf" in kinds(greeted, "barge-in")
    await greeted.settle()  # … and * repeats the last prompt
    assert greeted.player.playing


async def test_speech_ducks_the_prompt_within_one_frame_and_a_filler_resumes_it(
    holder: EngineHolder,
) -> None:
    call = make_call(holder, ["嗯"])
    await call.say_messages([OutboundMessage(kind="text", text=LONG)])
    loud = await quiet(call, 0.1)
    voice = tone([150.0, 300.0], 200, RATE, -15.0)
    during = await ticks(call, voice, 0.2)
    ducked = rms_dbfs(during[-1])
    assert ducked < rms_dbfs(loud[-1]) - 9  # −12 dB within the 60 ms speech start + one frame
    await quiet(call, 0.7)
    await call.settle()
    assert kinds(call, "filler") == ["嗯"] and call.player.playing
    after = await quiet(call, 0.1)
    assert rms_dbfs(after[-1]) == pytest.approx(rms_dbfs(loud[-1]), abs=1.0)
    await call.hangup()


async def test_words_stop_the_prompt_and_run_a_turn(holder: EngineHolder) -> None:
    call = make_call(holder, ["我想查一下话费"])
    await call.start()
    await call.settle()
    await say(call, 1.0)  # longer than barge_in_s: the prompt stops while the caller talks
    assert "long speech" in kinds(call, "barge-in") or "utterance" in kinds(call, "barge-in")
    assert "我想查一下话费" in kinds(call, "turn")
    said = " ".join(kinds(call, "say"))
    assert "86.50" in said, call.events  # 张伟 (caller id 13812345678): no number asked
    await call.hangup()


async def test_non_interruptible_prompt_plays_through(greeted: Call) -> None:
    greeted.player.queue.clear()
    notice = OutboundMessage(
        kind="text", text="本通话可能会被录音。" + LONG, metadata={"non_interruptible": True}
    )
    await greeted.say_messages([notice])
    await greeted.dtmf("1")
    voice = tone([150.0, 300.0], 1200, RATE, -15.0)
    out = await ticks(greeted, voice, 1.2)
    assert greeted.player.queue and not greeted.player.queue[0].interruptible
    assert rms_dbfs(out[-1]) > -20  # never ducked
    assert kinds(greeted, "speech ignored")


# ------------------------------------------------------------------ menus and digits
async def test_menu_by_key(holder: EngineHolder) -> None:
    call = make_call(holder, ["我要换套餐"])
    await call.start()
    await call.settle()
    await say(call)
    menu = [t for t in kinds(call, "say") if "按1" in t]
    assert menu, kinds(call, "say")
    await call.dtmf("1")
    await call.settle()
    assert kinds(call, "turn")[-1] == "1"
    assert len(kinds(call, "say")) > len(menu) + 1  # the chosen plan's next step was spoken
    await call.hangup()


async def test_digits_are_collected_until_the_number_is_complete(holder: EngineHolder) -> None:
    call = Call(
        "call-digits",
        "anonymous",
        holder,
        ScriptedAsr(["帮我查一下话费"]),
        ToneTts(),
        CallSettings(),
        vad=EnergyVad(RATE, threshold_dbfs=-35.0),
    )
    await call.start()
    await call.settle()
    await say(call)
    assert call._collect == 11, kinds(call, "say")  # the bot asked for the phone number
    for digit in "1381234567":
        await call.dtmf(digit)
        await quiet(call, 0.5)  # under the inter-digit timeout
    assert kinds(call, "turn")[-1] == "帮我查一下话费"  # not submitted yet
    await call.dtmf("8")
    await call.settle()
    assert kinds(call, "turn")[-1] == "13812345678"
    assert any("86.50" in t for t in kinds(call, "say"))
    await call.hangup()


async def test_hash_and_timeout_finish_digit_entry(holder: EngineHolder) -> None:
    call = make_call(holder, [])
    call._collect = 6
    for digit in "1234":
        await call.dtmf(digit)
    await call.dtmf("#")
    await call.settle()
    assert kinds(call, "turn")[-1] == "1234"
    call._collect = 6
    await call.dtmf("9")
    await call.dtmf("8")
    await quiet(call, 3.1)
    await call.settle()
    assert kinds(call, "turn")[-1] == "98"
    await call.hangup()


# ------------------------------------------------------------------ no-input / no-match
async def test_no_input_reprompts_then_escalates_to_a_human(holder: EngineHolder) -> None:
    call = make_call(holder, [], no_input_s=2.0, max_no_input=2)
    await call.start()
    await call.settle()
    for _ in range(3):
        while call.player.playing:
            await quiet(call, 0.2)
        await quiet(call, 2.1)
        await call.settle()
    assert kinds(call, "no-input") == ["1", "2", "3"]
    assert sum(TEXTS["no_input"] in t for t in kinds(call, "say")) == 2
    assert kinds(call, "escalate") == ["no_input"]
    assert kinds(call, "turn")[-1] == "转人工"
    await call.hangup()


async def test_no_match_repeats_the_menu_then_says_goodbye(holder: EngineHolder) -> None:
    mumble = "叽里咕噜哇啦哇啦"
    call = make_call(holder, ["我要换套餐", mumble, mumble, mumble], escalate="goodbye")
    await call.start()
    await call.settle()
    await say(call)
    for _ in range(3):
        while call.player.playing:
            await quiet(call, 0.2)
        await say(call)
    assert kinds(call, "no-match") == ["1", "2", "3"]
    menus = [t for t in kinds(call, "say") if "按1" in t]
    assert len(menus) >= 2  # the menu was said again after a no-match
    while call.player.playing:
        await quiet(call, 0.2)
    await quiet(call, 0.1)
    assert call.ended and kinds(call, "say")[-1] == TEXTS["goodbye"]


# ------------------------------------------------------------------ failures and hang-up
async def test_asr_failure_keeps_the_call_going(holder: EngineHolder) -> None:
    call = make_call(holder, [AsrError("识别失败", "engine crashed"), "你好"])
    await call.start()
    await call.settle()
    await say(call)
    assert kinds(call, "asr failed")
    await say(call)
    assert kinds(call, "turn")[-1] == "你好"
    await call.hangup()


async def test_caller_hanging_up_mid_prompt_saves_the_conversation(holder: EngineHolder) -> None:
    call = make_call(holder, ["我想查一下流量"])
    await call.start()
    await call.settle()
    await ticks(call, tone([150.0, 300.0], 600, RATE, -15.0), 0.6)
    await quiet(call, 0.7)  # the utterance ended: a turn is in flight
    await call.hangup()  # mid-turn
    assert call.ended and not call.player.playing
    tracker = await call.holder.engine.load_tracker(call.call_id)
    texts = [e.text for e in tracker.events if getattr(e, "text", None)]
    assert "我想查一下流量" in texts  # the turn finished and was saved
    assert await call.frame(silence(20, RATE)) == bytes(FRAME)  # nothing more is played


async def test_a_silent_ten_minute_call_stays_bounded(holder: EngineHolder) -> None:
    call = make_call(holder, [], no_input_s=6.0, escalate="goodbye")
    await call.start()
    await call.settle()
    for _ in range(10 * 60 * 5):  # 10 minutes of 200 ms slices
        if call.ended:
            break
        await quiet(call, 0.2)
        await call.settle()
    assert call.ended and kinds(call, "escalate") == ["no_input"]
    assert len(call.events) < 100


def test_scaled_frames_are_quieter() -> None:
    from channels.voice.player import _scaled

    pcm = tone([440.0], 20, RATE, -6.0)
    quieter = _scaled(pcm, 0.25)
    assert rms_dbfs(quieter) == pytest.approx(rms_dbfs(pcm) - 12.04, abs=0.2)
    assert np.frombuffer(quieter, "<i2").dtype == np.int16
    asyncio.get_event_loop_policy()  # keep asyncio imported for the async tests above


async def test_waiting_for_an_agent_hears_hold_prompts_and_no_no_input(
    holder: EngineHolder,
) -> None:
    service = holder.engine.handoff.service  # type: ignore[union-attr]
    await service.set_online("a1001", True)
    call = make_call(holder, ["转人工", "我的话费扣多了"], no_input_s=3.0)
    try:
        await call.start()
        await call.settle()
        await say(call)
        assert call.call_id in service.active, kinds(call, "say")
        while call.player.playing:
            await quiet(call, 0.2)
        await quiet(call, 21.0)
        await call.settle()
        assert TEXTS["hold"] in kinds(call, "say") and not kinds(call, "no-input")
        await say(call)  # the caller may go on talking while waiting (the agent sees it)
        assert kinds(call, "turn")[-1] == "我的话费扣多了"
    finally:
        await service.cancel(call.call_id)
        await service.set_online("a1001", False)
        await call.hangup()


async def test_a_hanging_recogniser_times_out_and_the_call_goes_on(holder: EngineHolder) -> None:
    from voice.asr.base import BufferedStream

    class HangingOnce(ScriptedAsr):
        async def _transcribe_impl(self, pcm: bytes) -> AsrResult:
            if self.heard == 0:
                self.heard += 1
                await asyncio.sleep(60)  # the engine hangs
            return await super()._transcribe_impl(pcm)

        def stream(self) -> BufferedStream:
            return BufferedStream(self, timeout=0.5)

    call = make_call(holder, [])
    call.asr = HangingOnce(["", "你好"])
    await call.start()
    await call.settle()
    await say(call)
    assert kinds(call, "asr failed")  # timed out (and its one retry), logged
    await say(call)
    assert kinds(call, "turn")[-1] == "你好"
    await call.hangup()


async def test_the_caller_can_ask_for_slower_speech(holder: EngineHolder) -> None:
    call = make_call(holder, ["你好", "说慢一点"])
    await call.start()
    await call.settle()
    await say(call)
    before = kinds(call, "turn")
    while call.player.playing:
        await quiet(call, 0.2)
    await say(call)
    assert kinds(call, "slower") == ["-30%"] and kinds(call, "turn") == before  # no bot turn
    said = kinds(call, "say")
    assert said[-2] == TEXTS["slower"] and said[-1] == said[-3]  # then the last prompt again
    assert call.voice.rate == "-30%"
    await call.hangup()
