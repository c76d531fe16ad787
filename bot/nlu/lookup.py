"""`LookupEntityExtractor`: dictionary entities with pinyin-aware fuzzy matching.

The dictionary holds lookup-table values, synonym variants (typed by the annotated examples
and lookup tables that use the synonym's value) and the values annotated in the examples. Exact matches come
from an Aho-Corasick automaton over the normalised, lower-cased text (leftmost-longest,
non-overlapping). Speech recognisers often write a homophone (国际曼游 for 国际漫游, 背景 for
北京), so values of two or more Chinese characters also match when the toneless pinyin of the
whole value matches, with a lower confidence. Exact matches win, except that a fuzzy match of a
whole value replaces the shorter exact matches it contains (兰京 -> 南京 rather than 京).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

import ahocorasick

from bot.nlu.component import Component, NLUMessage, TrainContext
from bot.nlu.synonyms import fold, match_key, source_span
from bot.nlu.types import Entity, NLUData

logger = logging.getLogger(__name__)

_CJK = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+$")
_ASCII_WORD = re.compile(r"[A-Za-z0-9_]")
_END = ""  # trie key marking a complete value

TrieNode = dict[str, Any]


@dataclass(slots=True, frozen=True)
class LookupEntry:
    entity: str
    value: str
    role: str | None = None
    group: str | None = None


@dataclass(slots=True, frozen=True)
class Match:
    start: int  # offsets into the normalised text
    end: int
    entry: LookupEntry
    fuzzy: bool = False


def lenient(syllable: str) -> str:
    """Merge syllables that accents and recognisers confuse (zh/z, n/l, -ng/-n)."""
    for retroflex in ("zh", "ch", "sh"):
        if syllable.startswith(retroflex):
            syllable = syllable[0] + syllable[2:]
            break
    if syllable.startswith("n") and syllable != "ng":
        syllable = "l" + syllable[1:]
    if syllable.endswith("ng") and len(syllable) > 2:
        syllable = syllable[:-1]
    return syllable


@lru_cache(maxsize=65536)
def readings(char: str) -> tuple[str, ...]:
    """All toneless readings of one Chinese character; () for anything else."""
    from pypinyin import Style, pinyin  # training-time only: pypinyin's tables are large

    if not _CJK.match(char):
        return ()
    found = pinyin(char, style=Style.NORMAL, heteronym=True, errors="ignore")
    return tuple(dict.fromkeys(r for group in found for r in group if r.isalpha()))


def toneless(reading: str) -> str:
    """ "lǜ" -> "lv", "xīng" -> "xing" (pypinyin's NORMAL style)."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFD", reading):
        if ch == "\u0308" and out and out[-1] == "u":
            out[-1] = "v"
        elif not unicodedata.combining(ch):
            out.append(ch)
    return "".join(out)


def reading_table(syllables: set[str], loose: bool) -> dict[str, tuple[str, ...]]:
    """Readings of every character that can sound like part of a value (built at training).

    Serving then needs no pypinyin (whose phrase tables cost ~60 MB per process).
    """
    from pypinyin.pinyin_dict import pinyin_dict

    table: dict[str, tuple[str, ...]] = {}
    for code, raw in pinyin_dict.items():
        sounds = tuple(dict.fromkeys(toneless(r) for r in raw.split(",")))
        if loose:
            sounds = tuple(dict.fromkeys(lenient(r) for r in sounds))
        if any(r in syllables for r in sounds):
            table[chr(code)] = sounds
    return table


def value_syllables(key: str, loose: bool) -> tuple[str, ...] | None:
    """The intended (context-aware) toneless pinyin of a value, one syllable per character."""
    from pypinyin import Style, lazy_pinyin

    syllables = lazy_pinyin(key, style=Style.NORMAL, errors="ignore")
    if len(syllables) != len(key):
        return None
    return tuple(lenient(s) for s in syllables) if loose else tuple(syllables)


def leftmost_longest(matches: list[Match], taken: list[tuple[int, int]]) -> list[Match]:
    """Non-overlapping matches, leftmost first then longest, avoiding the `taken` spans."""
    chosen: list[Match] = []
    last_end = -1
    for m in sorted(matches, key=lambda m: (m.start, m.start - m.end)):
        if m.start < last_end or any(m.start < e and s < m.end for s, e in taken):
            continue
        chosen.append(m)
        last_end = m.end
    return chosen


def merge_fuzzy(exact: list[Match], fuzzy: list[Match]) -> list[Match]:
    """Add fuzzy matches where no exact match is, or where they contain shorter exact ones.

    Both lists are sorted and non-overlapping within themselves.
    """
    ends = [m.end for m in exact]
    dropped: set[int] = set()
    added: list[Match] = []
    for f in fuzzy:
        i = bisect_right(ends, f.start)
        hit = []
        while i < len(exact) and exact[i].start < f.end:
            hit.append(i)
            i += 1
        inside = all(
            f.start <= exact[k].start and exact[k].end <= f.end and k not in dropped for k in hit
        )
        if inside and all(exact[k].end - exact[k].start < f.end - f.start for k in hit):
            dropped.update(hit)
            added.append(f)
    kept = [m for k, m in enumerate(exact) if k not in dropped]
    return sorted(kept + added, key=lambda m: m.start)


class LookupEntityExtractor(Component):
    name = "LookupEntityExtractor"
    defaults: ClassVar[dict[str, Any]] = {
        "use_lookup_tables": True,
        "use_synonyms": True,
        "use_annotations": True,
        "min_length": 1,  # shortest lookup-table / synonym value matched exactly
        "min_annotated_length": 2,  # shortest annotated example value matched exactly
        "fuzzy": True,
        "fuzzy_min_length": 2,
        "fuzzy_lenient": False,  # also merge zh/z, ch/c, sh/s, n/l, -ng/-n
        "fuzzy_confidence": 0.8,
        "skip_overlapping": True,  # leave spans already taken by earlier extractors
    }

    def __init__(self, config: dict[str, Any] | None = None, language: str = "zh") -> None:
        super().__init__(config, language)
        self.entries: dict[str, LookupEntry] = {}  # match key -> entry
        self._automaton: Any = None
        self._trie: TrieNode = {}
        self._readings: dict[str, tuple[str, ...]] = {}

    # ---- training -------------------------------------------------------------------------

    def train(self, data: NLUData, ctx: TrainContext) -> None:
        votes: dict[str, Counter[LookupEntry]] = {}
        for key, entry, weight in self._candidates(data):
            if key:
                votes.setdefault(key, Counter())[entry] += weight
        self.entries = {key: c.most_common(1)[0][0] for key, c in sorted(votes.items())}
        ctx.extra_words.update(e.value for e in self.entries.values() if len(e.value) > 1)
        self._trie, self._readings = self._build_fuzzy()
        self._build()

    def _candidates(self, data: NLUData) -> list[tuple[str, LookupEntry, int]]:
        out: list[tuple[str, LookupEntry, int]] = []
        lang, cfg = self.language, self.config
        types: dict[str, Counter[str]] = {}
        for name, values in data.lookups.items():
            for v in values:
                types.setdefault(v.strip(), Counter())[name] += 1
            if cfg["use_lookup_tables"]:
                out += [(match_key(v, lang), LookupEntry(name, v.strip()), 1) for v in values]
        for example in data.examples:
            for ent in example.entities:
                surface = example.text[ent.start : ent.end].strip()
                types.setdefault(str(ent.value), Counter())[ent.entity] += 1
                if cfg["use_annotations"] and len(surface) >= cfg["min_annotated_length"]:
                    entry = LookupEntry(ent.entity, surface, ent.role, ent.group)
                    out.append((match_key(surface, lang), entry, 1))
        if cfg["use_synonyms"]:
            for variant, value in data.synonyms.items():
                for entity, n in types.get(str(value), Counter()).items():
                    out.append((match_key(variant, lang), LookupEntry(entity, variant), n))
        min_len = cfg["min_length"]
        return [(k, e, w) for k, e, w in out if len(k) >= min_len]

    def _build_fuzzy(self) -> tuple[TrieNode, dict[str, tuple[str, ...]]]:
        """Pinyin trie of the values and the reading table of the characters that matter."""
        trie: TrieNode = {}
        loose = bool(self.config["fuzzy_lenient"])
        used: set[str] = set()
        for key in self.entries:
            if len(key) >= max(2, int(self.config["fuzzy_min_length"])) and _CJK.match(key):
                syllables = value_syllables(key, loose)
                if syllables is not None:
                    used.update(syllables)
                    node = trie
                    for s in syllables:
                        node = node.setdefault(s, {})
                    node.setdefault(_END, key)
        return trie, (reading_table(used, loose) if used else {})

    def _build(self) -> None:
        automaton = ahocorasick.Automaton()
        for key in self.entries:
            automaton.add_word(key, (len(key), key))
        self._automaton = automaton if self.entries else None
        if self._automaton is not None:
            automaton.make_automaton()

    def __getstate__(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "language": self.language,
            "entries": self.entries,
            "trie": self._trie,
            "readings": self._readings,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.config, self.language = state["config"], state["language"]
        self.entries = state["entries"]
        self._trie = state["trie"]
        self._readings = state["readings"]
        self._build()

    # ---- parsing --------------------------------------------------------------------------

    def process(self, message: NLUMessage) -> None:
        message.entities.extend(self.extract(message))

    def extract(self, message: NLUMessage) -> list[Entity]:
        if self._automaton is None:
            return []
        text = fold(message.normalized_text)
        taken = [source_span(message, e.start, e.end) for e in message.entities]
        taken = taken if self.config["skip_overlapping"] else []
        exact = [m for m in self._exact(text) if self._bounded(text, m)]
        chosen = self._keep_free(message, leftmost_longest(exact, []), taken)
        if self.config["fuzzy"] and self._trie:
            fuzzy = self._keep_free(message, leftmost_longest(self._fuzzy(text), []), taken)
            chosen = merge_fuzzy(chosen, fuzzy)
        return [self._entity(message, m) for m in chosen]

    def _keep_free(
        self, message: NLUMessage, matches: list[Match], taken: list[tuple[int, int]]
    ) -> list[Match]:
        if not taken:
            return matches
        out = []
        for m in matches:
            s, e = source_span(message, m.start, m.end)
            if not any(s < te and ts < e for ts, te in taken):
                out.append(m)
        return out

    def _exact(self, text: str) -> list[Match]:
        out = []
        for last, (length, key) in self._automaton.iter(text):
            out.append(Match(last + 1 - length, last + 1, self.entries[key]))
        return out

    @staticmethod
    def _bounded(text: str, m: Match) -> bool:
        """Entries edged by ASCII letters/digits must not continue an ASCII word."""
        left = _ASCII_WORD.match(text[m.start])
        if left and m.start > 0 and _ASCII_WORD.match(text[m.start - 1]):
            return False
        right = _ASCII_WORD.match(text[m.end - 1])
        return not (right and m.end < len(text) and _ASCII_WORD.match(text[m.end]))

    def _fuzzy(self, text: str) -> list[Match]:
        sounds = [self._readings.get(ch, ()) for ch in text]
        out: list[Match] = []
        for i in range(len(text)):
            frontier = [self._trie]
            j = i
            while frontier and j < len(text):
                frontier = [n[s] for n in frontier for s in sounds[j] if s in n]
                j += 1
                for node in frontier:
                    key = node.get(_END)
                    if key is not None and text[i:j] != key:
                        out.append(Match(i, j, self.entries[key], fuzzy=True))
        return out

    def _entity(self, message: NLUMessage, m: Match) -> Entity:
        start, end = source_span(message, m.start, m.end)
        confidence = float(self.config["fuzzy_confidence"]) if m.fuzzy else 1.0
        e = m.entry
        return Entity(e.entity, e.value, start, end, confidence, self.name, e.role, e.group)
