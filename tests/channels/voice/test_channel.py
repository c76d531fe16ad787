"""The phone channel over a real server: Twilio Media Streams frames on `/voice/ws`.

The reference bot runs behind uvicorn (`LiveServer`) with the voice channel: whisper-base (the
test model) hears the committed caller recordings (tests/fixtures/audio, µ-law 8 kHz as a
carrier sends them, in real time), espeak-ng speaks. A second server without ASR checks the
token, the busy prompt and keys-only calls.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from bot.messages import OutboundMessage
from bot.server.app import create_app
from bot.server.holder import EngineHolder
from bot.server.live import LiveServer
from bot.server.settings import load_settings
from channels.voice.channel import BUSY_TEXT, Reframer, VoiceChannel
from channels.voice.config import Deaf, NoAsr, VoiceConfig, build_asr, build_tts
from channels.voice.media import L16, MediaFormat, Start
from voice.audio import read_wav, rms_dbfs, silence, ulaw_decode, ulaw_encode

AUDIO = Path(__file__).parents[2] / "fixtures" / "audio"
CALLER = "13812345678"  # 张伟 in the demo data
ULAW_8K = {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
AUDIBLE_DBFS = -40.0

pytestmark = pytest.mark.skipif(
    not (AUDIO / "query_balance_8k.wav").is_file(), reason="caller recordings missing"
)


# ------------------------------------------------------------------ a phone line
class Line:
    """A Media Streams client: sends 20 ms µ-law frames in real time, records what comes
    back (with arrival times) and echoes marks like a carrier does once they played."""

    def __init__(self, url: str, sid: str, fmt: dict[str, Any] | None = None, **params: str):
        self.sid = sid
        self.ws: ClientConnection = connect(url, proxy=None, open_timeout=5, close_timeout=5)
        self.frames: list[tuple[float, dict[str, Any]]] = []
        self.sent = 0
        self._next = time.monotonic()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        start = {
            "streamSid": sid,
            "callSid": "CA" + sid,
            "accountSid": "AC-test",
            "tracks": ["inbound"],
            "mediaFormat": fmt or ULAW_8K,
            "customParameters": params,
        }
        self.send({"event": "start", "sequenceNumber": "1", "start": start, "streamSid": sid})

    def _read(self) -> None:
        try:
            for raw in self.ws:
                frame = json.loads(raw)
                self.frames.append((time.monotonic(), frame))
                if frame.get("event") == "mark":
                    self.send({"event": "mark", "streamSid": self.sid, "mark": frame["mark"]})
        except ConnectionClosed:
            pass

    def send(self, frame: dict[str, Any] | str) -> None:
        with contextlib.suppress(ConnectionClosed):  # the server may have closed the line
            self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    def audio(self, pcm: bytes, until: Callable[[], bool] | None = None) -> None:
        """Send `pcm` (8 kHz) as 20 ms frames paced in real time; stop early once `until`."""
        for i in range(0, len(pcm), 320):
            if until is not None and until():
                return
            self._next += 0.02
            time.sleep(max(self._next - time.monotonic(), 0.0))
            if self._next < time.monotonic() - 0.2:
                self._next = time.monotonic()
            payload = base64.b64encode(ulaw_encode(pcm[i : i + 320])).decode()
            self.sent += 1
            media = {"track": "inbound", "chunk": str(self.sent), "payload": payload}
            self.send({"event": "media", "streamSid": self.sid, "media": media})

    def wait(self, until: Callable[[], bool], timeout: float) -> None:
        """Keep the line open (silence) until `until()` or fail after `timeout` seconds."""
        self.audio(silence(int(timeout * 1000), 8000), until)
        assert until(), f"timed out; transcript: {self.transcript()}"

    def dtmf(self, digit: str) -> None:
        self.send({"event": "dtmf", "streamSid": self.sid, "dtmf": {"digit": digit}})

    def stop(self) -> None:
        self.send({"event": "stop", "streamSid": self.sid, "stop": {"callSid": "CA" + self.sid}})

    def closed(self, timeout: float = 15.0) -> tuple[int | None, str | None]:
        self._reader.join(timeout)
        return self.ws.close_code, self.ws.close_reason

    # what came back
    def events(self, kind: str, since: float = 0.0) -> list[tuple[float, dict[str, Any]]]:
        return [(t, f) for t, f in list(self.frames) if f.get("event") == kind and t >= since]

    def audible(self, since: float = 0.0) -> list[float]:
        return [
            t
            for t, f in self.events("media", since)
            if rms_dbfs(ulaw_decode(base64.b64decode(f["media"]["payload"]))) > AUDIBLE_DBFS
        ]

    def transcript(self, role: str | None = None, since: float = 0.0) -> list[str]:
        lines = self.events("transcript", since)
        return [f["text"] for _, f in lines if role is None or f["role"] == role]

    def answered(self, since: float) -> bool:
        """The caller said something after `since`, and the bot answered it."""
        heard = [t for t, f in self.events("transcript", since) if f["role"] == "caller"]
        return bool(heard) and bool(self.transcript("bot", heard[0]))

    def said(self, words: str, since: float = 0.0) -> Callable[[], bool]:
        return lambda: any(words in t for t in self.transcript("bot", since))


def caller_audio(name: str) -> bytes:
    pcm, rate = read_wav(AUDIO / name)
    assert rate == 8000
    return pcm


# ------------------------------------------------------------------ servers
def serve(root: Path, tmp: Path, voice: dict[str, Any]) -> LiveServer:
    settings = load_settings(
        root,
        env={},
        overrides={
            "tracker_store": f"sqlite:///{tmp / 'tracker.db'}",
            "model_poll_seconds": 0,
            "log_format": "text",
            "channels": ("rest", "voice"),
            "channel_config": {"voice": {"prompt_cache": str(tmp / "prompts"), **voice}},
            "handoff": {"db": str(tmp / "handoff.db"), "hours": "00:00-24:00"},
        },
    )
    return LiveServer(create_app(settings))


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[pytest.MonkeyPatch]:
    from voice.asr.models import whisper_test_model

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ZHIKE_DEMO_DB", str(tmp_path_factory.mktemp("demo") / "demo.db"))
        patch.setenv("ZHIKE_WHISPER_MODEL", str(whisper_test_model()))
        yield patch


@pytest.fixture(scope="module")
def heard(
    reference_root: Path, env: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """whisper + espeak; `start` must come within a second."""
    voice = {"asr": "whisper", "tts": "espeak", "start_timeout_s": 1}
    with serve(reference_root, tmp_path_factory.mktemp("voice"), voice) as live:
        yield live.url


@pytest.fixture(scope="module")
def keys_only(
    reference_root: Path, env: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    voice = {"asr": "none", "max_calls": 1, "token": "line-secret-1"}
    with serve(reference_root, tmp_path_factory.mktemp("keys"), voice) as live:
        yield live.url


@pytest.fixture(scope="module")
def keys_only_app(
    reference_root: Path, env: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Any]]:
    """A keys-only server and its ServerState (to reach the channel from the test)."""
    voice = {"asr": "none", "token": "line-secret-1"}
    with serve(reference_root, tmp_path_factory.mktemp("links"), voice) as live:
        yield live.url, live.server.config.app.state.zhike


def ws_url(base: str, query: str = "") -> str:
    return base.replace("http://", "ws://") + "/voice/ws" + query


# ------------------------------------------------------------------ a whole call
@pytest.mark.slow
def test_a_call_from_greeting_to_hang_up(heard: str) -> None:
    line = Line(ws_url(heard), "MZ-full", caller=CALLER, transcript="1")
    line.send("this is not json")  # bad frames are skipped, the call goes on
    line.send({"event": "media", "streamSid": "MZ-full", "media": {"payload": "%%%"}})
    line.wait(lambda: bool(line.audible()), 10)  # the greeting
    assert any("小知" in t for t in line.transcript("bot"))
    line.wait(lambda: not line.audible(time.monotonic() - 0.6), 10)  # … and its end

    line.audio(caller_audio("change_plan_8k.wav"))  # 我想换个套餐
    spoken = time.monotonic()
    line.wait(line.said("按1", spoken), 25)  # the plan menu
    assert any("套餐" in t for t in line.transcript("caller", spoken - 3))
    line.wait(lambda: bool(line.audible(spoken)), 5)
    latency = line.audible(spoken)[0] - spoken
    print(f"\nend of caller audio → first reply audio frame: {latency:.2f} s")
    assert latency < 15

    menu_at = time.monotonic()
    line.dtmf("1")  # the first plan, by key
    line.wait(lambda: bool(line.transcript("bot", menu_at)), 10)
    assert line.transcript("caller", menu_at)[0] == "（按键 1）"

    barge = time.monotonic()
    line.audio(caller_audio("query_data_usage_8k.wav"))  # 帮我查查流量还剩多少, over the prompt
    assert line.events("clear", barge), "speaking over a prompt must clear the far end"
    line.wait(lambda: line.answered(barge), 25)
    assert any("还剩" in t for t in line.transcript("caller", barge)), line.transcript()
    line.wait(lambda: bool(line.audible(time.monotonic() - 0.2)), 5)  # the answer is spoken

    line.stop()
    assert line.closed()[0] is not None
    tracker = httpx.get(heard + "/conversations/MZ-full/tracker", timeout=10).json()
    said = [e.get("text") or "" for e in tracker["events"] if e["event"] == "user"]
    assert said[0] == "/greet" and "套餐" in said[1], said
    assert said[2].startswith("/inform") and "plan" in said[2], said  # key 1 → the button
    assert "还剩" in said[3], said  # the last words are saved after the hang-up
    callers = {
        e.get("metadata", {}).get("caller") for e in tracker["events"] if e["event"] == "user"
    }
    assert callers == {CALLER}, callers  # the caller id from customParameters


def test_unsupported_audio_is_refused(heard: str) -> None:
    fmt = {"encoding": "audio/opus", "sampleRate": 48000, "channels": 1}
    line = Line(ws_url(heard), "MZ-opus", fmt)
    code, reason = line.closed()
    assert code == 1003 and reason and "audio/opus" in reason


def test_a_stream_without_start_is_closed(heard: str) -> None:
    ws = connect(ws_url(heard), proxy=None)
    ws.send(json.dumps({"event": "connected"}))
    started = time.monotonic()
    with pytest.raises(ConnectionClosed):
        while True:
            ws.recv(timeout=5)
    assert ws.close_code == 1008 and ws.close_reason == "no start event"
    assert time.monotonic() - started < 3


# ------------------------------------------------------------------ token, busy, keys
def test_the_softphone_page_is_served(keys_only: str) -> None:
    page = httpx.get(keys_only + "/voice", timeout=10)
    assert page.status_code == 200 and "拨打" in page.text and "/static/voice.js" in page.text
    assert httpx.get(keys_only + "/static/voice.js", timeout=10).status_code == 200


def test_token_is_required_when_configured(keys_only: str) -> None:
    line = Line(ws_url(keys_only), "MZ-no-token")
    assert line.closed() == (1008, "invalid or missing token")
    line = Line(ws_url(keys_only, "?token=wrong-secret"), "MZ-bad-token")
    assert line.closed()[0] == 1008


def test_callers_beyond_max_calls_hear_the_busy_prompt(keys_only: str) -> None:
    url = ws_url(keys_only, "?token=line-secret-1")
    first = Line(url, "MZ-first", transcript="1")
    first.wait(lambda: bool(first.audible()), 10)  # the greeting: the call is live
    quiet = time.monotonic()
    time.sleep(1.0)  # the line sends nothing: the server keeps the prompt going on its own clock
    assert 40 <= len(first.events("media", quiet)) <= 60 and first.audible(quiet)
    second = Line(url, "MZ-second")
    code, reason = second.closed()
    assert (code, reason) == (1013, "busy")
    prompt = second.events("media")
    assert len(prompt) > 100 and second.audible()  # 抱歉，当前来电较多… (seconds of speech)
    assert second.events("mark")  # the close waited for the prompt to be played
    assert len(BUSY_TEXT) > 5

    first.dtmf("*")  # keys work without ASR: * repeats the last prompt
    first.wait(lambda: "（按键 *）" in first.transcript("caller"), 5)
    first.stop()
    assert first.closed()[0] is not None


def test_after_call_links_are_sent_once_when_the_caller_hangs_up(keys_only_app: Any) -> None:
    """A notice queued during the call (the roaming action's SMS link) goes out at hang-up."""
    import asyncio

    from bot.dialogue.events import SlotSet
    from bot.notify import Notice

    server, state = keys_only_app
    sent: list[Notice] = []

    class Recorder:
        async def send(self, notice: Notice) -> None:
            sent.append(notice)

    channel = state.channels["voice"]
    channel.notifier = Recorder()
    assert channel.loop is not None
    line = Line(ws_url(server, "?token=line-secret-1"), "MZ-links", caller=CALLER)
    line.wait(lambda: "MZ-links" in channel.calls, 5)
    notice = {
        "channel": "sms",
        "text": "【小知】国际漫游资费详情：",
        "url": "https://example.com/r",
    }
    future = asyncio.run_coroutine_threadsafe(
        state.holder.engine.inject("MZ-links", [SlotSet(key="after_call_notices", value=[notice])]),
        channel.loop,
    )
    future.result(10)
    line.stop()
    line.closed()
    deadline = time.monotonic() + 10
    while not sent and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [(n.to, n.channel, n.url) for n in sent] == [(CALLER, "sms", "https://example.com/r")]


# ------------------------------------------------------------------ units
async def test_agents_messages_are_spoken_on_the_live_call(
    reference_root: Path, env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from bot import model as model_io
    from bot.runtime import build_engine

    model = model_io.load(model_io.latest(reference_root / "models"))
    holder = EngineHolder(build_engine(reference_root, model, store_url="memory://"))
    config = VoiceConfig.from_mapping({"asr": "none", "prompt_cache": str(tmp_path)})
    channel = VoiceChannel(holder, config, NoAsr(), build_tts(config, tmp_path))
    call = channel._new_call(Start("MZ-agent", media_format=MediaFormat(L16, 16000)))
    channel.calls[call.call_id] = call
    await channel.send("MZ-agent", [OutboundMessage(kind="text", text="您好，我是客服小王。")])
    assert call.player.playing and ("say" in {k for _, k, _ in call.events})
    assert call.player.rate == 16000 and isinstance(call.endpointer.vad, Deaf)
    await channel.close()  # hangs up the live calls
    assert call.ended
    await channel.send("MZ-gone", [OutboundMessage(kind="text", text="…")])  # no call: dropped


def test_reframer_cuts_any_chunks_into_20ms_frames() -> None:
    frames = Reframer(8000)
    assert frames.feed(b"\1" * 100) == []
    out = frames.feed(b"\2" * 700)
    assert [len(f) for f in out] == [320, 320] and out[0][:100] == b"\1" * 100
    assert [len(f) for f in frames.feed(b"\3" * 160)] == [320]


def test_config_defaults_and_every_problem_at_once() -> None:
    config = VoiceConfig.from_mapping({})
    assert (config.asr, config.tts, config.max_calls, config.token) == (None, "espeak", 20, "")
    assert config.prompt_dir(Path("/p")) == Path("/p/.zhike/prompts")
    assert config.call_settings(16000).rate == 16000
    with pytest.raises(ValueError) as err:
        VoiceConfig.from_mapping(
            {"asr": "siri", "tts": "x", "max_calls": 0, "voice_rate": "fast", "token": "short"}
        )
    message = str(err.value)
    for word in ("asr", "tts", "max_calls", "voice_rate", "token"):
        assert word in message


def test_asr_defaults_to_keys_only_and_a_named_engine_must_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ZHIKE_ASR", "ZHIKE_VOSK_MODEL", "ZHIKE_WHISPER_MODEL"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(build_asr(VoiceConfig.from_mapping({}), tmp_path), NoAsr)
    with pytest.raises(ValueError, match="ZHIKE_WHISPER_MODEL"):
        build_asr(VoiceConfig.from_mapping({"asr": "whisper"}), tmp_path)
