"""The project's domain vocabulary, for ASR biasing (Whisper prompt, Vosk grammar).

Sources, read with the project's own loaders:
- names: lookup-table entries, synonym values, annotated entity values (strings), the KB's
  tags and category names;
- variants: synonym variants and the annotated spans of entities;
- commands: intent examples of at most `MAX_COMMAND` characters that other examples contain
  too (转人工, 查话费);
- words: jieba words (segmented with the names as user words) that occur in at least
  `MIN_COUNT` texts among the intent examples and the KB questions (standard and similar).

Each candidate is scored by how many of those texts contain it times how specific it is (the
inverse of its frequency in jieba's general dictionary); names, variants and commands get a
bonus. Function words, generic
conversational words, plain numbers (phone numbers) and words common in general Chinese are
left out. The result is Simplified Chinese, deduplicated, most useful first, at most `limit`.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import ahocorasick
from pypinyin import Style, lazy_pinyin

from bot.errors import ZhikeError
from bot.kb.config import kb_settings
from bot.kb.io import load_entries
from bot.kb.service import seed_files
from bot.nlu.tokenizer import base_frequencies, new_jieba
from bot.project.loader import Project, load_project
from voice.asr.base import clean_text

log = logging.getLogger("zhike.asr.vocab")

LIMIT = 500
MIN_COUNT = 2
MAX_LEN = 20
MAX_COMMAND = 6  # examples this short are whole commands (转人工, 查话费)
COMMON_FREQ = 5000  # jieba dictionary frequency above which a word is too generic
COMMON_WORD = 1000  # ... above which a transcript word is taken as meant (no correction)
NAME_BONUS = 3.0
VARIANT_BONUS = 1.5

_HAN = re.compile(r"[\u3400-\u9fff]")
_ALL_HAN = re.compile(r"^[\u3400-\u9fff]+$")
_ALNUM_TERM = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9+\-]{2,}$")  # 5G, VoLTE, eSIM
_STOPWORDS = """
请问 帮我 帮忙 麻烦 我的 你们 我们 他们 一下 怎么 怎么办 怎样 什么 为什么 如何 可以 可不可以 能不能 是不是 有没有 要不要 现在 还有 多少 这个 那个 一个 没有
知道 想要 需要 想知道 谢谢 你好 您好 好的 不是 不要 不用 就是 已经 还是 时候 自己 这样 那么 然后 哪里 哪个 多久 一些 这么 那边 这边 看看 查查 问问 告诉
一般 能否 是否 怎么样 之前 以后 为啥 咋办 啥时候 的话 我要 我想 我家 你们家 请帮我
"""
STOPWORDS = frozenset(_STOPWORDS.split())


@dataclass(slots=True)
class _Sources:
    names: list[str] = field(default_factory=list)
    variants: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)  # short whole examples: 转人工, 查话费
    texts: list[str] = field(default_factory=list)


def _usable(word: str) -> bool:
    if not 2 <= len(word) <= MAX_LEN or word in STOPWORDS:
        return False
    return bool(_HAN.search(word) or _ALNUM_TERM.match(word))


def _clean(items: Iterable[object]) -> list[str]:
    out = (clean_text(item) for item in items if isinstance(item, str))
    return [w for w in out if _usable(w)]


def _project_sources(project: Project, src: _Sources) -> None:
    nlu = project.nlu
    for values in nlu.lookups.values():
        src.names.extend(_clean(values))
    src.names.extend(_clean(nlu.synonyms.values()))
    src.variants.extend(_clean(nlu.synonyms))
    for ex in nlu.examples:
        src.texts.append(clean_text(ex.text))
        if len(ex.text) <= MAX_COMMAND:
            src.commands.extend(_clean([ex.text]))
        for ent in ex.entities:
            src.names.extend(_clean([ent.value]))
            src.variants.extend(_clean([ex.text[ent.start : ent.end]]))


def _kb_sources(project: Project, src: _Sources) -> None:
    try:
        settings = kb_settings(project.endpoints.raw.get("knowledge_base"), os.environ)
        source = (
            settings.source if settings.source.is_absolute() else project.root / settings.source
        )
        entries = [entry for path in seed_files(source) for entry in load_entries(path)]
    except ZhikeError as exc:
        log.warning("knowledge base skipped for the ASR vocabulary: %s", exc)
        return
    for entry in entries:
        if not entry.enabled:
            continue
        src.names.extend(_clean([*entry.tags, *entry.category]))
        src.texts.extend(clean_text(q) for q in entry.questions())


def _words(texts: list[str], user_words: list[str]) -> set[str]:
    jieba = new_jieba(user_words)
    return {w for text in texts for w in jieba.lcut(text) if _usable(w)}


def _text_counts(texts: list[str], candidates: Iterable[str]) -> Counter[str]:
    """How many texts contain each candidate (as a substring)."""
    automaton = ahocorasick.Automaton()
    for word in candidates:
        automaton.add_word(word, word)
    automaton.make_automaton()
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update({word for _, word in automaton.iter(text)})
    return counts


def rank(src: _Sources, limit: int = LIMIT) -> list[str]:
    """Candidates from the sources, most useful first (see the module docstring)."""
    names = list(dict.fromkeys(src.names))
    words = _words(src.texts, names)
    counts = _text_counts(src.texts, {*words, *names, *src.variants, *src.commands})
    freq = base_frequencies()
    total = sum(v for v in freq.values() if v) or 1
    bonus: dict[str, float] = {
        w: 1.0 for w in words if counts[w] >= MIN_COUNT and freq.get(w, 0) <= COMMON_FREQ
    }
    bonus.update({w: VARIANT_BONUS for w in src.commands if counts[w] >= MIN_COUNT})
    bonus.update({w: VARIANT_BONUS for w in src.variants})
    bonus.update({w: NAME_BONUS for w in names})

    def score(word: str) -> float:
        specificity = math.log((total + 1) / (freq.get(word, 0) + 1))
        return bonus[word] * (1 + counts.get(word, 0)) * specificity

    # ties broken by the word itself: the same order in every process (sets iterate in a
    # per-process hash order, which made the whisper prompt differ between runs)
    ranked = sorted(bonus, key=lambda w: (-score(w), -bonus[w], w))
    unique = {w.casefold(): w for w in reversed(ranked)}  # WiFi / wifi: keep the better one
    return [w for w in ranked if unique[w.casefold()] == w][:limit]


def domain_phrases(project: Path, limit: int = LIMIT) -> list[str]:
    """The project's domain words and phrases, most useful first, at most `limit`."""
    loaded = load_project(project, validate=False, strict=False)
    src = _Sources()
    _project_sources(loaded, src)
    _kb_sources(loaded, src)
    return rank(src, limit)


# -- homophone correction ------------------------------------------------------------------


_RUNS = re.compile(r"[\u3400-\u9fff]+|.", re.DOTALL)


def _syllables(text: str) -> list[tuple[str, str]]:
    """(toneless syllable, tone) per character; non-Chinese characters never match."""
    out: list[tuple[str, str]] = []
    for run in _RUNS.findall(text):
        if not _HAN.match(run):
            out.append(("\0" + run, ""))
            continue
        for mark in lazy_pinyin(run, style=Style.TONE3, neutral_tone_with_five=True):
            tone = mark[-1] if mark[-1:].isdigit() else ""
            out.append((mark[: -1 if tone else None], tone))
    return out


def _tone_differences(a: list[tuple[str, str]], b: list[tuple[str, str]]) -> int:
    return sum(1 for (_, x), (_, y) in zip(a, b, strict=True) if x != y)


class PhraseCorrector:
    """Replaces a transcript word that sounds like a domain phrase by the phrase: 花费 → 话费.

    The transcript is segmented with jieba (the phrases as user words); a word is replaced
    when it has the syllables of a phrase (2-`max_len` Chinese characters) with at most one
    tone different. Tone slips are what ASR gets wrong on the phone, while common pairs such
    as 好吗/号码 or 重置/充值 differ in more and stay. Words that are phrases themselves, and
    words common in general Chinese (jieba frequency >= `COMMON_WORD`: 无限, 消耗, 那天), are
    taken as meant. Between homophone phrases the earlier (more useful) one wins.
    """

    def __init__(self, phrases: Iterable[str], max_len: int = 8) -> None:
        phrases = [p for p in phrases if 2 <= len(p) <= max_len and _ALL_HAN.match(p)]
        self._jieba = new_jieba(phrases)
        self._freq = base_frequencies()
        self._known = set(phrases)
        self._by_sound: dict[tuple[str, ...], list[tuple[str, list[tuple[str, str]]]]] = {}
        for phrase in phrases:
            marks = _syllables(phrase)
            self._by_sound.setdefault(tuple(s for s, _ in marks), []).append((phrase, marks))

    def _replacement(self, word: str) -> str | None:
        if word in self._known or self._freq.get(word, 0) >= COMMON_WORD:
            return None
        marks = _syllables(word)
        for phrase, want in self._by_sound.get(tuple(s for s, _ in marks), []):
            if _tone_differences(marks, want) <= 1:
                return phrase
        return None

    def correct(self, text: str) -> str:
        if not self._by_sound or not _HAN.search(text):
            return text
        words = self._jieba.lcut(text)
        return "".join(self._replacement(w) or w if _ALL_HAN.match(w) else w for w in words)
