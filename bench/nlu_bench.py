"""NLU benchmark: accuracy, macro-F1, entity P/R/F1, train time and parse latency.

Data: ../shared/data/intent/{smp2019_nlu,crosswoz} (JSONL). Writes bench/results/nlu.json.
Budgets (1 core): parse p99 ≤ 2 ms; train ≤ 5 s (intents) / ≤ 10 s (with entities) on
2,500 examples.
"""

from __future__ import annotations

import random
import time
from typing import Any

from bench.common import SHARED_DATA, percentiles
from bot.nlu.jsonl import read_jsonl
from bot.nlu.pipeline import Interpreter
from bot.nlu.types import NLUData
from bot.project.config import ComponentSpec
from bot.testing.nlu_eval import evaluate

DATASETS = ("smp2019_nlu", "crosswoz")
INTENT_ONLY = ["ZhikeNormalizer", "JiebaTokenizer", "ZhikeIntentClassifier"]
WITH_ENTITIES = [*INTENT_ONLY, "ZhikeNER", "EntitySynonymMapper"]


def _pipeline(names: list[str]) -> Interpreter:
    return Interpreter([ComponentSpec(n) for n in names], "zh")


def _subset(data: NLUData, n: int, seed: int = 13) -> NLUData:
    examples = list(data.examples)
    random.Random(seed).shuffle(examples)
    return NLUData(examples=examples[:n], language="zh")


def _train_seconds(names: list[str], data: NLUData) -> float:
    started = time.perf_counter()
    _pipeline(names).train(data)
    return round(time.perf_counter() - started, 3)


def bench_dataset(name: str) -> dict[str, Any]:
    folder = SHARED_DATA / "intent" / name
    train, test = read_jsonl(folder / "train.jsonl"), read_jsonl(folder / "test.jsonl")
    interpreter = _pipeline(WITH_ENTITIES)

    def train_fn(data: NLUData) -> None:
        interpreter.train(data)

    report = evaluate(train_fn, interpreter.parse, test, train=train).to_dict()
    latencies = []
    for ex in test.examples:  # single-message latency of the trained full pipeline
        t = time.perf_counter()
        interpreter.parse(ex.text)
        latencies.append((time.perf_counter() - t) * 1000)
    sample = _subset(train, 2500) if len(train.examples) >= 2500 else train
    entities = report["entities"]
    return {
        "train_examples": len(train.examples),
        "test_examples": len(test.examples),
        "intents": len(train.intents),
        "accuracy": report["accuracy"],
        "macro_f1": report["macro_f1"],
        "entities": {"micro": entities.get("micro"), "per_type": entities.get("per_type")},
        "train_seconds_full_set": report["train_seconds"],
        "train_seconds_2500": {
            "examples": len(sample.examples),
            "intents_only": _train_seconds(INTENT_ONLY, sample),
            "with_entities": _train_seconds(WITH_ENTITIES, sample),
        },
        "parse_latency_ms": percentiles(latencies),
        "top_confusions": report["confusions"][:5],
    }


def run() -> dict[str, Any]:
    results: dict[str, Any] = {"pipeline": WITH_ENTITIES, "datasets": {}}
    for name in DATASETS:
        if not (SHARED_DATA / "intent" / name / "train.jsonl").exists():
            results["datasets"][name] = {"skipped": f"data not found under {SHARED_DATA}"}
            continue
        results["datasets"][name] = bench_dataset(name)
    return results
