"""`FAQIndex`: live-editable FAQ retrieval over questions (standard + similar), never answers.

Search = analysis (normalise, synonyms, words / characters / pinyin) -> lexical candidates
from the main segment (bm25s) and the delta -> re-ranking features -> a small learned model
-> calibrated probability per entry (max over its questions).

Edits never rebuild the main segment: `upsert` analyses the entry's questions into a small
delta (searched with the main segment's term statistics) and tombstones the entry's old
documents; `delete` only tombstones. Both are visible to the next search. `compact()`
rebuilds the main segment from all live entries in a background thread and swaps it in
atomically, replaying edits that happened meanwhile. Readers never lock: they take the
current immutable `_State` and search it; writers serialise on one lock.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from bot.kb.analysis import VIEWS, Analysis, Analyzer
from bot.kb.calibrate import margins
from bot.kb.rerank import Candidates, Reranker, features, load
from bot.kb.segment import VIEW_WEIGHTS, Delta, IntArray, Match, Segment
from bot.kb.types import FAQEntry, Hit

MIN_CANDIDATES = 40  # questions re-ranked per query (at least 4 x k)
DELTA_LIMIT = 500  # delta questions that trigger a background compaction
COMPACT_SWITCH_INTERVAL = 0.0005  # seconds; see FAQIndex._compact


@dataclass(slots=True, frozen=True)
class _State:
    main: Segment
    dead: IntArray  # main-segment documents of deleted or replaced entries
    delta: Delta


Docs = tuple[FAQEntry, list[Analysis]]


def _documents(entry: FAQEntry, analyzer: Analyzer) -> Docs:
    questions = list(dict.fromkeys(q for q in entry.questions() if q and q.strip()))
    return entry, [analyzer.analyze(q) for q in questions]


def _questions(entry: FAQEntry) -> list[str]:
    return list(dict.fromkeys(q for q in entry.questions() if q and q.strip()))


def build_segment(docs: Iterable[Docs]) -> Segment:
    entry_ids: list[str] = []
    doc_entry: list[int] = []
    questions: list[str] = []
    analyses: list[Analysis] = []
    for entry, entry_docs in docs:
        for question, analysis in zip(_questions(entry), entry_docs, strict=True):
            doc_entry.append(len(entry_ids))
            questions.append(question)
            analyses.append(analysis)
        entry_ids.append(entry.id)
    return Segment(entry_ids, doc_entry, questions, analyses)


def _build_delta(edited: Mapping[str, Docs], main: Segment) -> Delta:
    entry_ids: list[str] = []
    questions: list[str] = []
    analyses: list[Analysis] = []
    for entry, entry_docs in edited.values():
        for question, analysis in zip(_questions(entry), entry_docs, strict=True):
            entry_ids.append(entry.id)
            questions.append(question)
            analyses.append(analysis)
    return Delta(entry_ids, questions, analyses, main)


class FAQIndex:
    """Searchable FAQ entries; one writer at a time, any number of concurrent readers."""

    def __init__(
        self,
        entries: Iterable[FAQEntry] = (),
        synonyms: Mapping[str, str] | None = None,
        reranker: Reranker | None = None,
    ) -> None:
        self.analyzer = Analyzer(synonyms)
        self.reranker = reranker or load()
        self._lock = threading.RLock()
        self._entries: dict[str, FAQEntry] = {e.id: e for e in entries}
        self._edited: dict[str, Docs] = {}  # entries living in the delta
        self._since_snapshot: set[str] | None = None  # edits during a compaction
        self._compaction: Future[None] | None = None
        main = build_segment(_documents(e, self.analyzer) for e in self._entries.values())
        self._state = _State(main, np.zeros(0, dtype=np.int32), _build_delta({}, main))

    @classmethod
    def build(
        cls,
        entries: Iterable[FAQEntry],
        synonyms: Mapping[str, str] | None = None,
        reranker: Reranker | None = None,
    ) -> FAQIndex:
        return cls(entries, synonyms, reranker)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._entries

    # -- search -------------------------------------------------------------------------

    def search(self, query: str, k: int = 5) -> list[Hit]:
        """The `k` best entries for `query`, best first; `score` is about P(correct)."""
        if k <= 0:
            return []
        analysis, mass, cands = self.candidates(query, max(MIN_CANDIDATES, 4 * k))
        if not len(cands):
            return []
        logits = self.reranker.logit(features(analysis, mass, cands))
        best: dict[str, int] = {}
        for i in np.argsort(-logits, kind="stable").tolist():
            best.setdefault(cands.entry_ids[i], i)
            if len(best) == k:
                break
        chosen = list(best.values())
        lead = margins(self._runner_up(logits, cands, best))[: len(chosen)]
        probs = self.reranker.probability(logits[chosen], lead)
        return [
            Hit(cands.entry_ids[i], float(p), cands.questions[i], float(logits[i]))
            for i, p in zip(chosen, probs, strict=True)
        ]

    @staticmethod
    def _runner_up(logits: np.ndarray, cands: Candidates, best: dict[str, int]) -> list[float]:
        """Logits of the chosen hits, plus the best other entry's when only one was chosen."""
        chosen = [float(logits[i]) for i in best.values()]
        if len(chosen) == 1:
            others = [
                float(x) for x, e in zip(logits, cands.entry_ids, strict=True) if e not in best
            ]
            if others:
                chosen.append(max(others))
        return chosen

    def candidates(
        self, query: str, n: int = MIN_CANDIDATES
    ) -> tuple[Analysis, dict[str, float], Candidates]:
        """The analysed query, its per-view idf mass and its candidate questions."""
        analysis = self.analyzer.analyze(query)
        state = self._state
        terms = state.delta.prepare(analysis)
        mass = {v: terms[v].mass for v in VIEWS}
        if not analysis.canon:
            return analysis, mass, _concat(state, np.zeros(0, np.int32), Match.empty(), [], None)
        weights = {v: VIEW_WEIGHTS[v] / max(mass[v], 1e-6) for v in VIEWS}
        docs = state.main.candidates(terms, weights, n, state.dead)
        main_match = state.main.match(terms, docs)
        delta_docs, delta_match = state.delta.match(terms)
        return analysis, mass, _concat(state, docs, main_match, delta_docs.tolist(), delta_match)

    # -- edits --------------------------------------------------------------------------

    def upsert(self, entry: FAQEntry) -> None:
        """Add or replace an entry; visible to the next search."""
        docs = _documents(entry, self.analyzer)
        with self._lock:
            self._entries[entry.id] = entry
            self._edited[entry.id] = docs
            self._publish(entry.id)

    def delete(self, entry_id: str) -> bool:
        """Remove an entry; False when there was none."""
        with self._lock:
            if self._entries.pop(entry_id, None) is None:
                return False
            self._edited.pop(entry_id, None)
            self._publish(entry_id)
            return True

    def _publish(self, entry_id: str) -> None:
        state = self._state
        dead = _tombstone(state.main, state.dead, [entry_id])
        self._state = _State(state.main, dead, _build_delta(self._edited, state.main))
        if self._since_snapshot is not None:
            self._since_snapshot.add(entry_id)
        if self._state.delta.n_docs > DELTA_LIMIT:
            self.compact()

    # -- compaction ---------------------------------------------------------------------

    def compact(self) -> Future[None]:
        """Rebuild the main segment in the background; the future resolves once swapped."""
        with self._lock:
            if self._compaction is not None and not self._compaction.done():
                return self._compaction
            future: Future[None] = Future()
            snapshot = list(self._entries.values())
            self._since_snapshot = set()
            self._compaction = future
        thread = threading.Thread(
            target=self._compact, args=(snapshot, future), name="kb-compact", daemon=True
        )
        thread.start()
        return future

    def _compact(self, snapshot: list[FAQEntry], future: Future[None]) -> None:
        switch = sys.getswitchinterval()
        # The build is pure Python for tens of seconds at 100k entries: a short GIL switch
        # interval keeps concurrent searches from waiting the default 5 ms per hand-over.
        sys.setswitchinterval(min(switch, COMPACT_SWITCH_INTERVAL))
        try:
            main = build_segment(_yielding(_documents(e, self.analyzer) for e in snapshot))
            sys.setswitchinterval(switch)
            with self._lock:
                changed = self._since_snapshot or set()
                self._edited = {i: d for i, d in self._edited.items() if i in changed}
                dead = _tombstone(main, np.zeros(0, dtype=np.int32), sorted(changed))
                self._state = _State(main, dead, _build_delta(self._edited, main))
                self._since_snapshot = None
            future.set_result(None)
        except BaseException as exc:  # surface build failures through the future
            sys.setswitchinterval(switch)
            with self._lock:
                self._since_snapshot = None
            future.set_exception(exc)


def _yielding(docs: Iterator[Docs], every: int = 4) -> Iterator[Docs]:
    """Let waiting searches take the GIL often while a background build analyses entries."""
    for i, item in enumerate(docs):
        if i % every == 0:
            time.sleep(0)
        yield item


def _tombstone(main: Segment, dead: IntArray, entry_ids: Iterable[str]) -> IntArray:
    ranges = [main.entry_docs[i] for i in entry_ids if i in main.entry_docs]
    if not ranges:
        return dead
    added = np.concatenate([np.arange(s, e, dtype=np.int32) for s, e in ranges])
    return np.union1d(dead, added).astype(np.int32)


def _concat(
    state: _State, docs: IntArray, main: Match, delta_docs: list[int], delta: Match | None
) -> Candidates:
    seg = state.main
    entry_ids = [seg.entry_ids[e] for e in seg.doc_entry[docs].tolist()]
    questions = [seg.questions[d] for d in docs.tolist()]
    canons = [seg.canons[d] for d in docs.tolist()]
    if delta is None or not delta_docs:
        return Candidates(entry_ids, questions, canons, main)
    entry_ids += [state.delta.entry_ids[d] for d in delta_docs]
    questions += [state.delta.questions[d] for d in delta_docs]
    canons += [state.delta.canons[d] for d in delta_docs]
    merged = Match(
        {v: np.concatenate([main.score[v], delta.score[v]]) for v in VIEWS},
        {v: np.concatenate([main.matched[v], delta.matched[v]]) for v in VIEWS},
        {v: np.concatenate([main.mass[v], delta.mass[v]]) for v in VIEWS},
    )
    return Candidates(entry_ids, questions, canons, merged)
