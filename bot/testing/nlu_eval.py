"""Evaluate an NLU (train + parse callables) on held-out data: intents, entities, speed."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from bot.nlu.types import Entity, NLUData, ParseResult

TOP_CONFUSIONS = 10


@dataclass(slots=True)
class PRF:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(slots=True)
class Confusion:
    gold: str
    predicted: str
    count: int


@dataclass(slots=True)
class EntityReport:
    per_type: dict[str, PRF] = field(default_factory=dict)
    micro: PRF = field(default_factory=lambda: PRF(0.0, 0.0, 0.0, 0))
    value_accuracy: float = 0.0  # of exactly matched spans, how many also have the gold value


@dataclass(slots=True)
class Latency:
    p50: float
    p95: float
    p99: float


@dataclass(slots=True)
class NLUReport:
    accuracy: float
    macro_f1: float
    per_intent: dict[str, PRF]
    confusions: list[Confusion]
    entities: EntityReport
    train_seconds: float
    parse_latency_ms: Latency
    examples: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def prf(tp: int, fp: int, fn: int) -> PRF:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return PRF(round(p, 4), round(r, 4), round(f, 4), tp + fn)


def intent_scores(gold: list[str], pred: list[str]) -> tuple[dict[str, PRF], list[Confusion]]:
    pairs = Counter(zip(gold, pred, strict=True))
    per: dict[str, PRF] = {}
    for label in sorted(set(gold) | set(pred)):
        tp = pairs[(label, label)]
        fp = sum(n for (g, p), n in pairs.items() if p == label and g != label)
        fn = sum(n for (g, p), n in pairs.items() if g == label and p != label)
        per[label] = prf(tp, fp, fn)
    wrong = [(n, g, p) for (g, p), n in pairs.items() if g != p]
    wrong.sort(key=lambda t: (-t[0], t[1], t[2]))
    confusions = [Confusion(g, p, n) for n, g, p in wrong[:TOP_CONFUSIONS]]
    return per, confusions


def _key(e: Entity) -> tuple[int, int, str]:
    return (e.start, e.end, e.entity)


def entity_scores(gold: Iterable[list[Entity]], pred: Iterable[list[Entity]]) -> EntityReport:
    """Exact span + type matching; value agreement is reported separately."""
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    value_hits = 0
    for g_ents, p_ents in zip(gold, pred, strict=True):
        g_map = {_key(e): e for e in g_ents}
        p_map = {_key(e): e for e in p_ents}
        for k, e in p_map.items():
            if k in g_map:
                tp[e.entity] += 1
                value_hits += int(str(e.value) == str(g_map[k].value))
            else:
                fp[e.entity] += 1
        for k, e in g_map.items():
            if k not in p_map:
                fn[e.entity] += 1
    types = sorted(set(tp) | set(fp) | set(fn))
    total_tp = sum(tp.values())
    return EntityReport(
        per_type={t: prf(tp[t], fp[t], fn[t]) for t in types},
        micro=prf(total_tp, sum(fp.values()), sum(fn.values())),
        value_accuracy=round(value_hits / total_tp, 4) if total_tp else 0.0,
    )


def evaluate(
    train_fn: Callable[[NLUData], None],
    parse_fn: Callable[[str], ParseResult],
    test: NLUData,
    train: NLUData | None = None,
) -> NLUReport:
    """Train with `train_fn(train)` (skipped when `train` is None), then parse every test text."""
    start = time.perf_counter()
    if train is not None:
        train_fn(train)
    train_seconds = time.perf_counter() - start
    results: list[ParseResult] = []
    latencies: list[float] = []
    for ex in test.examples:
        t = time.perf_counter()
        results.append(parse_fn(ex.text))
        latencies.append((time.perf_counter() - t) * 1000)
    gold = [ex.intent for ex in test.examples]
    pred = [r.intent.name for r in results]
    per, confusions = intent_scores(gold, pred)
    gold_labels = set(gold)
    f1s = [s.f1 for label, s in per.items() if label in gold_labels]
    q = np.percentile(latencies, [50, 95, 99]) if latencies else np.zeros(3)
    return NLUReport(
        accuracy=round(sum(g == p for g, p in zip(gold, pred, strict=True)) / max(len(gold), 1), 4),
        macro_f1=round(float(np.mean(f1s)) if f1s else 0.0, 4),
        per_intent=per,
        confusions=confusions,
        entities=entity_scores(
            [ex.entities for ex in test.examples], [r.entities for r in results]
        ),
        train_seconds=round(train_seconds, 3),
        parse_latency_ms=Latency(*(round(float(v), 4) for v in q)),
        examples=len(gold),
    )
