"""Re-ranking features and the small learned model that scores FAQ candidates.

Each candidate question gets features that do not depend on the FAQ set's vocabulary, so a
model fitted on our training splits carries over to unseen FAQ sets: per view (words,
characters, pinyin) the normalised BM25, the idf-weighted share of the query found in the
question and of the question found in the query, the BM25 relative to the best candidate,
plus character-level similarity (longest common substring, Jaccard) and the length ratio.
A logistic regression over them (weights in `rerank.json`) gives the ranking score (its
logit is `Hit.raw`); `bot.kb.calibrate` maps it to a probability.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bot.kb.analysis import VIEWS, Analysis
from bot.kb.calibrate import Calibrator
from bot.kb.segment import Match

PARAMS_FILE = Path(__file__).with_name("rerank.json")

FloatMatrix = npt.NDArray[np.float64]

_PER_VIEW = ("bm25", "cover_q", "cover_d", "rel")
_TEXT = ("lcs_q", "lcs_d", "jaccard", "len_ratio", "exact")
FEATURES: tuple[str, ...] = (
    *(f"{v}_{f}" for v in VIEWS for f in _PER_VIEW),
    *_TEXT,
)


@dataclass(slots=True)
class Candidates:
    """Candidate questions for one query (main segment and delta together)."""

    entry_ids: list[str]
    questions: list[str]
    canons: list[str]
    match: Match

    def __len__(self) -> int:
        return len(self.entry_ids)


def _longest_run(text: str, grams: set[str]) -> int:
    """Length of the longest run of `text` whose character bigrams all occur in `grams`
    (a cheap stand-in for the longest common substring)."""
    best = run = 1 if text else 0
    for a, b in itertools.pairwise(text):
        run = run + 1 if a + b in grams else 1
        best = max(best, run)
    return best


def _text_features(query: str, canon: str) -> tuple[float, ...]:
    if not query or not canon:
        return (0.0, 0.0, 0.0, 0.0, 0.0)
    grams = {query[i : i + 2] for i in range(len(query) - 1)}
    shared = _longest_run(canon, grams) if grams else float(query in canon)
    q, d = set(query), set(canon)
    return (
        min(shared, len(query)) / len(query),
        min(shared, len(canon)) / len(canon),
        len(q & d) / len(q | d),
        min(len(query), len(canon)) / max(len(query), len(canon)),
        float(query == canon),
    )


def features(query: Analysis, query_mass: dict[str, float], cands: Candidates) -> FloatMatrix:
    """The (candidates x FEATURES) matrix."""
    n = len(cands)
    columns: list[npt.NDArray[np.float64]] = []
    for view in VIEWS:
        q_mass = max(query_mass.get(view, 0.0), 1e-6)
        score = cands.match.score[view].astype(np.float64)
        matched = cands.match.matched[view].astype(np.float64)
        mass = np.maximum(cands.match.mass[view].astype(np.float64), 1e-6)
        best = score.max() if n else 0.0
        columns += [
            score / q_mass,
            np.minimum(matched / q_mass, 1.0),
            np.minimum(matched / mass, 1.0),
            score / best if best > 0 else np.zeros(n),
        ]
    text = np.asarray(
        [_text_features(query.canon, c) for c in cands.canons], dtype=np.float64
    ).reshape(n, len(_TEXT))
    return np.column_stack([*columns, text]) if n else np.zeros((0, len(FEATURES)))


@dataclass(slots=True)
class Reranker:
    """Logistic regression over standardised features (a tiny, inspectable model)."""

    features: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    calibration: Calibrator = field(default_factory=Calibrator)
    thresholds: dict[str, float] = field(default_factory=dict)
    notes: dict[str, object] = field(default_factory=dict)

    def probability(
        self, logit: npt.NDArray[np.float64], margin: npt.NDArray[np.float64] | None = None
    ) -> npt.NDArray[np.float64]:
        return self.calibration(logit, margin)

    def logit(self, x: FloatMatrix) -> npt.NDArray[np.float64]:
        z = (x - np.asarray(self.mean)) / np.asarray(self.scale)
        out: npt.NDArray[np.float64] = z @ np.asarray(self.coef) + self.intercept
        return out

    @classmethod
    def fallback(cls) -> Reranker:
        """Untrained weights (the sum of the views' query coverage), used only to train."""
        coef = [1.0 if f.endswith("cover_q") else 0.0 for f in FEATURES]
        zeros = [0.0] * len(FEATURES)
        return cls(list(FEATURES), zeros, [1.0] * len(FEATURES), coef, 0.0)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Reranker:
        data = json.loads(text)
        data["calibration"] = Calibrator(**data.get("calibration", {}))
        model = cls(**data)
        if tuple(model.features) != FEATURES:
            raise ValueError("rerank parameters were fitted for another feature set")
        return model


def load(path: Path | None = None) -> Reranker:
    """The shipped model; the untrained fallback when no parameter file exists yet."""
    path = path or PARAMS_FILE
    if not path.exists():
        return Reranker.fallback()
    return Reranker.from_json(path.read_text(encoding="utf-8"))


def fit(x: FloatMatrix, y: Sequence[int], c: float = 1.0) -> Reranker:
    """Fit the logistic regression on candidate features and gold labels."""
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = np.where(x.std(axis=0) > 1e-9, x.std(axis=0), 1.0)
    model = LogisticRegression(C=c, max_iter=2000).fit((x - mean) / scale, np.asarray(y))
    return Reranker(
        list(FEATURES),
        mean.tolist(),
        scale.tolist(),
        model.coef_[0].tolist(),
        float(model.intercept_[0]),
    )
