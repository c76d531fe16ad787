"""Intent classification: linear SVM over TF-IDF blocks, temperature-calibrated.

Design (see bench/nlu_experiments.py for the measurements behind it): character 1-3-grams,
segmenter words, search-mode sub-words and dictionary part-of-speech tags, one-vs-rest
LinearSVC, and a softmax over the decision scores whose temperature is fitted on
cross-validated scores, so confidences are calibrated probabilities.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol

import numpy as np

from bot.nlu.component import Component, NLUMessage, Token, TrainContext
from bot.nlu.features import ANALYZERS, BLOCK_WEIGHTS, Featurizer, make_doc
from bot.nlu.normalize import normalize
from bot.nlu.tokenizer import JiebaTokenizer, WhitespaceTokenizer
from bot.nlu.types import IntentScore, NLUData

DEFAULT_TEMPERATURE = 0.3  # typical fitted value; used when there is too little data for CV
RANKING_LENGTH = 10


class SupportsTokenize(Protocol):
    def tokenize(self, text: str) -> list[Token]: ...


def softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    z = scores / max(temperature, 1e-6)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=-1, keepdims=True)
    return out


def fit_temperature(scores: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood of the true labels."""

    def nll(log_t: float) -> float:
        p = softmax(scores, math.exp(log_t))[np.arange(len(labels)), labels]
        return float(-np.log(np.clip(p, 1e-12, 1.0)).mean())

    from scipy.optimize import minimize_scalar  # training only: keeps serving memory small

    res = minimize_scalar(nll, bounds=(math.log(0.01), math.log(10.0)), method="bounded")
    return float(math.exp(res.x))


def _svm_scores(model: Any, x: Any) -> np.ndarray:
    s = np.asarray(model.decision_function(x), dtype=np.float64)
    return np.c_[-s / 2, s / 2] if s.ndim == 1 else s


def _fit_svm(x: Any, y: np.ndarray, c: float) -> Any:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return LinearSVC(C=c, max_iter=2000).fit(x, y)


def _cv_temperature(x: Any, y: np.ndarray, c: float) -> float:
    """Fit the temperature on out-of-fold scores; intents too rare to split always train."""
    counts = Counter(y.tolist())
    splittable = np.array([counts[label] >= 3 for label in y.tolist()])
    folds = min(5, min((n for n in counts.values() if n >= 3), default=0))
    if folds < 2 or splittable.sum() < 20 or len({*y[splittable].tolist()}) < 2:
        return DEFAULT_TEMPERATURE
    held = np.flatnonzero(splittable)
    always = np.flatnonzero(~splittable)
    scores = np.zeros((len(held), len(counts)))
    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(folds, shuffle=True, random_state=0)
    for tr, te in splitter.split(held, y[held]):
        train_idx = np.concatenate([held[tr], always])
        scores[te] = _svm_scores(_fit_svm(x[train_idx], y[train_idx], c), x[held[te]])
    return fit_temperature(scores, y[held])


class ZhikeIntentClassifier(Component):
    """Sets `message.intent` and `message.ranking` (top 10, calibrated probabilities)."""

    name = "ZhikeIntentClassifier"
    # blocks: {block: weight} overriding the language's default feature blocks (features.py)
    defaults: ClassVar[dict[str, Any]] = {
        "C": 1.0,
        "calibrate": True,
        "blocks": None,
        "sublinear_tf": False,
    }

    def __init__(self, config: dict[str, Any] | None = None, language: str = "zh") -> None:
        super().__init__(config, language)
        self.intents: list[str] = []
        self.featurizer: Featurizer | None = None
        self.weights = np.zeros((0, 0), dtype=np.float32)  # (features, intents)
        self.bias = np.zeros(0, dtype=np.float32)
        self.temperature = DEFAULT_TEMPERATURE
        self.tokenizer: SupportsTokenize | None = None

    # -- training ---------------------------------------------------------------------
    def train(self, data: NLUData, ctx: TrainContext) -> None:
        self.language = ctx.language or data.language or self.language
        tokenizer = ctx.artifacts.get("tokenizer") or self._own_tokenizer(data, ctx)
        self.tokenizer = tokenizer
        messages = []
        for ex in data.examples:
            msg = NLUMessage(ex.text, norm=normalize(ex.text, self.language))
            msg.tokens = tokenizer.tokenize(msg.normalized_text)
            messages.append(msg)
        self.train_messages(messages, [ex.intent for ex in data.examples])

    def _own_tokenizer(self, data: NLUData, ctx: TrainContext) -> SupportsTokenize:
        tok: JiebaTokenizer | WhitespaceTokenizer
        if self.language.startswith("zh"):
            tok = JiebaTokenizer(language=self.language)
        else:
            tok = WhitespaceTokenizer(language=self.language)
        tok.train(data, TrainContext(self.language, set(ctx.extra_words)))
        return tok

    def train_messages(self, messages: Sequence[NLUMessage], intents: Sequence[str]) -> None:
        """Train on messages that already went through the normaliser and tokenizer."""
        self.intents = sorted(set(intents))
        docs = [make_doc(m.normalized_text, m.tokens, m.text) for m in messages]
        sublinear = bool(self.config.get("sublinear_tf", False))
        self.featurizer = Featurizer(self._block_weights(), sublinear)
        x = self.featurizer.fit_matrix(docs)
        if len(self.intents) < 2:
            self.weights = np.zeros((self.featurizer.size, len(self.intents)), np.float32)
            self.bias = np.zeros(len(self.intents), np.float32)
            return
        index = {name: i for i, name in enumerate(self.intents)}
        y = np.array([index[i] for i in intents])
        c = float(self.config["C"])
        model = _fit_svm(x, y, c)
        coef, bias = np.asarray(model.coef_), np.asarray(model.intercept_)
        if coef.shape[0] == 1:  # binary: turn one score into two symmetric ones
            coef, bias = np.vstack([-coef / 2, coef / 2]), np.array([-bias[0] / 2, bias[0] / 2])
        self.weights = np.ascontiguousarray(coef.T, dtype=np.float32)
        self.bias = bias.astype(np.float32)
        if self.config.get("calibrate", True):
            self.temperature = _cv_temperature(x, y, c)

    def _block_weights(self) -> dict[str, float]:
        chosen = self.config.get("blocks")
        if not chosen:
            return dict(BLOCK_WEIGHTS["zh" if self.language.startswith("zh") else "en"])
        unknown = sorted(set(chosen) - set(ANALYZERS))
        if unknown:
            raise ValueError(f"unknown feature blocks {unknown}; known: {sorted(ANALYZERS)}")
        return {str(b): float(w) for b, w in chosen.items()}

    # -- parsing ----------------------------------------------------------------------
    def scores(self, message: NLUMessage) -> np.ndarray:
        """Raw decision scores, one per intent in `self.intents` order."""
        if self.featurizer is None:
            return np.zeros(0)
        tokens = message.tokens
        if not tokens and self.tokenizer is not None:
            tokens = self.tokenizer.tokenize(message.normalized_text)
        doc = make_doc(message.normalized_text, tokens, message.text)
        idx, vals = self.featurizer.row(doc)
        out: np.ndarray = vals @ self.weights[idx] + self.bias
        return out

    def probabilities(self, message: NLUMessage) -> np.ndarray:
        if len(self.intents) == 1:
            return np.ones(1)
        return softmax(self.scores(message), self.temperature)

    def process(self, message: NLUMessage) -> None:
        if not self.intents:
            return
        probs = self.probabilities(message)
        order = np.argsort(-probs, kind="stable")[:RANKING_LENGTH]
        message.ranking = [IntentScore(self.intents[i], float(probs[i])) for i in order]
        message.intent = message.ranking[0]
