"""Entity extraction experiments: ZhikeNER, lookups from training values, and both combined.

Scores exact span + type micro P/R/F1 on the test split of the shared JSONL data sets, plus
training time and per-message prediction latency. Run on one core for comparable timings:

    taskset -c 0 .venv/bin/python bench/entity_experiments.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.nlu.component import Component, NLUMessage, TrainContext  # noqa: E402
from bot.nlu.lookup import LookupEntityExtractor  # noqa: E402
from bot.nlu.ner import SEGMENTERS, ZhikeNER, normalized_span  # noqa: E402
from bot.nlu.normalize import ZhikeNormalizer  # noqa: E402
from bot.nlu.synonyms import normalized  # noqa: E402
from bot.nlu.types import Entity, NLUData, TrainingExample  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "intent"
SETS = ("smp2019_nlu", "crosswoz")
Gold = set[tuple[int, int, int, str]]  # (example index, start, end, type)


def load(path: Path) -> list[TrainingExample]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        d = json.loads(line)
        ents = [
            Entity(e["entity"], e.get("value"), int(e["start"]), int(e["end"]))
            for e in d.get("entities") or []
        ]
        out.append(TrainingExample(d["text"], d.get("intent", ""), ents))
    return out


@dataclass
class Score:
    p: float
    r: float
    f1: float
    train_s: float
    p50_ms: float
    p99_ms: float

    def row(self, name: str) -> str:
        return (
            f"| {name} | {self.p:.3f} | {self.r:.3f} | {self.f1:.3f} | {self.train_s:.2f} | "
            f"{self.p50_ms:.3f} | {self.p99_ms:.3f} |"
        )


def evaluate(pipeline: list[Component], test: list[TrainingExample], train_s: float) -> Score:
    gold: Gold = {(i, e.start, e.end, e.entity) for i, ex in enumerate(test) for e in ex.entities}
    pred: Gold = set()
    times = []
    for i, ex in enumerate(test):
        message = NLUMessage(ex.text)
        pipeline[0].process(message)  # the normaliser, not timed
        t0 = time.perf_counter()
        for component in pipeline[1:]:
            component.process(message)
        times.append((time.perf_counter() - t0) * 1000)
        pred |= {(i, e.start, e.end, e.entity) for e in message.entities}
    tp = len(gold & pred)
    p = tp / len(pred) if pred else 0.0
    r = tp / len(gold) if gold else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    q = statistics.quantiles(times, n=100)
    return Score(p, r, f1, train_s, q[49], q[98])


def train(pipeline: list[Component], data: NLUData) -> float:
    ctx = TrainContext(language=data.language)
    t0 = time.perf_counter()
    for component in pipeline:
        component.train(data, ctx)
    return time.perf_counter() - t0


def alignment(examples: list[TrainingExample], segmentation: str) -> tuple[int, int]:
    """How many annotated spans do not line up with the segmenter's tokens."""
    total = bad = 0
    for ex in examples:
        norm = normalized(ex.text, "zh")
        edges = {b for s, e in SEGMENTERS[segmentation](norm.text) for b in (s, e)}
        for ent in ex.entities:
            span = normalized_span(norm, ent.start, ent.end)
            total += 1
            bad += span is None or span[0] not in edges or span[1] not in edges
    return bad, total


Factory = Callable[[], list[Component]]


def configurations(quick: bool) -> dict[str, Factory]:
    configs: dict[str, Factory] = {
        "ZhikeNER (jieba, default)": lambda: [ZhikeNER()],
        "ZhikeNER (char)": lambda: [ZhikeNER({"segmentation": "char"})],
        "ZhikeNER (jieba, no gazetteer)": lambda: [ZhikeNER({"gazetteer": False})],
        "Lookup (train values, default)": lambda: [LookupEntityExtractor()],
        "Lookup, no fuzzy": lambda: [LookupEntityExtractor({"fuzzy": False})],
        "Lookup, min annotated len 1": lambda: [LookupEntityExtractor({"min_annotated_length": 1})],
        "ZhikeNER + Lookup (default)": lambda: [ZhikeNER(), LookupEntityExtractor()],
        "ZhikeNER + Lookup, no fuzzy": lambda: [
            ZhikeNER(),
            LookupEntityExtractor({"fuzzy": False}),
        ],
    }
    if quick:
        keep = ("ZhikeNER (jieba, default)", "Lookup (train values, default)")
        configs = {k: v for k, v in configs.items() if k in keep}
    return configs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    for name in SETS:
        train_ex, test_ex = load(DATA / name / "train.jsonl"), load(DATA / name / "test.jsonl")
        data = NLUData(examples=train_ex)
        print(f"\n## {name}: train {len(train_ex)}, test {len(test_ex)}")
        for seg in SEGMENTERS:
            bad, total = alignment(train_ex, seg)
            print(f"- {seg}: {bad}/{total} training spans not on token boundaries")
        print("\n| setup | P | R | F1 | train s | p50 ms | p99 ms |\n|---|---|---|---|---|---|---|")
        for label, factory in configurations(args.quick).items():
            pipeline = [ZhikeNormalizer(), *factory()]
            seconds = train(pipeline, data)
            print(evaluate(pipeline, test_ex, seconds).row(label), flush=True)


if __name__ == "__main__":
    main()
