"""FAQ-retrieval experiments: baseline, feature ablations, re-ranker fit and calibration.

Run: `.venv/bin/python -m bench.kb_experiments [--write-params]`. Builds the splits of
`bench.kb_splits`, extracts re-ranking features for every query's candidates, fits the
logistic re-ranker on the train splits, cross-fits the calibration on them, and measures
top-1 / top-3 / MRR on the test splits (and their traditional-script and homophone
variants) against a character-bigram BM25 baseline. Writes bench/results/kb_experiments.json;
with --write-params also bot/kb/rerank.json (the shipped model).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import bm25s
import numpy as np

from bench.common import RESULTS
from bench.kb_splits import TEST_SPLITS, TRAIN_SPLITS, Split, describe, load_split
from bot.kb import calibrate, rerank
from bot.kb.index import FAQIndex
from bot.kb.rerank import FEATURES, Reranker

OUT = RESULTS / "kb_experiments.json"
VARIANTS = ("", "+trad", "+trad-kb", "+asr")
ANSWER_PRECISION = 0.92  # out-of-fold precision of answered training queries
CLARIFY_THRESHOLD = 0.3  # below: fall back; between: offer the top hits to choose from


@dataclass(slots=True)
class QueryData:
    gold: str
    x: np.ndarray  # candidates x features
    entry_ids: list[str]


def extract(split: Split) -> tuple[list[QueryData], float]:
    """Features of every query's candidates; also the candidate recall (gold reachable)."""
    index = FAQIndex.build(split.entries, reranker=Reranker.fallback())
    data: list[QueryData] = []
    for query, gold in split.queries:
        analysis, mass, cands = index.candidates(query, rerank_n())
        x = rerank.features(analysis, mass, cands)
        data.append(QueryData(gold, x, cands.entry_ids))
    answerable = [d for d in data if d.gold]
    recall = sum(d.gold in d.entry_ids for d in answerable) / max(len(answerable), 1)
    return data, recall


def rerank_n() -> int:
    from bot.kb.index import MIN_CANDIDATES

    return MIN_CANDIDATES


def ranked(d: QueryData, logits: np.ndarray) -> tuple[list[str], list[float]]:
    seen: dict[str, float] = {}
    for i in np.argsort(-logits, kind="stable").tolist():
        seen.setdefault(d.entry_ids[i], float(logits[i]))
    return list(seen), list(seen.values())


def metrics(data: list[QueryData], score: Callable[[np.ndarray], np.ndarray]) -> dict[str, float]:
    top1 = top3 = rr = 0.0
    n = 0
    for d in data:
        if not d.gold:
            continue
        n += 1
        ids, _ = ranked(d, score(d.x)) if len(d.entry_ids) else ([], [])
        if d.gold in ids[:10]:
            rank = ids.index(d.gold) + 1
            top1 += rank == 1
            top3 += rank <= 3
            rr += 1 / rank
    n = max(n, 1)
    return {"top1": round(top1 / n, 4), "top3": round(top3 / n, 4), "mrr": round(rr / n, 4)}


def training_matrix(data: list[QueryData], cols: list[int]) -> tuple[np.ndarray, np.ndarray]:
    xs = [d.x[:, cols] for d in data if len(d.entry_ids)]
    ys = [np.asarray([e == d.gold for e in d.entry_ids]) for d in data if len(d.entry_ids)]
    return np.vstack(xs), np.concatenate(ys).astype(int)


def fit_cols(data: list[QueryData], cols: list[int], c: float = 1.0) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    x, y = training_matrix(data, cols)
    mean, std = x.mean(axis=0), np.where(x.std(axis=0) > 1e-9, x.std(axis=0), 1.0)
    lr = LogisticRegression(C=c, max_iter=2000).fit((x - mean) / std, y)
    w = lr.coef_[0] / std
    b = lr.intercept_[0] - float(mean @ w)
    full = np.zeros(len(FEATURES) + 1)
    full[cols] = w
    full[-1] = b
    return full


def linear(w: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    return lambda x: x @ w[:-1] + w[-1]


def top_hits(data: list[QueryData], model: Reranker) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-1 logit, its lead over the runner-up and whether it is right, per query."""
    raw, lead, right = [], [], []
    for d in data:
        ids, logits = ranked(d, model.logit(d.x)) if len(d.entry_ids) else ([""], [-10.0])
        raw.append(logits[0])
        lead.append(logits[0] - logits[1] if len(logits) > 1 else calibrate.MARGIN_CAP)
        right.append(bool(d.gold) and ids[0] == d.gold)
    return np.asarray(raw), np.asarray(lead), np.asarray(right)


def baseline(split: Split) -> dict[str, float]:
    """Character-bigram BM25 on the raw text (lower-cased, spaces dropped), max per entry."""

    def grams(text: str) -> list[str]:
        t = "".join(text.lower().split())
        return [t[i : i + 2] for i in range(len(t) - 1)] or [t]

    owners = [e.id for e in split.entries for _ in e.questions()]
    bm = bm25s.BM25(method="lucene")
    bm.index([grams(q) for e in split.entries for q in e.questions()], show_progress=False)
    top1 = top3 = rr = 0.0
    answerable = [(q, g) for q, g in split.queries if g]
    for query, gold in answerable:
        ids = [i for i in bm.get_tokens_ids(grams(query))]
        scores = bm.get_scores(ids) if ids else np.zeros(len(owners))
        order: dict[str, None] = {}
        for doc in np.argsort(-scores, kind="stable")[:50].tolist():
            if scores[doc] > 0:
                order.setdefault(owners[doc])
        ranking = list(order)[:10]
        if gold in ranking:
            rank = ranking.index(gold) + 1
            top1 += rank == 1
            top3 += rank <= 3
            rr += 1 / rank
    n = max(len(answerable), 1)
    return {"top1": round(top1 / n, 4), "top3": round(top3 / n, 4), "mrr": round(rr / n, 4)}


ABLATIONS: dict[str, Callable[[str], bool]] = {
    "all": lambda f: True,
    "no_pinyin": lambda f: not f.startswith("pinyin"),
    "no_word": lambda f: not f.startswith("word"),
    "no_char_view": lambda f: not f.startswith("char"),
    "no_text": lambda f: f.split("_")[0] in ("word", "char", "pinyin"),
    "bm25_only": lambda f: f.endswith("_bm25") or f.endswith("_rel"),
}


def crossfit(train: list[QueryData], folds: int = 4) -> tuple[np.ndarray, ...]:
    """Out-of-fold top-1 logits, leads and correctness on the training queries."""
    order = np.random.default_rng(0).permutation(len(train))
    parts = []
    for f in range(folds):
        held = [train[i] for i in order[f::folds]]
        rest = [train[i] for i in order if i % folds != f]
        model = rerank.fit(*training_matrix(rest, ALL))
        parts.append(top_hits(held, model))
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))


def threshold_table(p: np.ndarray, right: np.ndarray) -> list[dict[str, float]]:
    rows = []
    for t in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        answered = p >= t
        rows.append(
            {
                "threshold": t,
                "answered": round(float(answered.mean()), 4),
                "precision": round(float(right[answered].mean()) if answered.any() else 1.0, 4),
            }
        )
    return rows


def calibration_report(
    tests: dict[str, list[QueryData]], model: Reranker, cals: dict[str, calibrate.Calibrator]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for cal_name, cal in cals.items():
        rows = {}
        for n, d in tests.items():
            raw, lead, right = top_hits(d, model)
            p = cal(raw, lead)
            rows[n] = {
                "ece": round(calibrate.expected_calibration_error(p, right), 4),
                "reliability": calibrate.reliability(p, right),
                "thresholds": threshold_table(p, right),
            }
        out[cal_name] = rows
    return out


ALL = list(range(len(FEATURES)))
FIT_ON = ("lcqmc-train",)  # see "training_sets": afqmc-train's labels are too noisy to help


def main(write_params: bool) -> dict[str, Any]:
    started = time.time()
    names = [*TRAIN_SPLITS, *(f"{b}{v}" for b in TEST_SPLITS for v in VARIANTS)]
    splits = {n: load_split(n) for n in names}
    data: dict[str, list[QueryData]] = {}
    recall: dict[str, float] = {}
    for name, split in splits.items():
        data[name], recall[name] = extract(split)
        print(name, describe(split), "candidate recall", round(recall[name], 4), flush=True)
    tests = {n: data[n] for n in names if n not in TRAIN_SPLITS}
    report: dict[str, Any] = {
        "splits": {n: describe(s) for n, s in splits.items()},
        "candidate_recall": recall,
        "baseline_char_bigram_bm25": {n: baseline(splits[n]) for n in tests},
        "training_sets": {},
        "ablations": {},
    }
    for label, sets in (
        ("lcqmc", ["lcqmc-train"]),
        ("afqmc", ["afqmc-train"]),
        ("both", TRAIN_SPLITS),
    ):
        w = fit_cols([d for n in sets for d in data[n]], ALL)
        report["training_sets"][label] = {n: metrics(d, linear(w)) for n, d in tests.items()}
    train = [d for n in FIT_ON for d in data[n]]
    for name, keep in ABLATIONS.items():
        w = fit_cols(train, [i for i, f in enumerate(FEATURES) if keep(f)])
        report["ablations"][name] = {n: metrics(d, linear(w)) for n, d in tests.items()}
        print(name, {n: r["top1"] for n, r in report["ablations"][name].items()}, flush=True)
    model = rerank.fit(*training_matrix(train, ALL))
    raw, lead, right = crossfit(train)
    cals = {
        "platt_margin": calibrate.fit_platt(raw, right, lead),
        "platt": calibrate.fit_platt(raw, right),
        "isotonic": calibrate.fit_isotonic(raw, right),
    }
    report["calibration"] = calibration_report(tests, model, cals)
    model.calibration = cals["platt_margin"]
    p_train = model.calibration(raw, lead)
    report["train_oof_thresholds"] = threshold_table(p_train, right)
    model.thresholds = {
        "answer": round(calibrate.threshold_for_precision(p_train, right, ANSWER_PRECISION), 3),
        "clarify": CLARIFY_THRESHOLD,
    }
    model.notes = {"trained_on": list(FIT_ON), "calibration": "platt on logit + lead, OOF"}
    report["model"] = {
        "coef": dict(zip(FEATURES, np.round(model.coef, 4).tolist(), strict=True)),
        "calibration": asdict(model.calibration),
    }
    report["thresholds"] = model.thresholds
    report["seconds"] = round(time.time() - started, 1)
    OUT.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    if write_params:
        rerank.PARAMS_FILE.write_text(model.to_json() + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    main("--write-params" in sys.argv)
