"""Map re-ranker scores to probabilities of being the right answer, and pick thresholds.

Fitted on the top hit of each training query (correct or not, answerable or not), so that a
score of 0.8 means "about 8 in 10 hits scored like this one were the right entry". Two
monotone maps are available: Platt (a logistic curve, smooth) and isotonic (piecewise linear
through the pooled-adjacent-violators steps); both stay in [0, 1] and never reverse an order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]


MARGIN_CAP = 5.0


def margins(raw: Sequence[float]) -> Floats:
    """Each hit's lead over the best other hit (the top hit's lead over the runner-up)."""
    x = np.asarray(raw, dtype=np.float64)
    if len(x) == 0:
        return x
    if len(x) == 1:
        return np.full(1, MARGIN_CAP)
    order = np.sort(x)
    best, second = order[-1], order[-2]
    return np.where(x >= best, x - second, x - best)


def _margin_term(margin: Floats) -> Floats:
    m = np.clip(margin, -MARGIN_CAP, MARGIN_CAP)
    out: Floats = np.sign(m) * np.log1p(np.abs(m))
    return out


@dataclass(slots=True)
class Calibrator:
    """raw ranking score (and lead over the best other hit) -> probability of being right.

    Platt: p = sigmoid(a * raw + c * g(margin) + b), g a signed log; isotonic: a monotone
    piecewise-linear map of raw alone. Both are non-decreasing in raw.
    """

    kind: str = "platt"  # "platt" or "isotonic"
    a: float = 1.0
    b: float = 0.0
    c: float = 0.0
    xs: list[float] = field(default_factory=list)  # isotonic knots (raw, increasing)
    ys: list[float] = field(default_factory=list)  # isotonic values (non-decreasing)

    def __call__(
        self, raw: Floats | Sequence[float], margin: Floats | Sequence[float] | None = None
    ) -> Floats:
        x = np.asarray(raw, dtype=np.float64)
        if self.kind == "isotonic" and self.xs:
            return np.clip(np.interp(x, self.xs, self.ys), 0.0, 1.0)
        m = np.full_like(x, MARGIN_CAP) if margin is None else np.asarray(margin, np.float64)
        z = self.a * x + self.c * _margin_term(m) + self.b
        out: Floats = 1.0 / (1.0 + np.exp(-np.clip(z, -40.0, 40.0)))
        return out


def fit_platt(
    raw: Sequence[float], correct: Sequence[bool], margin: Sequence[float] | None = None
) -> Calibrator:
    """Logistic calibration on raw (and, when given, the lead over the runner-up)."""
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(raw, dtype=np.float64).reshape(-1, 1)
    if margin is not None:
        x = np.column_stack([x, _margin_term(np.asarray(margin, dtype=np.float64))])
    y = np.asarray(correct, dtype=int)
    if len(set(y.tolist())) < 2:
        return Calibrator("platt", 0.0, 4.0 if y.all() else -4.0)
    model = LogisticRegression(C=100.0, max_iter=1000).fit(x, y)
    a = float(model.coef_[0, 0])
    c = float(model.coef_[0, 1]) if margin is not None else 0.0
    return Calibrator("platt", max(a, 0.0), float(model.intercept_[0]), max(c, 0.0))


def fit_isotonic(raw: Sequence[float], correct: Sequence[bool], knots: int = 24) -> Calibrator:
    from sklearn.isotonic import IsotonicRegression

    x = np.asarray(raw, dtype=np.float64)
    y = np.asarray(correct, dtype=np.float64)
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, y)
    grid = np.unique(np.quantile(x, np.linspace(0.0, 1.0, knots)))
    values = np.maximum.accumulate(iso.predict(grid))
    return Calibrator("isotonic", xs=grid.round(5).tolist(), ys=values.round(5).tolist())


def expected_calibration_error(
    p: Sequence[float], correct: Sequence[bool], bins: int = 10
) -> float:
    """Mean |confidence - accuracy| over equal-width probability bins, weighted by size."""
    prob = np.asarray(p, dtype=np.float64)
    hit = np.asarray(correct, dtype=np.float64)
    if not len(prob):
        return 0.0
    which = np.minimum((prob * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.sum() * abs(prob[mask].mean() - hit[mask].mean())
    return float(total / len(prob))


def reliability(
    p: Sequence[float], correct: Sequence[bool], bins: int = 5
) -> list[dict[str, float]]:
    """Per probability bin: how many, mean predicted probability, observed accuracy."""
    prob = np.asarray(p, dtype=np.float64)
    hit = np.asarray(correct, dtype=np.float64)
    which = np.minimum((prob * bins).astype(int), bins - 1)
    rows = []
    for b in range(bins):
        mask = which == b
        if mask.any():
            rows.append(
                {
                    "bin": round(b / bins, 2),
                    "n": int(mask.sum()),
                    "p": round(float(prob[mask].mean()), 3),
                    "acc": round(float(hit[mask].mean()), 3),
                }
            )
    return rows


def threshold_for_precision(p: Sequence[float], correct: Sequence[bool], target: float) -> float:
    """The lowest score threshold whose answered precision (top hit correct) is >= target."""
    prob = np.asarray(p, dtype=np.float64)
    hit = np.asarray(correct, dtype=np.float64)
    order = np.argsort(-prob)
    precision = np.cumsum(hit[order]) / np.arange(1, len(order) + 1)
    ok = np.flatnonzero(precision >= target)
    if not len(ok):
        return 1.0
    return float(prob[order][ok[-1]])
