"""Text -> index terms for FAQ retrieval: words, character n-grams and pinyin.

Every question and query goes through the same steps, so that what differs only in script,
width, numerals, fillers, synonyms or (for the pinyin view) homophones meets in the index:

1. `normalize()` from the NLU (full/half width, traditional -> simplified, numerals, fillers);
2. synonym variants rewritten to their canonical form (longest variant first);
3. punctuation and spaces dropped (`canon`: the text the views are cut from);
4. views: jieba words (without a few particles), character uni+bigrams, and toneless
   lenient pinyin syllable bigrams (zh/z, n/l, -ng/-n merged, as ASR confuses them).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import jieba

from bot.nlu.lookup import lenient, toneless
from bot.nlu.normalize import normalize
from bot.nlu.tokenizer import base_frequencies, new_jieba

VIEWS = ("word", "char", "pinyin")

# Sentence particles and politeness words: frequent, carry no topic.
STOP_WORDS = frozenset(
    [
        "吗",
        "呢",
        "吧",
        "啊",
        "呀",
        "哦",
        "嘛",
        "么",
        "啦",
        "哈",
        "的",
        "了",
        "请问",
        "你好",
        "您好",
        "谢谢",
        "一下",
        "我",
        "我的",
        "你",
        "你们",
        "是",
        "在",
    ]
)
# Interrogative variants folded to one spelling, so paraphrases differing only in how they ask
# still match (applied after the project's synonyms; longest variant first).
QUESTION_WORDS = {
    "如何": "怎么",
    "怎样": "怎么",
    "怎么样": "怎么",
    "咋样": "怎么",
    "咋": "怎么",
    "为啥": "为什么",
    "为何": "为什么",
    "啥": "什么",
    "何时": "什么时候",
    "哪儿": "哪里",
    "能否": "能不能",
    "可否": "能不能",
    "可不可以": "能不能",
    "可以不可以": "能不能",
    "是否可以": "能不能",
    "是否能": "能不能",
    "您": "你",
}
_KEEP = re.compile(r"[0-9a-z]+|[^\W_]", re.UNICODE)
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


@dataclass(slots=True, frozen=True)
class Analysis:
    """One text's index terms; `canon` is the normalised text the views were cut from."""

    canon: str
    word: tuple[str, ...]
    char: tuple[str, ...]
    pinyin: tuple[str, ...]

    def view(self, name: str) -> tuple[str, ...]:
        terms: tuple[str, ...] = getattr(self, name)
        return terms


@lru_cache(maxsize=1)
def _segmenter() -> jieba.Tokenizer:
    """A private jieba instance reading the shared base dictionary (never mutated here).

    `new_jieba()` overlays a ChainMap for user words, which doubles segmentation time; the
    index needs no user words (synonyms are rewritten in the text before segmentation), so it
    reads the plain base dictionary.
    """
    tok = new_jieba()
    tok.FREQ = base_frequencies()
    return tok


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[str, list[list[str]]], dict[int, str]]:
    """pypinyin's phrase and character tables (read directly: ~20x faster than lazy_pinyin)."""
    from pypinyin.phrases_dict import phrases_dict
    from pypinyin.pinyin_dict import pinyin_dict

    return phrases_dict, pinyin_dict


@lru_cache(maxsize=65_536)
def char_syllable(char: str) -> str:
    """The most common lenient toneless reading of a character; the character otherwise."""
    raw = _tables()[1].get(ord(char))
    return lenient(toneless(raw.split(",")[0])) if raw else char


@lru_cache(maxsize=200_000)
def word_syllables(word: str) -> tuple[str, ...]:
    """Lenient toneless pinyin of a word, phrase-aware (银行 -> yin han(g)); others as is."""
    if not _CJK.search(word):
        return (word,)
    phrase = _tables()[0].get(word)
    if phrase is not None and len(phrase) == len(word):
        return tuple(lenient(toneless(r[0])) for r in phrase)
    return tuple(char_syllable(c) for c in word)


def _pieces(text: str) -> list[str]:
    """Characters of `text` minus punctuation; an ASCII letter/digit run is one piece."""
    return _KEEP.findall(text)


def _ngrams(units: list[str], unigrams: bool) -> tuple[str, ...]:
    grams = [a + b for a, b in itertools.pairwise(units)]
    if unigrams or len(units) == 1:
        grams.extend(units)
    return tuple(grams)


def _pinyin_terms(words: list[str]) -> tuple[str, ...]:
    syllables = [s for w in words for s in word_syllables(w)]
    grams = ["_".join(p) for p in itertools.pairwise(syllables)]
    return tuple(grams or syllables)


class Analyzer:
    """Turns questions and queries into `Analysis` (thread-safe, stateless but for caches)."""

    def __init__(
        self, synonyms: Mapping[str, str] | None = None, question_words: bool = True
    ) -> None:
        merged = {**(QUESTION_WORDS if question_words else {}), **(synonyms or {})}
        self.synonyms = {
            k: v
            for k, v in (
                (canonical_text(variant), canonical_text(value))
                for variant, value in merged.items()
            )
            if k and k != v
        }
        alternatives = sorted(self.synonyms, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, alternatives))) if alternatives else None

    def canon(self, text: str) -> str:
        text = canonical_text(text)
        if self._pattern is not None:
            text = self._pattern.sub(lambda m: self.synonyms[m.group()], text)
        return text

    def analyze(self, text: str) -> Analysis:
        canon = self.canon(text)
        pieces = _pieces(canon)
        joined = "".join(pieces)
        words = [w for w in _segmenter().cut(joined, HMM=False) if not w.isspace()]
        content = [w for w in words if w not in STOP_WORDS] or words
        return Analysis(
            canon=joined,
            word=tuple(content),
            char=_ngrams(pieces, unigrams=False),
            pinyin=_pinyin_terms(words),
        )


def canonical_text(text: str) -> str:
    """`normalize()` plus lower case, as both sides of a match see it."""
    return normalize(text).text.lower()
