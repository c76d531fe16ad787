"""Lexical retrieval over one immutable batch of questions (a segment) or a small live delta.

A `Segment` holds one bm25s index per analysis view (words, characters, pinyin) over the same
documents (one document per question; questions of an entry are contiguous). Candidates come
from one pass over the postings of the query's rarer terms; the per-view scores of those
candidates are then read off the postings exactly (`Match`). A `Delta` scores a handful of
recently edited questions the same way, with the segment's term statistics, so that its
scores mix with the segment's.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import bm25s
import numpy as np
import numpy.typing as npt

from bot.kb.analysis import VIEWS, Analysis

K1 = 1.2
B = 0.75
POSTINGS_BUDGET = 50_000  # candidate generation reads at most about this many postings
MAX_QUERY_TERMS = 32  # per view: bounds the cost of very long queries
VIEW_WEIGHTS = {"word": 1.0, "char": 1.0, "pinyin": 0.5}

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int32]


def idf(df: float | npt.NDArray[np.float64], n_docs: int) -> npt.NDArray[np.float64]:
    """Lucene's BM25 idf (what bm25s uses with method="lucene")."""
    return np.log1p((n_docs - np.asarray(df, dtype=np.float64) + 0.5) / (np.asarray(df) + 0.5))


def tf_part(tf: float, doc_len: float, avg_len: float) -> float:
    return tf / (tf + K1 * (1 - B + B * doc_len / max(avg_len, 1e-9)))


@dataclass(slots=True)
class Match:
    """Per-view match statistics of candidate documents against one query."""

    score: dict[str, FloatArray]  # BM25 of the document for the query
    matched: dict[str, FloatArray]  # idf mass of the query terms found in the document
    mass: dict[str, FloatArray]  # idf mass of all the document's terms

    @classmethod
    def empty(cls, n: int = 0) -> Match:
        zeros = np.zeros(n, dtype=np.float32)
        return cls({v: zeros for v in VIEWS}, {v: zeros for v in VIEWS}, {v: zeros for v in VIEWS})

    def take(self, docs: IntArray) -> Match:
        return Match(
            {v: a[docs] for v, a in self.score.items()},
            {v: a[docs] for v, a in self.matched.items()},
            {v: a[docs] for v, a in self.mass.items()},
        )


@dataclass(slots=True)
class ViewQuery:
    """One view of a query: its distinct terms with their idf over segment and delta."""

    terms: list[str]
    idf: list[float]
    ids: list[int]  # main-segment term id per term, -1 when the segment lacks it

    @property
    def mass(self) -> float:
        return float(sum(self.idf))


class ViewIndex:
    """One view of a segment: a bm25s index plus document frequencies and idf masses."""

    def __init__(self, docs: Sequence[Sequence[str]]) -> None:
        self.n_docs = len(docs)
        vocab: dict[str, int] = {}
        ids = [[vocab.setdefault(t, len(vocab)) for t in d] for d in docs]
        bm25 = bm25s.BM25(k1=K1, b=B, method="lucene")
        # (token ids, vocabulary): skips bm25s's own, slower, vocabulary passes
        with np.errstate(invalid="ignore", divide="ignore"):  # a view with no terms at all
            bm25.index((ids, vocab), show_progress=False, create_empty_token=False)
        # Keep only the weight matrix (CSC: term -> documents) and the vocabulary.
        self.data: FloatArray = bm25.scores["data"]
        self.indices: IntArray = bm25.scores["indices"]
        self.indptr: npt.NDArray[np.int64] = bm25.scores["indptr"].astype(np.int64)
        self.vocab: dict[str, int] = bm25.vocab_dict
        self.df = np.diff(self.indptr)
        self.idf = idf(self.df, self.n_docs).astype(np.float32)
        self.avg_len = float(np.mean([len(d) for d in docs])) if docs else 1.0
        columns = np.repeat(np.arange(len(self.df)), self.df)
        self.mass = np.bincount(
            self.indices, weights=self.idf[columns], minlength=self.n_docs
        ).astype(np.float32)

    def term_id(self, term: str) -> int:
        i = self.vocab.get(term)
        return i if i is not None and self.df[i] else -1

    def match(self, query: ViewQuery, docs: IntArray) -> tuple[FloatArray, FloatArray]:
        """BM25 score and matched idf mass of each of `docs` (sorted) for the query terms."""
        score = np.zeros(len(docs), dtype=np.float32)
        matched = np.zeros(len(docs), dtype=np.float32)
        for t, weight in zip(query.ids, query.idf, strict=True):
            if t < 0:
                continue
            start, end = self.indptr[t], self.indptr[t + 1]
            posting = self.indices[start:end]
            pos = np.minimum(posting.searchsorted(docs), end - start - 1)
            hit = posting[pos] == docs
            score += self.data[start + pos] * hit
            matched += hit * np.float32(weight)
        return score, matched


class Segment:
    """An immutable batch of questions with their entries, searchable by view."""

    def __init__(
        self, entry_ids: list[str], doc_entry: list[int], questions: list[str], docs: list[Analysis]
    ) -> None:
        self.entry_ids = entry_ids
        self.doc_entry = np.asarray(doc_entry, dtype=np.int32)
        self.questions = questions
        self.canons = [a.canon for a in docs]
        self.n_docs = len(docs)
        self.entry_docs: dict[str, tuple[int, int]] = {}
        for doc, entry in enumerate(doc_entry):
            start, _ = self.entry_docs.get(entry_ids[entry], (doc, doc))
            self.entry_docs[entry_ids[entry]] = (start, doc + 1)
        self.views = {v: ViewIndex([a.view(v) for a in docs]) for v in VIEWS} if docs else {}

    def term_id(self, view: str, term: str) -> int:
        return self.views[view].term_id(term) if self.views else -1

    def doc_freq(self, view: str, term_id: int) -> int:
        return int(self.views[view].df[term_id]) if term_id >= 0 else 0

    def candidates(
        self, query: dict[str, ViewQuery], weights: dict[str, float], n: int, dead: IntArray
    ) -> IntArray:
        """Up to `n` live documents (sorted) with the best weighted BM25 over the query's
        rarer terms; the most frequent terms are skipped past POSTINGS_BUDGET postings."""
        if not self.views:
            return np.zeros(0, dtype=np.int32)
        picked = sorted(
            (int(self.views[v].df[t]), v, t) for v, q in query.items() for t in q.ids if t >= 0
        )
        scores = np.zeros(self.n_docs, dtype=np.float32)
        touched: list[IntArray] = []
        read = 0  # postings read
        for df, view, t in picked:
            if read and read + df > POSTINGS_BUDGET:
                break
            index = self.views[view]
            start, end = index.indptr[t], index.indptr[t + 1]
            docs = index.indices[start:end]
            np.add.at(scores, docs, index.data[start:end] * np.float32(weights[view]))
            touched.append(docs)
            read += df
        if not touched:
            return np.zeros(0, dtype=np.int32)
        if len(dead):
            scores[dead] = 0.0
        pool = np.sort(np.concatenate(touched))  # np.unique is ~10x slower (hashing)
        pool = pool[np.concatenate(([True], pool[1:] != pool[:-1]))]
        pool = pool[scores[pool] > 0]
        if len(pool) > n:
            pool = pool[np.argpartition(scores[pool], -n)[-n:]]
        pool = np.sort(pool)
        return pool.astype(np.int32)

    def match(self, query: dict[str, ViewQuery], docs: IntArray) -> Match:
        if not self.views:
            return Match.empty(len(docs))
        out = Match({}, {}, {})
        for view, index in self.views.items():
            out.score[view], out.matched[view] = index.match(query[view], docs)
            out.mass[view] = index.mass[docs]
        return out


class Delta:
    """A few recently edited questions, scored with the segment's term statistics."""

    def __init__(
        self, entry_ids: list[str], questions: list[str], docs: list[Analysis], base: Segment
    ) -> None:
        self.entry_ids = entry_ids  # one per document
        self.questions = questions
        self.canons = [a.canon for a in docs]
        self.base = base
        self.n_docs = len(docs)
        self.n_total = base.n_docs + len(docs)
        self.postings: dict[str, dict[str, list[tuple[int, int]]]] = {}
        self.lengths: dict[str, list[int]] = {}
        for view in VIEWS:
            postings: dict[str, list[tuple[int, int]]] = {}
            for doc, analysis in enumerate(docs):
                for term, tf in Counter(analysis.view(view)).items():
                    postings.setdefault(term, []).append((doc, tf))
            self.postings[view] = postings
            self.lengths[view] = [len(a.view(view)) for a in docs]
        self.avg_len = {v: self._avg_len(v) for v in VIEWS}
        self.mass = {v: self._doc_mass(v) for v in VIEWS}

    def idf(self, view: str, term: str, term_id: int) -> float:
        """The term's idf over the segment and the delta together."""
        df = self.base.doc_freq(view, term_id) + len(self.postings[view].get(term, ()))
        return math.log1p((self.n_total - df + 0.5) / (df + 0.5))

    def prepare(self, query: Analysis) -> dict[str, ViewQuery]:
        """Each view's distinct query terms (the MAX_QUERY_TERMS rarest of a long query)."""
        out: dict[str, ViewQuery] = {}
        for view in VIEWS:
            terms = list(dict.fromkeys(query.view(view)))
            ids = [self.base.term_id(view, t) for t in terms]
            weights = [self.idf(view, t, i) for t, i in zip(terms, ids, strict=True)]
            if len(terms) > MAX_QUERY_TERMS:
                keep = sorted(range(len(terms)), key=lambda i: -weights[i])[:MAX_QUERY_TERMS]
                keep.sort()
                terms = [terms[i] for i in keep]
                ids = [ids[i] for i in keep]
                weights = [weights[i] for i in keep]
            out[view] = ViewQuery(terms, weights, ids)
        return out

    def _avg_len(self, view: str) -> float:
        if self.base.views:
            return self.base.views[view].avg_len
        return sum(self.lengths[view]) / max(self.n_docs, 1) or 1.0

    def _doc_mass(self, view: str) -> FloatArray:
        mass = np.zeros(self.n_docs, dtype=np.float32)
        for term, docs in self.postings[view].items():
            weight = self.idf(view, term, self.base.term_id(view, term))
            for doc, _ in docs:
                mass[doc] += weight
        return mass

    def match(self, query: dict[str, ViewQuery]) -> tuple[IntArray, Match]:
        """The delta documents sharing a term with the query, with their match statistics."""
        out = Match({}, {}, self.mass)
        for view in VIEWS:
            score = np.zeros(self.n_docs, dtype=np.float32)
            matched = np.zeros(self.n_docs, dtype=np.float32)
            lengths, avg = self.lengths[view], self.avg_len[view]
            q = query[view]
            for term, weight in zip(q.terms, q.idf, strict=True):
                for doc, tf in self.postings[view].get(term, ()):
                    score[doc] += weight * tf_part(tf, lengths[doc], avg)
                    matched[doc] += weight
            out.score[view], out.matched[view] = score, matched
        docs = np.flatnonzero(sum(out.matched.values()) > 0).astype(np.int32)
        return docs, out.take(docs)
