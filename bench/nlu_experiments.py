"""Intent-classifier experiments on the shared Chinese data sets.

Run: `.venv/bin/python -m bench.nlu_experiments [smp2019_nlu crosswoz ...]`. Reads
../shared/data/intent/<name>/{train,test}.jsonl, prints a table and writes
bench/results/nlu_experiments.json. Variants are sklearn re-implementations of feature
ideas, with 5-fold CV accuracy on train (what choices were made by) and test accuracy; the
last two rows per data set run ZhikeIntentClassifier end to end (default and opt-in blocks).
"""

from __future__ import annotations

import itertools
import json
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, RidgeClassifier
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import normalize as l2_rows
from sklearn.svm import LinearSVC

from bot.nlu.component import NLUMessage, TrainContext
from bot.nlu.features import (
    boundary_ngrams,
    char_ngrams,
    marked_ngrams,
    pos_features,
    sub_words,
)
from bot.nlu.intent import ZhikeIntentClassifier
from bot.nlu.jsonl import read_jsonl
from bot.nlu.normalize import ZhikeNormalizer
from bot.nlu.tokenizer import JiebaTokenizer, new_jieba
from bot.nlu.types import IntentScore, NLUData, ParseResult
from bot.testing.nlu_eval import evaluate

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "intent"
OUT = ROOT / "bench" / "results" / "nlu_experiments.json"
DEFAULT_SETS = ("smp2019_nlu", "crosswoz")

Row = dict[str, Any]  # raw: original text, norm: normalised text, toks: tokens
Analyzer = Callable[[Row], list[str]]


@dataclass
class Variant:
    name: str
    blocks: list[tuple[Analyzer, float]]  # analyzer, weight
    model: str = "svm"  # a key of MODELS
    c: float = 1.0
    sublinear: bool = False
    binary: bool = False


Scores = tuple[np.ndarray, np.ndarray]  # classes, (n, classes) scores
Fit = Callable[[Any, np.ndarray, Any, float], Scores]


def _svm(a: Any, y: np.ndarray, b: Any, c: float) -> Scores:
    m = LinearSVC(C=c, max_iter=3000).fit(a, y)
    return m.classes_, m.decision_function(b)


def _svm_balanced(a: Any, y: np.ndarray, b: Any, c: float) -> Scores:
    m = LinearSVC(C=c, class_weight="balanced", max_iter=3000).fit(a, y)
    return m.classes_, m.decision_function(b)


def _lr(a: Any, y: np.ndarray, b: Any, c: float) -> Scores:
    m = LogisticRegression(C=c, max_iter=1000).fit(a, y)
    return m.classes_, m.predict_proba(b)


def _ridge(a: Any, y: np.ndarray, b: Any, c: float) -> Scores:
    m = RidgeClassifier(alpha=1.0 / c).fit(a, y)
    return m.classes_, m.decision_function(b)


def _softmax(s: np.ndarray, t: float) -> np.ndarray:
    z = np.exp((s - s.max(1, keepdims=True)) / t)
    out: np.ndarray = z / z.sum(1, keepdims=True)
    return out


def _svm_lr(a: Any, y: np.ndarray, b: Any, c: float) -> Scores:
    """Sum of probabilities: SVM (softmax, T=0.2) + multinomial LR (C=30)."""
    classes, s = _svm(a, y, b, c)
    return classes, _softmax(s, 0.2) + _lr(a, y, b, 30.0)[1]


def _svm_knn(a: Any, y: np.ndarray, b: Any, c: float) -> Scores:
    """SVM scores + the cosine similarity of the nearest training example of each intent."""
    classes, s = _svm(a, y, b, c)
    sims = (l2_rows(b) @ l2_rows(a).T).toarray()
    nearest = np.stack([sims[:, y == k].max(1) for k in classes], axis=1)
    return classes, s + nearest


def _nbsvm(a: Any, y: np.ndarray, b: Any, c: float) -> Scores:
    """SVM + NB-SVM (one binary SVM per intent over log-count-ratio scaled features)."""
    classes, out = _svm(a, y, b, c)
    binary = (a > 0).astype(float)
    for j, k in enumerate(classes):
        pos = np.asarray(1 + binary[y == k].sum(0)).ravel()
        neg = np.asarray(1 + binary[y != k].sum(0)).ravel()
        ratio = sparse.diags(np.log((pos / pos.sum()) / (neg / neg.sum())))
        out[:, j] += LinearSVC(C=c).fit(a @ ratio, y == k).decision_function(b @ ratio)
    return classes, out


MODELS: dict[str, Fit] = {
    "svm": _svm,
    "svm_balanced": _svm_balanced,
    "lr": _lr,
    "ridge": _ridge,
    "svm+lr": _svm_lr,
    "svm+knn": _svm_knn,
    "nbsvm": _nbsvm,
}


def _raw_jieba() -> Analyzer:
    tok = new_jieba()
    return lambda r: [w for w in tok.cut(r["raw"]) if not w.isspace()]


def _word_bigrams(r: Row) -> list[str]:
    t = ["<s>", *r["toks"], "</s>"]
    return r["toks"] + [f"{a} {b}" for a, b in itertools.pairwise(t)]


def _skip_bigrams(r: Row) -> list[str]:
    t = r["toks"]
    return [f"{t[i]}_{t[j]}" for i in range(len(t)) for j in range(i + 1, min(len(t), i + 4))]


C13N: Analyzer = lambda r: char_ngrams(r["norm"])  # noqa: E731
C13R: Analyzer = lambda r: char_ngrams(r["raw"])  # noqa: E731
MARKED_N: Analyzer = lambda r: marked_ngrams(r["norm"])  # noqa: E731
MARKED_R: Analyzer = lambda r: marked_ngrams(r["raw"])  # noqa: E731
BOUNDARY: Analyzer = lambda r: boundary_ngrams(r["toks"])  # noqa: E731
WORDS: Analyzer = lambda r: r["toks"]  # noqa: E731
SUBW: Analyzer = lambda r: sub_words(r["toks"])  # noqa: E731
POS: Analyzer = lambda r: pos_features(r["toks"])  # noqa: E731
LEXICON = [(WORDS, 0.7), (SUBW, 0.7), (POS, 0.5)]
PREVIOUS = [(C13N, 1.0), *LEXICON]  # the default blocks: c, w.7, s.7, p.5
OPT_IN = [(MARKED_N, 1.0), (MARKED_R, 1.0), (BOUNDARY, 0.7), *LEXICON]


def variants() -> list[Variant]:
    return [
        Variant("floor: raw c1-3 + jieba w1, LinearSVC", [(C13R, 1.0), (_raw_jieba(), 1.0)]),
        Variant("normalised c1-3 + w1", [(C13N, 1.0), (WORDS, 1.0)]),
        Variant(
            "c1-4 + w1-2, sublinear",
            [(lambda r: char_ngrams(r["norm"], 1, 4), 1.0), (_word_bigrams, 1.0)],
            sublinear=True,
        ),
        Variant("c1-3 + w1 + search sub-words", [(C13N, 1.0), (WORDS, 1.0), (SUBW, 0.7)]),
        Variant("c1-3 + w1 + POS tags", [(C13N, 1.0), (WORDS, 1.0), (POS, 0.5)]),
        Variant("DEFAULT (c, w.7, s.7, p.5)", PREVIOUS),
        Variant("previous + NB-SVM ensemble", PREVIOUS, model="nbsvm"),
        Variant("previous, C=0.5", PREVIOUS, c=0.5),
        Variant("previous, C=2", PREVIOUS, c=2.0),
        Variant("previous, class-balanced", PREVIOUS, model="svm_balanced"),
        Variant("previous, multinomial LR C=100", PREVIOUS, model="lr", c=100.0),
        Variant("previous, ridge alpha=0.3", PREVIOUS, model="ridge", c=1 / 0.3),
        Variant("previous + 1-NN cosine blend", PREVIOUS, model="svm+knn"),
        Variant("previous, binary tf", PREVIOUS, binary=True),
        Variant("previous, sublinear tf", PREVIOUS, sublinear=True),
        Variant("previous, raw c instead of normalised c", [(C13R, 1.0), *LEXICON]),
        Variant("previous + raw c", [(C13N, 1.0), (C13R, 1.0), *LEXICON]),
        Variant("previous, c with ^$ markers", [(MARKED_N, 1.0), *LEXICON]),
        Variant("previous + word-boundary c2-3 (.7)", [(C13N, 1.0), (BOUNDARY, 0.7), *LEXICON]),
        Variant("marked c, sublinear", [(MARKED_N, 1.0), *LEXICON], sublinear=True),
        Variant(
            "marked c + marked raw c, sublinear",
            [(MARKED_N, 1.0), (MARKED_R, 1.0), *LEXICON],
            sublinear=True,
        ),
        Variant("OPT-IN: marked c + raw c + boundary, sublinear", OPT_IN, sublinear=True),
        Variant("opt-in features, C=0.5", OPT_IN, c=0.5, sublinear=True),
        Variant("opt-in features, C=2", OPT_IN, c=2.0, sublinear=True),
        Variant(
            "opt-in features + skip-bigrams (.5)", [*OPT_IN, (_skip_bigrams, 0.5)], sublinear=True
        ),
        Variant("opt-in features, SVM + LR ensemble", OPT_IN, model="svm+lr", sublinear=True),
    ]


def _fit_score(v: Variant, train: list[Row], test: list[Row]) -> Scores:
    mats = []
    for analyzer, weight in v.blocks:
        vec = TfidfVectorizer(
            analyzer=analyzer, sublinear_tf=v.sublinear, binary=v.binary, lowercase=False
        )
        mats.append((weight * vec.fit_transform(train), weight * vec.transform(test)))
    a = sparse.hstack([m[0] for m in mats]).tocsr()
    b = sparse.hstack([m[1] for m in mats]).tocsr()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MODELS[v.model](a, np.array([r["y"] for r in train]), b, v.c)


def _accuracy(v: Variant, train: list[Row], test: list[Row]) -> float:
    classes, scores = _fit_score(v, train, test)
    return float((classes[scores.argmax(1)] == np.array([r["y"] for r in test])).mean())


def cv_accuracy(v: Variant, train: list[Row], folds: int = 5) -> float:
    """Stratified k-fold accuracy on the training set (seed 0): what variants were chosen by."""
    y = np.array([r["y"] for r in train])
    correct = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # intents with fewer examples than folds
        splits = list(StratifiedKFold(folds, shuffle=True, random_state=0).split(train, y))
    for tr, te in splits:
        correct += _accuracy(v, [train[i] for i in tr], [train[i] for i in te]) * len(te)
    return correct / len(train)


def run_variant(v: Variant, train: list[Row], test: list[Row]) -> dict[str, float]:
    cv = cv_accuracy(v, train)
    start = time.perf_counter()
    accuracy = _accuracy(v, train, test)
    return {"cv_accuracy": cv, "accuracy": accuracy, "train_s": time.perf_counter() - start}


def _rows(data: NLUData, norm: ZhikeNormalizer, tok: JiebaTokenizer) -> list[Row]:
    rows = []
    for ex in data.examples:
        msg = NLUMessage(ex.text)
        norm.process(msg)
        tok.process(msg)
        rows.append(
            {
                "raw": ex.text,
                "norm": msg.normalized_text,
                "toks": [t.text for t in msg.tokens],
                "y": ex.intent,
            }
        )
    return rows


def calibration(
    clf: ZhikeIntentClassifier, msgs: list[NLUMessage], gold: list[str]
) -> dict[str, float]:
    """Expected calibration error (15 bins) of the top intent, and the multi-class Brier score."""
    probs = np.array([clf.probabilities(m) for m in msgs])
    index = {name: i for i, name in enumerate(clf.intents)}
    onehot = np.zeros_like(probs)
    for row, label in enumerate(gold):
        if label in index:
            onehot[row, index[label]] = 1.0
    conf = probs.max(1)
    correct = onehot[np.arange(len(gold)), probs.argmax(1)] == 1
    bins = np.minimum((conf * 15).astype(int), 14)
    ece = sum(
        abs(correct[bins == k].mean() - conf[bins == k].mean()) * (bins == k).mean()
        for k in range(15)
        if (bins == k).any()
    )
    return {
        "ece": round(float(ece), 4),
        "brier": round(float(((probs - onehot) ** 2).sum(1).mean()), 4),
    }


def run_shipped(train: NLUData, test: NLUData, config: dict[str, Any]) -> dict[str, Any]:
    norm, tok, clf = ZhikeNormalizer(), JiebaTokenizer(), ZhikeIntentClassifier(config)
    ctx = TrainContext()
    norm.train(train, ctx)
    tok.train(train, ctx)
    tok.tokenize("预热")  # build the segmenter before timing the classifier

    def parse(text: str) -> ParseResult:
        msg = NLUMessage(text)
        for comp in (norm, tok, clf):
            comp.process(msg)
        intent = msg.intent or IntentScore("", 0.0)
        return ParseResult(text, intent, msg.ranking, msg.entities, [t.text for t in msg.tokens])

    report = evaluate(lambda d: clf.train(d, ctx), parse, test, train=train)
    msgs = []
    for ex in test.examples:
        msg = NLUMessage(ex.text)
        norm.process(msg)
        tok.process(msg)
        msgs.append(msg)
    latencies = []
    for msg in msgs:
        start = time.perf_counter()
        clf.process(msg)
        latencies.append((time.perf_counter() - start) * 1000)
    return {
        "accuracy": report.accuracy,
        "macro_f1": report.macro_f1,
        "train_s": report.train_seconds,
        "parse_p99_ms": report.parse_latency_ms.p99,
        "classify_p50_ms": round(float(np.percentile(latencies, 50)), 4),
        "classify_p99_ms": round(float(np.percentile(latencies, 99)), 4),
        "temperature": round(clf.temperature, 4),
        **calibration(clf, msgs, [ex.intent for ex in test.examples]),
        "top_confusions": report.to_dict()["confusions"][:5],
    }


END_TO_END: dict[str, dict[str, Any]] = {
    "ZhikeIntentClassifier (end to end, default)": {},
    "ZhikeIntentClassifier (end to end, opt-in blocks)": {
        "blocks": {"m": 1.0, "r": 1.0, "b": 0.7, "w": 0.7, "s": 0.7, "p": 0.5},
        "sublinear_tf": True,
    },
}


def run_dataset(name: str) -> dict[str, Any]:
    train, test = read_jsonl(DATA / name / "train.jsonl"), read_jsonl(DATA / name / "test.jsonl")
    norm, tok = ZhikeNormalizer(), JiebaTokenizer()
    tok.train(train, TrainContext())
    tr_rows, te_rows = _rows(train, norm, tok), _rows(test, norm, tok)
    results: dict[str, Any] = {}
    for v in variants():
        results[v.name] = run_variant(v, tr_rows, te_rows)
        print(
            f"{name:12s} {v.name:50s} cv={results[v.name]['cv_accuracy']:.4f} "
            f"acc={results[v.name]['accuracy']:.4f} "
            f"train={results[v.name]['train_s']:.2f}s",
            flush=True,
        )
    for label, config in END_TO_END.items():
        row = results[label] = run_shipped(train, test, config)
        print(
            f"{name:12s} {label:50s} acc={row['accuracy']:.4f} "
            f"macroF1={row['macro_f1']:.4f} train={row['train_s']:.2f}s "
            f"classify_p99={row['classify_p99_ms']:.3f}ms ECE={row['ece']:.4f} "
            f"Brier={row['brier']:.4f}",
            flush=True,
        )
    return results


def main(argv: list[str]) -> None:
    sets = argv or list(DEFAULT_SETS)
    results = {name: run_dataset(name) for name in sets}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main(sys.argv[1:])
