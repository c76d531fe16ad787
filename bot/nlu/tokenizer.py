"""Tokenizers: jieba for Chinese (private instance + user dictionary), whitespace for English.

Both tokenise `message.normalized_text`; token offsets refer to that normalised text.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
from collections import ChainMap
from pathlib import Path
from typing import IO, Any, ClassVar

import jieba

from bot.nlu.component import Component, NLUMessage, Token, TrainContext
from bot.nlu.normalize import normalize
from bot.nlu.types import NLUData

jieba.setLogLevel(logging.WARNING)

_BASE_LOCK = threading.Lock()
_BASE: jieba.Tokenizer | None = None
_MAX_USER_WORD = 30


def _cache_dir() -> str:
    """A writable directory for jieba's prefix-dictionary cache."""
    for candidate in (os.environ.get("ZHIKE_CACHE_DIR"), tempfile.gettempdir()):
        if candidate and os.access(candidate, os.W_OK):
            return candidate
    return tempfile.mkdtemp(prefix="zhike-jieba-")


def _base_tokenizer() -> jieba.Tokenizer:
    """jieba's shared default instance, initialised once; its dictionary is never mutated.

    Every pipeline's segmenter overlays its own user words on this one dictionary (see
    `new_jieba`), so the ~350k-word table is in memory once per process, not once per model.
    """
    global _BASE
    with _BASE_LOCK:
        if _BASE is None:
            base = jieba.dt
            base.tmp_dir = _cache_dir()
            base.initialize()
            _BASE = base
        return _BASE


def base_frequencies() -> dict[str, int]:
    """jieba's bundled dictionary as word -> frequency (prefixes map to 0); do not mutate."""
    freq: dict[str, int] = _base_tokenizer().FREQ
    return freq


def dictionary_file() -> IO[bytes]:
    """jieba's bundled dictionary file (lines: word frequency tag)."""
    f: IO[bytes] = _base_tokenizer().get_dict_file()
    return f


def new_jieba(words: list[str] | None = None) -> jieba.Tokenizer:
    """A fresh jieba instance (never the global one) with `words` added."""
    base = _base_tokenizer()
    tok = jieba.Tokenizer()
    tok.tmp_dir = base.tmp_dir
    tok.FREQ = ChainMap({}, base.FREQ)  # user words land in the overlay
    tok.total = base.total
    tok.initialized = True
    for word in words or []:
        tok.add_word(word)
    return tok


def user_words(data: NLUData, extra: set[str] | None = None, language: str = "zh") -> list[str]:
    """Words the segmenter must keep whole: lookups, synonyms, annotated entity values.

    They are normalised like messages are, so they match the text the segmenter sees.
    """
    words: set[str] = set(extra or ())
    for values in data.lookups.values():
        words.update(values)
    for variant, value in data.synonyms.items():
        words.update((variant, value))
    for ex in data.examples:
        for ent in ex.entities:
            words.add(ex.text[ent.start : ent.end])
            if isinstance(ent.value, str):
                words.add(ent.value)
    cleaned = {normalize(w, language).text for w in words if isinstance(w, str)}
    return sorted(w for w in cleaned if 1 < len(w) <= _MAX_USER_WORD and not w.isspace())


def _split_intent(name: str, flag: bool, symbol: str) -> list[str]:
    return [part for part in name.split(symbol) if part] if flag and symbol else [name]


class JiebaTokenizer(Component):
    """Chinese word segmentation with a per-component jieba instance."""

    name = "JiebaTokenizer"
    defaults: ClassVar[dict[str, Any]] = {
        "dictionary_path": None,
        "HMM": True,
        "intent_tokenization_flag": False,
        "intent_split_symbol": "_",
    }

    def __init__(self, config: dict[str, Any] | None = None, language: str = "zh") -> None:
        super().__init__(config, language)
        self.words: list[str] = []
        self._jieba: jieba.Tokenizer | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_jieba"] = None  # rebuilt lazily after unpickling
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def _dictionary_files(self) -> list[Path]:
        path = self.config.get("dictionary_path")
        if not path:
            return []
        root = Path(path)
        return sorted(p for p in root.iterdir() if p.is_file()) if root.is_dir() else [root]

    @property
    def segmenter(self) -> jieba.Tokenizer:
        if self._jieba is None:
            tok = new_jieba(self.words)
            for file in self._dictionary_files():
                tok.load_userdict(str(file))
            self._jieba = tok
        return self._jieba

    def train(self, data: NLUData, ctx: TrainContext) -> None:
        self.words = user_words(data, ctx.extra_words, self.language)
        self._jieba = None
        ctx.artifacts["tokenizer"] = self

    def tokenize(self, text: str) -> list[Token]:
        hmm = bool(self.config.get("HMM", True))
        return [
            Token(word, start, end)
            for word, start, end in self.segmenter.tokenize(text, HMM=hmm)
            if not word.isspace()
        ]

    def tokenize_intent(self, intent: str) -> list[str]:
        return _split_intent(
            intent,
            bool(self.config["intent_tokenization_flag"]),
            str(self.config["intent_split_symbol"]),
        )

    def process(self, message: NLUMessage) -> None:
        message.tokens = self.tokenize(message.normalized_text)


_WORD = re.compile(r"[^\s]+")
_CORE = re.compile(r"\w(?:.*\w)?")


class WhitespaceTokenizer(Component):
    """Rasa's WhitespaceTokenizer: split on whitespace, trim punctuation at token edges."""

    name = "WhitespaceTokenizer"
    defaults: ClassVar[dict[str, Any]] = {
        "intent_tokenization_flag": False,
        "intent_split_symbol": "_",
    }

    def train(self, data: NLUData, ctx: TrainContext) -> None:
        ctx.artifacts["tokenizer"] = self

    def tokenize(self, text: str) -> list[Token]:
        tokens: list[Token] = []
        for m in _WORD.finditer(text):
            core = _CORE.search(m.group())  # the word without punctuation at its edges
            if core:
                start = m.start() + core.start()
                tokens.append(Token(core.group(), start, start + len(core.group())))
        return tokens

    def tokenize_intent(self, intent: str) -> list[str]:
        return _split_intent(
            intent,
            bool(self.config["intent_tokenization_flag"]),
            str(self.config["intent_split_symbol"]),
        )

    def process(self, message: NLUMessage) -> None:
        message.tokens = self.tokenize(message.normalized_text)
