"""The phone channel's settings (the `voice:` section of credentials.yml) and the speech
engines they name.

```yaml
voice:
  asr: whisper            # vosk | whisper | none (default: the model configured for voice.asr
                          # in endpoints.yml / ZHIKE_* variables, else none = keys only)
  tts: espeak             # espeak (offline, default) | edge (online, falls back to espeak)
  voice: zh-CN-XiaoxiaoNeural
  voice_rate: "+0%"       # speaking rate, edge-tts notation
  prompt_cache: .zhike/prompts   # synthesised prompts (relative to the project)
  max_calls: 20           # concurrent calls; more callers hear a polite busy prompt
  no_input_s: 6           # silence before a reprompt
  max_no_input: 2
  max_no_match: 2
  escalate: handoff       # handoff | goodbye (after too many no-input / no-match)
  digit_timeout_s: 3
  token: "…"              # optional: the media WebSocket then requires ?token=…
```
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from channels.voice.call import CallSettings
from voice.asr.base import AsrEngine, AsrError, AsrResult
from voice.tts.base import TtsEngine, Voice

log = logging.getLogger(__name__)

ASR_CHOICES = ("vosk", "whisper", "none")
TTS_CHOICES = ("espeak", "edge")
ESCALATE_CHOICES = ("handoff", "goodbye")
DEFAULT_PROMPTS = Path(".zhike") / "prompts"
KNOWN_KEYS = frozenset(
    {
        "asr",
        "tts",
        "voice",
        "voice_rate",
        "prompt_cache",
        "edge_endpoint",
        "max_calls",
        "no_input_s",
        "max_no_input",
        "max_no_match",
        "escalate",
        "digit_timeout_s",
        "token",
        "start_timeout_s",
        "inband_dtmf",
        "sip",  # the SIP transport (voice.telephony.config.SipConfig)
    }
)
_RATE = re.compile(r"^[+-]\d{1,3}%$")


@dataclass(frozen=True, slots=True)
class VoiceConfig:
    asr: str | None = None  # None: the configured default engine (voice.asr.models)
    tts: str = "espeak"
    voice: Voice = field(default_factory=Voice)
    prompt_cache: Path = DEFAULT_PROMPTS  # relative paths: against the project folder
    edge_endpoint: str | None = None  # another server speaking the edge-tts protocol
    max_calls: int = 20
    no_input_s: float = 6.0
    max_no_input: int = 2
    max_no_match: int = 2
    escalate: str = "handoff"
    digit_timeout_s: float = 3.0
    token: str = ""  # required as ?token= on /voice/ws when set
    start_timeout_s: float = 10.0  # a stream must send `start` within this
    inband_dtmf: bool = True  # also detect keys in the audio (Goertzel)

    def prompt_dir(self, project: Path) -> Path:
        path = self.prompt_cache.expanduser()
        return path if path.is_absolute() else project / path

    def call_settings(self, rate: int) -> CallSettings:
        return CallSettings(
            rate=rate,
            no_input_s=self.no_input_s,
            max_no_input=self.max_no_input,
            max_no_match=self.max_no_match,
            escalate=self.escalate,
            digit_timeout_s=self.digit_timeout_s,
            voice=self.voice,
        )

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> VoiceConfig:
        """Every problem is reported at once (a `ValueError`, Chinese / English)."""
        raw = raw or {}
        problems: list[str] = []
        unknown = sorted(set(map(str, raw)) - KNOWN_KEYS)
        if unknown:
            problems.append(f"未知配置项 {', '.join(unknown)} / unknown keys {', '.join(unknown)}")
        asr = _choice(raw, "asr", None, ASR_CHOICES, problems)
        tts = _choice(raw, "tts", "espeak", TTS_CHOICES, problems) or "espeak"
        escalate = _choice(raw, "escalate", "handoff", ESCALATE_CHOICES, problems) or "handoff"
        rate = str(raw.get("voice_rate") or "+0%").strip()
        if not _RATE.match(rate):
            problems.append(
                'voice_rate 应形如 "+10%" 或 "-5%" / voice_rate must look like "+10%" or "-5%"'
            )
        numbers = {
            "max_calls": _number(raw, "max_calls", 20, problems, whole=True),
            "no_input_s": _number(raw, "no_input_s", 6.0, problems),
            "max_no_input": _number(raw, "max_no_input", 2, problems, whole=True, zero=True),
            "max_no_match": _number(raw, "max_no_match", 2, problems, whole=True, zero=True),
            "digit_timeout_s": _number(raw, "digit_timeout_s", 3.0, problems),
            "start_timeout_s": _number(raw, "start_timeout_s", 10.0, problems),
        }
        token = str(raw.get("token") or "").strip()
        if raw.get("token") is not None and len(token) < 8:
            problems.append("token 至少需要 8 个字符 / token needs at least 8 characters")
        inband = raw.get("inband_dtmf", True)
        if not isinstance(inband, bool):
            problems.append("inband_dtmf 须为 true 或 false / inband_dtmf must be true or false")
        if problems:
            raise ValueError("; ".join(problems))
        voice = Voice(name=str(raw.get("voice") or Voice().name).strip(), rate=rate)
        return cls(
            asr=asr,
            tts=tts,
            voice=voice,
            prompt_cache=Path(str(raw.get("prompt_cache") or DEFAULT_PROMPTS)),
            edge_endpoint=str(raw["edge_endpoint"]) if raw.get("edge_endpoint") else None,
            max_calls=int(numbers["max_calls"]),
            no_input_s=numbers["no_input_s"],
            max_no_input=int(numbers["max_no_input"]),
            max_no_match=int(numbers["max_no_match"]),
            escalate=escalate,
            digit_timeout_s=numbers["digit_timeout_s"],
            token=token,
            start_timeout_s=numbers["start_timeout_s"],
            inband_dtmf=bool(inband),
        )


def _choice(
    raw: Mapping[str, Any],
    name: str,
    default: str | None,
    choices: tuple[str, ...],
    problems: list[str],
) -> str | None:
    value = raw.get(name)
    if value in (None, ""):
        return default
    text = str(value).strip().lower()
    if text not in choices:
        problems.append(
            f"{name} 应为 {' / '.join(choices)} / {name} must be one of {', '.join(choices)}"
        )
        return default
    return text


def _number(
    raw: Mapping[str, Any],
    name: str,
    default: float,
    problems: list[str],
    *,
    whole: bool = False,
    zero: bool = False,
) -> float:
    """A positive number (`zero`: 0 allowed too)."""
    value = raw.get(name, default)
    try:
        if isinstance(value, bool):
            raise TypeError(name)
        number = float(value)
    except (TypeError, ValueError):
        problems.append(f"{name} 须为数字 / {name} must be a number")
        return default
    if whole and number != int(number):
        problems.append(f"{name} 须为整数 / {name} must be a whole number")
    elif number < 0 or (number == 0 and not zero):
        zh, en = ("不能为负", "must not be negative") if zero else ("须大于 0", "must be positive")
        problems.append(f"{name} {zh} / {name} {en}")
    return number


# ---------------------------------------------------------------- engines
class NoAsr(AsrEngine):
    """`asr: none`: the line understands keys only (never asked: its VAD hears nothing)."""

    name = "none"
    rate = 16000

    async def _transcribe_impl(self, pcm: bytes) -> AsrResult:
        return AsrResult("", (), True, self.name, 0.0)


class Deaf:
    """The VAD for `asr: none`: no speech, so noise never ducks or stops a prompt."""

    def __init__(self, rate: int) -> None:
        self.rate = rate

    def is_speech(self, frame: bytes) -> bool:
        return False


def build_asr(config: VoiceConfig, project: Path) -> AsrEngine:
    """The recogniser `asr:` names; by default the configured one, else keys only."""
    from voice.asr.models import load_engine, voice_settings

    try:
        if config.asr == "none":
            return NoAsr()
        if config.asr is None and voice_settings(project).default_engine() is None:
            log.warning(
                "电话渠道未配置语音识别模型，仅支持按键（运行 zhike voice models 查看配置方法）/ "
                "voice: no ASR model configured, callers can use keys only "
                "(see `zhike voice models`)"
            )
            return NoAsr()
        return load_engine(config.asr, project)
    except AsrError as exc:
        raise ValueError(f"asr: {exc}") from exc


def build_tts(config: VoiceConfig, project: Path) -> TtsEngine:
    """espeak-ng (offline), or edge-tts falling back to espeak-ng; behind the prompt cache."""
    from voice.tts.cache import CachedEngine, PromptCache
    from voice.tts.espeak import EspeakEngine

    engine: TtsEngine = EspeakEngine()
    if config.tts == "edge":
        from voice.tts.edge import EdgeEngine
        from voice.tts.fallback import FallbackEngine

        engine = FallbackEngine(EdgeEngine(endpoint=config.edge_endpoint), engine)
    return CachedEngine(engine, PromptCache(config.prompt_dir(project)))
