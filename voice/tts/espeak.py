"""Offline TTS with espeak-ng: the engine that always works (robotic, but intelligible).

Debian's `cmn` voice reads Chinese characters as English letter names, so Chinese text is
first turned into tone-numbered pinyin with pypinyin (`ni3 hao3`) and read by the
`cmn-latn-pinyin` voice. Numbers and IVR symbols are spelled out in Chinese first
(`10086` → 幺零零八六, `0.15元/分钟` → 零点一五元每分钟, `#` → 井号); Latin words go to an
English voice (`APP` is spelled letter by letter, as Chinese speakers say it). Punctuation
becomes pauses.

espeak-ng runs as an async subprocess (text as one argument after `--`, never through a
shell; no stdin pipe, which uvloop could close under us) and writes a
WAV to stdout; the base class resamples it to 16 kHz.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass

import cn2an
from pypinyin import Style, lazy_pinyin

from voice.audio import AudioError, read_wav, resample
from voice.tts.base import Speech, TtsEngine, TtsError, Voice, mark_first_byte

INSTALL_HINT_ZH = "未找到 espeak-ng，请先安装：apt-get install espeak-ng"
INSTALL_HINT_EN = "espeak-ng not found; install it with: apt-get install espeak-ng"

CHINESE_VOICE = "cmn-latn-pinyin"
ENGLISH_VOICE = "en-us"
BASE_SPEED = 175  # espeak-ng's default words per minute
_MIN_SPEED, _MAX_SPEED = 80, 450

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_DIGIT_NAMES = dict(zip("0123456789", "零幺二三四五六七八九", strict=True))
_SPECIAL_SYLLABLES = {"n": "en", "ng": "en", "m": "mu", "hm": "hen", "hng": "heng"}
_SYLLABLE = re.compile(r"([a-zü]+?)([1-5])")


# ----------------------------------------------------------------- numbers and symbols


def _clock(m: re.Match[str]) -> str:
    hour, minute = int(m.group(1)), int(m.group(2))
    text = f"{cn2an.an2cn(hour)}点"
    if minute:
        text += ("零" if minute < 10 else "") + f"{cn2an.an2cn(minute)}分"
    return text


def _digits(m: re.Match[str]) -> str:
    return "".join(_DIGIT_NAMES[d] for d in m.group())


def _grouped_digits(m: re.Match[str]) -> str:
    return "，".join("".join(_DIGIT_NAMES[d] for d in group) for group in m.group().split("-"))


def _star_or_hash(m: re.Match[str]) -> str:
    word = "井" if m.group(1) == "#" else "星"
    return f"{word}号"  # 按#号键 and 按# both read 井号


def _an2cn(text: str) -> str:
    try:
        return str(cn2an.transform(text, "an2cn"))
    except (ValueError, KeyError, IndexError, TypeError):  # cn2an gives up on odd shapes
        return text


# (pattern, replacement): applied in order before cn2an reads the remaining numbers.
_READOUT: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"(?<![\d.])\d{3,4}(?:-\d{3,8}){1,2}(?![\d.])"), _grouped_digits),  # 400-800-1234
    (re.compile(r"(?<=\d)\s*[-~～—]+\s*(?=\d)"), "至"),
    (re.compile(r"(?<![\d.])([01]?\d|2[0-3])[:：]([0-5]\d)(?![\d.])"), _clock),
    (re.compile(r"(?<![\d.])(?:\d{5,}|0\d+)(?![\d.])"), _digits),  # phone, order numbers
    (re.compile(r"([#*])(号)?"), _star_or_hash),
    (re.compile(rf"(?<=[\d元角分])\s*/\s*(?=[{_CJK}])"), "每"),
    (re.compile(r"(?<=\d)\s*\+\s*(?=\d)"), "加"),
    (re.compile(r"\s*&\s*"), "和"),
)
_LEFTOVER_DIGIT = re.compile(r"\d")


def read_out(text: str) -> str:
    """Numbers and symbols as Chinese words; everything else unchanged."""
    for pattern, repl in _READOUT:
        text = pattern.sub(repl, text)
    if any(ch.isdigit() for ch in text):
        text = _an2cn(text)
    return _LEFTOVER_DIGIT.sub(lambda m: _DIGIT_NAMES.get(m.group(), ""), text)


# ----------------------------------------------------------------- segments


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of text for one espeak-ng voice: `lang` is "zh" (pinyin) or "en"."""

    lang: str
    text: str


_TOKEN = re.compile(
    rf"(?P<han>[{_CJK}]+)"
    r"|(?P<latin>[A-Za-z]+(?:['’][A-Za-z]+)*)"
    r"|(?P<pause>[，,、；;：:—\-]+)"
    r"|(?P<stop>[。.！!？?…]+)"
)


def _pinyin(han: str) -> str:
    words: list[str] = []
    for syllable in lazy_pinyin(
        han, style=Style.TONE3, neutral_tone_with_five=True, tone_sandhi=True
    ):
        m = _SYLLABLE.fullmatch(syllable)
        if m is None:
            continue  # pypinyin had no reading (returned the character): skip it
        words.append(_SPECIAL_SYLLABLES.get(m.group(1), m.group(1)) + m.group(2))
    return " ".join(words)


def _latin(word: str) -> str:
    if word.isupper() and len(word) <= 5:
        return " ".join(word)  # APP, VIP, ID: letter by letter
    return word


def _stop(mark: str) -> str:
    for ch in "?？":
        if ch in mark:
            return "?"
    return "!" if ("!" in mark or "！" in mark) else "."


def segments(text: str) -> list[Segment]:
    """Split speakable text into pinyin and English runs, punctuation kept as pauses."""
    out: list[tuple[str, list[str]]] = []

    def add(lang: str, words: str) -> None:
        if out and out[-1][0] == lang:
            out[-1][1].append(words)
        else:
            out.append((lang, [words]))

    for m in _TOKEN.finditer(read_out(text)):
        kind = m.lastgroup
        if kind == "han":
            words = _pinyin(m.group())
            if words:
                add("zh", words)
        elif kind == "latin":
            add("en", _latin(m.group()))
        elif out:  # pauses before any word are dropped
            out[-1][1][-1] += "," if kind == "pause" else _stop(m.group())
    return [Segment(lang, " ".join(words)) for lang, words in out]


# ----------------------------------------------------------------- prosody

_PERCENT = re.compile(r"([+-]\d+)%")
_HERTZ = re.compile(r"([+-]\d+)Hz")
_VARIANTS = (("Xiao", "+f3"), ("Yun", "+m3"))  # edge-tts zh-CN voice names by gender


def _offset(pattern: re.Pattern[str], value: str, field: str) -> int:
    m = pattern.fullmatch(value.strip())
    if m is None:
        raise TtsError(
            f"语音参数 {field} 格式不正确：{value!r}（例如 +10%、-5Hz）",
            f"invalid voice {field} {value!r} (expected e.g. +10% or -5Hz)",
        )
    return int(m.group(1))


def prosody_args(voice: Voice, base_speed: int = BASE_SPEED) -> list[str]:
    """espeak-ng options for the voice's rate (-s), pitch (-p) and volume (-a)."""
    rate = _offset(_PERCENT, voice.rate, "rate")
    pitch = _offset(_HERTZ, voice.pitch, "pitch")
    volume = _offset(_PERCENT, voice.volume, "volume")
    speed = min(_MAX_SPEED, max(_MIN_SPEED, round(base_speed * (1 + rate / 100))))
    return [
        "-s",
        str(speed),
        "-p",
        str(min(99, max(0, 50 + pitch // 2))),
        "-a",
        str(min(200, max(0, round(100 * (1 + volume / 100))))),
    ]


def voice_variant(name: str) -> str:
    """An espeak-ng voice variant matching the edge voice's gender (female by default)."""
    short = name.rsplit("-", 1)[-1]
    for prefix, variant in _VARIANTS:
        if short.startswith(prefix):
            return variant
    return "+f3"


# ----------------------------------------------------------------- the engine


class EspeakEngine(TtsEngine):
    """espeak-ng fed with tone-numbered pinyin; works offline, no model files."""

    name = "espeak"
    retries = 0  # failures are deterministic

    def __init__(
        self,
        binary: str = "espeak-ng",
        *,
        chinese_voice: str = CHINESE_VOICE,
        english_voice: str = ENGLISH_VOICE,
        base_speed: int = BASE_SPEED,
    ) -> None:
        super().__init__()
        self.binary = binary
        self.chinese_voice = chinese_voice
        self.english_voice = english_voice
        self.base_speed = base_speed
        self._voices_checked = False

    def available(self) -> bool:
        return shutil.which(self.binary) is not None

    async def _check_voices(self) -> None:
        """Once: both voices exist (espeak-ng silently substitutes unknown ones)."""
        if self._voices_checked:
            return
        listing = (await self._run(["--voices"], None)).decode("utf-8", "replace")
        known = _voice_names(listing)
        for wanted in (self.chinese_voice, self.english_voice):
            if wanted.lower() not in known:
                raise TtsError(
                    f"espeak-ng 没有语音 {wanted}，请安装完整的 espeak-ng-data",
                    f"espeak-ng has no voice {wanted!r}; install the full espeak-ng-data",
                )
        self._voices_checked = True

    async def _synthesize_impl(self, text: str, voice: Voice) -> Speech:
        await self._check_voices()
        prosody = prosody_args(voice, self.base_speed)
        parts = segments(text)
        if not parts:
            raise TtsError("没有可朗读的内容", f"nothing espeak-ng can read in {text[:40]!r}")
        variant = voice_variant(voice.name)
        pcm: list[bytes] = []
        rate = 0
        for i, part in enumerate(parts):
            base = self.chinese_voice if part.lang == "zh" else self.english_voice
            args = ["-v", base + variant, *prosody, "-b", "1", "--stdout"]
            if i < len(parts) - 1:
                args.append("-z")  # no sentence-final pause between language runs
            chunk, chunk_rate = await self._speak(args, part.text)
            if i == 0:
                rate = chunk_rate
                mark_first_byte()
            if chunk_rate != rate:
                chunk = await asyncio.to_thread(resample, chunk, chunk_rate, rate)
            pcm.append(chunk)
        return Speech(b"".join(pcm), rate, self.name)

    async def _speak(self, args: list[str], text: str) -> tuple[bytes, int]:
        wav = await self._run(args, text)
        try:
            return read_wav(wav)
        except AudioError as exc:
            raise TtsError(
                "espeak-ng 输出的音频无法解析", f"cannot parse espeak-ng's WAV output: {exc}"
            ) from exc

    async def _run(self, args: list[str], text: str | None) -> bytes:
        path = shutil.which(self.binary)
        if path is None:
            raise TtsError(INSTALL_HINT_ZH, INSTALL_HINT_EN)
        words = [] if text is None else ["--", text]  # `--`: a text starting with "-" is text
        try:
            proc = await asyncio.create_subprocess_exec(
                path,
                *args,
                *words,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise TtsError(
                f"无法启动 espeak-ng：{exc}。{INSTALL_HINT_ZH}",
                f"cannot start espeak-ng: {exc}. {INSTALL_HINT_EN}",
            ) from exc
        try:
            out, err = await proc.communicate()
        finally:
            if proc.returncode is None:  # cancelled (timeout): do not leave it running
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await asyncio.shield(proc.wait())
        if proc.returncode != 0 or not out:
            message = err.decode("utf-8", "replace").strip()[:200]
            raise TtsError(
                f"espeak-ng 运行失败（退出码 {proc.returncode}）：{message}",
                f"espeak-ng failed (exit {proc.returncode}): {message}",
            )
        return out


def _voice_names(listing: str) -> set[str]:
    """Names `-v` accepts, from `espeak-ng --voices`: languages and voice file names."""
    names: set[str] = set()
    for line in listing.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 5:
            names.add(cols[1].lower())
            names.add(cols[4].lower())
            names.add(cols[4].rsplit("/", 1)[-1].lower())
    return names
