"""One phone call through the engine: audio and keys in, the bot's voice out.

The transport calls `frame()` once per 20 ms frame it receives (or with None when the line
sent nothing for a frame) and sends back the frame it returns; `dtmf()` for out-of-band keys,
`hangup()` when the caller leaves. Call time is the number of frames × 20 ms, so every timer
(no-input, inter-digit) is exact and tests run faster than real time.

- **Listening**: the `Endpointer` finds utterances; each is streamed to the ASR engine; the
  final n-best goes to the engine as one turn. In-band DTMF (Goertzel) runs on the same audio.
- **Barge-in**: a key stops an interruptible prompt at once; speech ducks it at once (one
  frame) and stops it when the words are known not to be a filler (嗯, 好的, 对 … resume it)
  or after `barge_in_s` of speech. Non-interruptible prompts (legal notices) play through and
  speech heard during them is dropped.
- **Menus**: buttons are spoken as "按1…"; a key or the words both work. `*` repeats.
- **Digits**: when the bot asks for a slot of `digit_slots` (phone number, ID tail), keys are
  collected until the length, `#`, or `digit_timeout_s` of silence.
- **No-input / no-match**: reprompt, and after `max_no_input` / `max_no_match` escalate to a
  human (`escalate: handoff`) or say goodbye and hang up.
- **Handoff**: the engine's handoff queues the caller; agents' messages are spoken
  (`say_messages`); no-input is off while a handoff is active.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from bot.dialogue.events import ActionExecuted, SlotSet, UserUttered
from bot.engine import TurnResult
from bot.messages import InboundMessage, OutboundMessage
from bot.server.holder import EngineHolder
from channels.voice.player import Player, Prompt
from channels.voice.spoken import Utterance, speak
from voice.asr.base import AsrEngine, AsrError, AsrResult, AsrStream
from voice.audio import resample
from voice.dtmf import DtmfDetector
from voice.tts.base import TtsEngine, TtsError, Voice
from voice.vad import SPEECH_START, Endpointer, Vad, WebRtcVad

log = logging.getLogger(__name__)
FRAME_S = 0.02
CHANNEL = "voice"
FILLERS = frozenset(
    {"嗯", "嗯嗯", "啊", "哦", "噢", "呃", "额", "好", "好的", "对", "对对", "是", "是的", "行"}
)
FALLBACK_INTENTS = frozenset({"nlu_fallback"})
FALLBACK_ACTIONS = frozenset({"action_default_fallback", "action_two_stage_fallback"})
TEXTS = {
    "no_input": "抱歉，我没有听到您的声音。",
    "no_match": "抱歉，我没有听清楚。",
    "goodbye": "感谢您的来电，再见。",
    "escalate": "我为您转接人工客服，请稍候。",
    "failed": "抱歉，系统暂时有点忙，请您稍后再试。",
    "hold": "人工客服正在接入，请您不要挂机，稍等片刻。",
    "slower": "好的，我说慢一点。",
}
_PUNCT = re.compile(r"[\s，。！？、,.!?~～…]+")
# "说慢一点" and its variants: the caller asks for slower speech
_SLOWER = re.compile(
    r"^(请|麻烦)?(你|您)?(能不能|可以)?(再)?(说|讲)?(得)?(再)?慢(一)?(点|些)(儿)?(好吗|行吗|吧|啊)?$"
)


@dataclass(frozen=True, slots=True)
class CallSettings:
    rate: int = 8000  # the line's sample rate
    no_input_s: float = 6.0
    max_no_input: int = 2  # reprompts before escalating
    max_no_match: int = 2
    escalate: str = "handoff"  # handoff | goodbye
    digit_timeout_s: float = 3.0
    digit_slots: Mapping[str, int] = field(
        default_factory=lambda: {"phone_number": 11, "id_tail": 6}
    )
    barge_in_s: float = 0.8  # speech this long stops a prompt even before words are known
    end_silence_ms: int = 500  # + webrtcvad's ~110 ms hangover ≈ 0.6 s of real silence
    greet_payload: str = "/greet"
    slow_rate: str = "-30%"  # the voice rate after "说慢一点"
    hold_every_s: float = 20.0  # a hold prompt this often while the caller waits for an agent
    voice: Voice = field(default_factory=Voice)
    tts_timeout: float = 10.0
    asr_timeout: float = 10.0
    fillers: frozenset[str] = FILLERS


def plain(text: str) -> str:
    return _PUNCT.sub("", text)


class Call:
    def __init__(
        self,
        call_id: str,
        caller: str,
        holder: EngineHolder,
        asr: AsrEngine,
        tts: TtsEngine,
        settings: CallSettings | None = None,
        *,
        vad: Vad | None = None,
        inband_dtmf: bool = True,
    ) -> None:
        self.call_id, self.caller = call_id, caller
        self.holder, self.asr, self.tts = holder, asr, tts
        self.settings = s = settings or CallSettings()
        self.player = Player(s.rate)
        self.endpointer = Endpointer(vad or WebRtcVad(s.rate), end_silence_ms=s.end_silence_ms)
        self.dtmf_detector = DtmfDetector(s.rate) if inband_dtmf else None
        self.now = 0.0
        self.ended = False
        self.events: list[tuple[float, str, str]] = []  # (call time, kind, detail): the call log
        # (stage, time.monotonic()): speech_end, asr_final, turn_done, tts_done (benchmarks)
        self.marks: deque[tuple[str, float]] = deque(maxlen=64)
        self._turns: list[asyncio.Task[None]] = []
        self._listen: asyncio.Queue[bytes | None] | None = None
        self._heard_at = 0.0  # speech_start time of the utterance being heard
        self._digits, self._digit_at, self._collect = "", 0.0, 0
        self._no_input = self._no_match = 0
        self._silent_since: float | None = None
        self._last: list[Utterance] = []
        self._menu: Utterance | None = None
        self._hangup_when_done = False
        self.voice = s.voice
        self.handoffs: list[dict[str, str]] = []  # handoff metadata, as the engine opened them

    # ------------------------------------------------------------ transport side
    async def start(self) -> None:
        self._note("start", self.caller)
        self._submit(self._message(payload=self.settings.greet_payload))

    async def frame(self, pcm: bytes | None) -> bytes:
        """One 20 ms tick: the caller's frame in (None: nothing arrived), ours out."""
        self.now += FRAME_S
        if pcm is not None and not self.ended:
            self._hear(pcm)
        self._timers()
        out = self.player.next_frame()
        if self._hangup_when_done and not self.player.playing and not self.busy:
            self._end("bot hung up")
        return out

    async def dtmf(self, digit: str) -> None:
        """An out-of-band key (RFC 4733 / the transport's dtmf event)."""
        self._key(digit)

    async def hangup(self) -> None:
        """The caller left: stop talking; the turn in flight still finishes and is saved."""
        self._end("caller hung up")
        self.player.queue.clear()
        if self._listen is not None:
            self._listen.put_nowait(None)
        await self.settle(timeout=10.0)

    async def say_messages(self, messages: list[OutboundMessage]) -> None:
        """Messages from outside a turn (an agent's reply, a handoff notice)."""
        await self._say(speak(messages))
        self._after(messages)

    def note(self, kind: str, detail: str) -> None:
        """Add a line to the call log (transports: transfers, line events)."""
        self._note(kind, detail)

    async def announce(self, text: str) -> None:
        """Say one sentence outside a turn that the caller cannot interrupt (a hold prompt)."""
        await self._say([Utterance(text, interruptible=False)], keep=False)

    async def settle(self, timeout: float = 30.0) -> None:
        """Wait for recognition, turns and speech synthesis in flight (a recognition may start
        a turn, which is waited for too)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while pending := [t for t in self._turns if not t.done()]:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return
            await asyncio.wait(pending, timeout=left)

    @property
    def busy(self) -> bool:
        return any(not t.done() for t in self._turns)

    # ------------------------------------------------------------ hearing
    def _hear(self, pcm: bytes) -> None:
        if self.dtmf_detector is not None:
            for tone in self.dtmf_detector.feed(pcm):
                self._key(tone.digit)
        for event in self.endpointer.feed(pcm):
            if event.kind == SPEECH_START:
                self._speech_started(event.audio)
            else:
                self._speech_ended(event.kind)
        if self.endpointer.speaking and self._listen is not None:
            self._listen.put_nowait(pcm)

    def _speech_started(self, audio: bytes) -> None:
        self._silent_since = None
        if self.player.playing and not self.player.interruptible:
            self._note("speech ignored", "non-interruptible prompt")
            return
        self._heard_at = self.now
        self.player.duck()
        self._listen = asyncio.Queue()
        self._listen.put_nowait(audio)
        self._track(self._recognise(self._listen, self.asr.stream()))

    def _speech_ended(self, kind: str) -> None:  # speech_end or timeout (max length)
        self._mark("speech_end")
        if self._listen is not None:
            self._listen.put_nowait(None)
            self._listen = None

    async def _recognise(self, frames: asyncio.Queue[bytes | None], stream: AsrStream) -> None:
        try:
            while (chunk := await frames.get()) is not None:
                partial = await stream.feed(self._asr_audio(chunk))
                if partial is not None and self._is_words(partial.text):
                    self._barge_in("words")
            result = await stream.finish()
            self._mark("asr_final")
        except AsrError as exc:
            self._note("asr failed", str(exc))
            self.player.restore()
            return
        self._heard(result)

    def _asr_audio(self, pcm: bytes) -> bytes:
        rate = self.asr.rate
        return pcm if rate == self.settings.rate else resample(pcm, self.settings.rate, rate)

    def _heard(self, result: AsrResult) -> None:
        text = result.text.strip()
        self._note("heard", text)
        if not plain(text):
            self.player.restore()
            return
        if plain(text) in self.settings.fillers and self.player.playing:
            self._note("filler", text)
            self.player.restore()
            return
        if _SLOWER.match(plain(text)):
            self._slower()
            return
        self._barge_in("utterance")
        nbest = [(h.text, h.confidence) for h in result.nbest]
        self._submit(self._message(text=text, asr_nbest=nbest))

    def _slower(self) -> None:
        """From now on speak slower (a new voice rate: prompts are synthesised again)."""
        self._barge_in("slower")
        self.voice = replace(self.voice, rate=self.settings.slow_rate)
        self._note("slower", self.voice.rate)
        self._track(self._say([Utterance(TEXTS["slower"]), *self._last], keep=False))

    def _is_words(self, text: str) -> bool:
        words = plain(text)
        return bool(words) and not any(f.startswith(words) for f in self.settings.fillers)

    def _barge_in(self, why: str) -> None:
        if self.player.playing and self.player.stop():
            self._note("barge-in", why)

    # ------------------------------------------------------------ keys
    def _key(self, digit: str) -> None:
        self._note("dtmf", digit)
        self._silent_since = None
        self._barge_in("dtmf")
        if self._collect:
            if digit == "#":
                self._submit_digits()
                return
            self._digits += digit
            self._digit_at = self.now
            if len(self._digits) >= self._collect:
                self._submit_digits()
            return
        if digit == "*":
            self._track(self._say(self._last))
            return
        self._submit(self._message(text=digit, dtmf=digit))

    def _submit_digits(self) -> None:
        digits, self._digits, self._collect = self._digits, "", 0
        if digits:
            self._submit(self._message(text=digits, dtmf=digits))

    # ------------------------------------------------------------ timers
    def _timers(self) -> None:
        s = self.settings
        if self._collect and self._digits and self.now - self._digit_at >= s.digit_timeout_s:
            self._submit_digits()
        if self._listen is not None and self.now - self._heard_at >= s.barge_in_s:
            self._barge_in("long speech")
        if self.ended or self.busy or self.player.playing or self.endpointer.speaking:
            self._silent_since = None
            return
        if self._hangup_when_done:
            return
        if self._in_handoff():
            self._hold()
            return
        if self._silent_since is None:
            self._silent_since = self.now
        elif self.now - self._silent_since >= s.no_input_s:
            self._silent_since = None
            self._no_input += 1
            self._note("no-input", str(self._no_input))
            if self._no_input > s.max_no_input:
                self._escalate("no_input")
            else:
                self._track(self._say([Utterance(TEXTS["no_input"]), *self._last], keep=False))

    def handoff_state(self) -> str | None:
        """This call's active handoff state (queued, assigned, with_agent), None when none."""
        service = getattr(self.holder.engine.handoff, "service", None)
        state = getattr(service, "active", {}).get(self.call_id) if service else None
        return None if state is None else str(getattr(state, "value", state))

    def _in_handoff(self) -> bool:
        return self.handoff_state() is not None

    def _hold(self) -> None:
        """While the caller waits for an agent: a hold prompt every `hold_every_s` of quiet."""
        if self.handoff_state() not in ("queued", "assigned"):
            self._silent_since = None
            return
        if self._silent_since is None:
            self._silent_since = self.now
        elif self.now - self._silent_since >= self.settings.hold_every_s:
            self._silent_since = None
            self._track(self._say([Utterance(TEXTS["hold"])], keep=False))

    def _escalate(self, reason: str) -> None:
        self._note("escalate", reason)
        self._no_input = self._no_match = 0
        if self.settings.escalate == "handoff" and self.holder.engine.handoff is not None:
            shown = (
                "（来电无应答，自动转人工）"
                if reason == "no_input"
                else "（多次未能识别，自动转人工）"
            )
            message = self._message(text="转人工", metadata={"display_text": shown})
            self._submit(message)
            return
        self._hangup_when_done = True
        self._track(self._say([Utterance(TEXTS["goodbye"], interruptible=False)], keep=False))

    # ------------------------------------------------------------ turns
    def _message(self, **fields: object) -> InboundMessage:
        metadata = dict(fields.pop("metadata", {}) or {})  # type: ignore[call-overload]
        metadata.update(call_id=self.call_id, caller=self.caller)
        return InboundMessage(
            channel=CHANNEL,
            conversation_id=self.call_id,
            sender_id=self.caller,
            metadata=metadata,
            **fields,  # type: ignore[arg-type]
        )

    def _submit(self, message: InboundMessage) -> None:
        """Run a turn (after a hang-up too: what the caller said is kept, nothing is said)."""
        self._silent_since = None
        self._track(self._turn(message))

    def _track(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        self._turns = [t for t in self._turns if not t.done()]
        self._turns.append(task)

    async def _turn(self, message: InboundMessage) -> None:
        self._note("turn", message.payload or message.text)
        try:
            result = await self.holder.engine.handle_turn(message)
            self._mark("turn_done")
        except Exception:
            log.exception("voice turn failed on call %s", self.call_id)
            await self._say([Utterance(TEXTS["failed"])], keep=False)
            return
        if self.ended:
            return
        missed = self._count(result)
        self._collect = self._digits_wanted(result)
        spoken = speak(result.messages)
        if missed and self._menu is not None and not any(u.menu for u in spoken):
            spoken.append(self._menu)  # no-match: say the menu again
        await self._say(spoken)
        self._after(result.messages)

    def _after(self, messages: list[OutboundMessage]) -> None:
        kinds = {m.kind for m in messages}
        if "hangup" in kinds:
            self._hangup_when_done = True
        for message in messages:
            if message.kind == "handoff":
                self.handoffs.append({k: str(v) for k, v in message.metadata.items()})
                self._note("handoff", str(message.metadata))

    def _count(self, result: TurnResult) -> bool:
        """No-match bookkeeping (True for a no-match): reprompt with the menu, then escalate."""
        intents = {e.intent_name for e in result.events if isinstance(e, UserUttered)}
        actions = {e.name for e in result.events if isinstance(e, ActionExecuted)}
        if not (intents & FALLBACK_INTENTS or actions & FALLBACK_ACTIONS):
            self._no_match = self._no_input = 0
            return False
        self._no_match += 1
        self._note("no-match", str(self._no_match))
        if self._no_match > self.settings.max_no_match:
            self._escalate("no_match")
        return True

    def _digits_wanted(self, result: TurnResult) -> int:
        asked = [
            e.value for e in result.events if isinstance(e, SlotSet) and e.key == "requested_slot"
        ]
        return self.settings.digit_slots.get(str(asked[-1]), 0) if asked and asked[-1] else 0

    async def _say(self, utterances: list[Utterance], keep: bool = True) -> None:
        if keep and utterances:
            self._last = list(utterances)
            self._menu = next((u for u in utterances if u.menu), self._menu)
        for utterance in utterances:
            try:
                speech = await self.tts.synthesize(
                    utterance.text, self.voice, timeout=self.settings.tts_timeout
                )
            except TtsError as exc:
                self._note("tts failed", str(exc))
                continue
            self._mark("tts_done")
            if self.ended:
                return
            pcm = resample(speech.pcm, speech.rate, self.settings.rate)
            self.player.play(Prompt(pcm, utterance.text, utterance.interruptible))
            self._note("say", utterance.text)

    def _note(self, kind: str, detail: str) -> None:
        self.events.append((round(self.now, 2), kind, detail))
        log.debug("call %s %.2fs %s %s", self.call_id, self.now, kind, detail)

    def _mark(self, stage: str) -> None:
        self.marks.append((stage, time.monotonic()))

    def _end(self, why: str) -> None:
        if not self.ended:
            self.ended = True
            self._note("end", why)
