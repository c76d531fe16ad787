"""Sparse text features for the intent classifier: TF-IDF blocks over n-grams and lexicon cues.

Blocks (each TF-IDF weighted, optionally with sublinear term frequency, L2-normalised, then
scaled by its weight):
  c  character 1-3-grams of the normalised text
  m  character 1-3-grams of the normalised text between start/end markers (^...$)
  r  the same over the customer's raw text (keeps what normalisation folds away)
  b  character 2-3-grams of each token padded with spaces (word-boundary n-grams)
  w  segmenter tokens
  s  search-mode sub-words: dictionary words inside longer tokens (plus the tokens)
  p  part-of-speech tags of the tokens from jieba's bundled dictionary (nr, ns, nz, ...)
Chinese uses c, w, s, p by default, English c and w; m, r and b are opt-in (classifier
options `blocks`, `sublinear_tf`): on the shared benchmarks they gain ~0.5 point in
cross-validation but flip borderline intents of small projects such as the reference bot
(measurements in bench/nlu_experiments.py). Prediction needs only dict look-ups and a row
gather.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

import numpy as np

from bot.nlu.component import Token
from bot.nlu.tokenizer import base_frequencies, dictionary_file

_TAG_LOCK = threading.Lock()
_TAGS: PosTable | None = None


class PosTable:
    """Word -> part-of-speech tag for jieba's ~350k dictionary words, in ~4 MB.

    Words are kept as sorted 64-bit hashes (stable within one process) with a tag index
    each, instead of a Python dict of 350k strings (~60 MB).
    """

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        names = sorted({tag for _, tag in pairs})
        index = {tag: i for i, tag in enumerate(names)}
        keys = np.fromiter((hash(w) for w, _ in pairs), dtype=np.int64, count=len(pairs))
        codes = np.fromiter((index[t] for _, t in pairs), dtype=np.int16, count=len(pairs))
        order = np.argsort(keys, kind="stable")
        self.keys, self.codes, self.names = keys[order], codes[order], names

    def get(self, word: str, default: str) -> str:
        key = hash(word)
        i = int(np.searchsorted(self.keys, key))
        if i < len(self.keys) and self.keys[i] == key:
            return self.names[int(self.codes[i])]
        return default


def pos_tags() -> PosTable:
    """The part-of-speech table, read once from jieba's bundled dictionary."""
    global _TAGS
    with _TAG_LOCK:
        if _TAGS is None:
            pairs: list[tuple[str, str]] = []
            with dictionary_file() as f:
                for raw in f:
                    parts = raw.decode("utf-8").split()
                    if len(parts) >= 3:
                        pairs.append((parts[0], parts[2]))
            _TAGS = PosTable(pairs)
        return _TAGS


def char_ngrams(text: str, lo: int = 1, hi: int = 3) -> list[str]:
    return [text[i : i + n] for n in range(lo, hi + 1) for i in range(len(text) - n + 1)]


def marked_ngrams(text: str) -> list[str]:
    """Character 1-3-grams with start and end markers, so the edges of a message count."""
    return char_ngrams(f"^{text}$") if text else []


def boundary_ngrams(tokens: Sequence[str]) -> list[str]:
    """Character 2-3-grams of each token padded with spaces: where words start and end."""
    return [g for tok in tokens for g in char_ngrams(f" {tok} ", 2, 3)]


def sub_words(tokens: Sequence[str]) -> list[str]:
    """jieba's search mode: 2- and 3-character dictionary words inside longer tokens."""
    freq = base_frequencies()
    out: list[str] = []
    for tok in tokens:
        for n in (2, 3):
            if len(tok) > n:
                out.extend(g for g in char_ngrams(tok, n, n) if freq.get(g))
        out.append(tok)
    return out


def pos_features(tokens: Sequence[str]) -> list[str]:
    tags = pos_tags()
    return [tags.get(t, "unk" if t.isalnum() else "x") for t in tokens]


@dataclass(frozen=True, slots=True)
class Doc:
    """What the featuriser needs of one message."""

    text: str
    tokens: tuple[str, ...]
    raw: str = ""


Analyzer = Callable[[Doc], list[str]]

ANALYZERS: dict[str, Analyzer] = {
    "c": lambda d: char_ngrams(d.text),
    "m": lambda d: marked_ngrams(d.text),
    "r": lambda d: marked_ngrams(d.raw),
    "b": lambda d: boundary_ngrams(d.tokens),
    "w": lambda d: list(d.tokens),
    "s": lambda d: sub_words(d.tokens),
    "p": lambda d: pos_features(d.tokens),
}
BLOCK_WEIGHTS: dict[str, dict[str, float]] = {
    "zh": {"c": 1.0, "w": 0.7, "s": 0.7, "p": 0.5},
    "en": {"c": 1.0, "w": 1.0},
}


def make_doc(text: str, tokens: Sequence[Token] | Sequence[str], raw: str | None = None) -> Doc:
    """`text` is the normalised text; `raw` the customer's original (defaults to `text`)."""
    words = tuple(t if isinstance(t, str) else t.text for t in tokens)
    return Doc(text, words, text if raw is None else raw)


# Blocks whose terms equal another block's when a condition holds (raw text == normalised).
_SAME_TERMS: dict[str, tuple[str, Callable[[Doc], bool]]] = {"r": ("m", lambda d: d.raw == d.text)}


@dataclass
class Featurizer:
    """Fits per-block vocabularies and IDF weights; turns docs into sparse rows."""

    weights: dict[str, float]
    sublinear: bool = False  # term frequency 1 + log(n) instead of n
    vocab: dict[str, dict[str, int]] = field(default_factory=dict)  # block -> term -> column
    idf: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))

    @property
    def size(self) -> int:
        return len(self.idf)

    def terms(self, doc: Doc) -> dict[str, Counter[str]]:
        """Term counts of each block."""
        out: dict[str, Counter[str]] = {}
        for block in self.weights:
            same = _SAME_TERMS.get(block)
            if same is not None and same[0] in out and same[1](doc):
                out[block] = out[same[0]]
            else:
                out[block] = Counter(ANALYZERS[block](doc))
        return out

    def fit(self, docs: Sequence[Doc]) -> Featurizer:
        self._fit([self.terms(d) for d in docs])
        return self

    def fit_matrix(self, docs: Sequence[Doc]) -> Any:
        """`fit(docs)` and `matrix(docs)` in one pass over the analyzers (training)."""
        terms = [self.terms(d) for d in docs]
        self._fit(terms)
        return self._matrix([self._row(t) for t in terms])

    def _fit(self, terms: Sequence[dict[str, Counter[str]]]) -> None:
        n, col = len(terms), 0
        idf: list[float] = []
        self.vocab = {}
        for block in self.weights:
            df: Counter[str] = Counter()
            for t in terms:
                df.update(t[block].keys())
            self.vocab[block] = {term: col + i for i, term in enumerate(sorted(df))}
            col += len(df)
            idf.extend(math.log((1 + n) / (1 + df[term])) + 1.0 for term in sorted(df))
        self.idf = np.array(idf, dtype=np.float32)

    def row(self, doc: Doc) -> tuple[np.ndarray, np.ndarray]:
        """Column indices and values of one doc (blocks L2-normalised and weighted)."""
        return self._row(self.terms(doc))

    def _row(self, terms: dict[str, Counter[str]]) -> tuple[np.ndarray, np.ndarray]:
        indices: list[np.ndarray] = []
        values: list[np.ndarray] = []
        for block, weight in self.weights.items():
            counts = terms[block]
            vocab = self.vocab.get(block, {})
            cols = np.fromiter(map(vocab.get, counts, repeat(-1)), np.int64, len(counts))
            known = cols >= 0
            if not known.any():
                continue
            cols = cols[known]
            tf = np.fromiter(counts.values(), np.float32, len(counts))[known]
            if self.sublinear:
                tf = np.float32(1.0) + np.log(tf)
            vals = tf * self.idf[cols]
            indices.append(cols)
            values.append(vals * np.float32(weight / np.sqrt(vals @ vals)))
        if not indices:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        return np.concatenate(indices), np.concatenate(values)

    def matrix(self, docs: Sequence[Doc]) -> Any:
        return self._matrix([self.row(d) for d in docs])

    def _matrix(self, rows: list[tuple[np.ndarray, np.ndarray]]) -> Any:
        from scipy import sparse  # training only

        indptr = np.cumsum([0] + [len(r[0]) for r in rows])
        indices = np.concatenate([r[0] for r in rows]) if rows else np.zeros(0, np.int64)
        data = np.concatenate([r[1] for r in rows]) if rows else np.zeros(0, np.float32)
        shape = (len(rows), max(self.size, 1))
        return sparse.csr_matrix((data, indices, indptr), shape=shape)
