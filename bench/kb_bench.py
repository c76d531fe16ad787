"""FAQ index benchmark: budgets at 1k / 10k / 100k entries and quality on the test splits.

Run: `.venv/bin/python -m bench.kb_bench [--sizes 1000,10000]` (writes bench/results/kb.json).
Entries are synthesised from the shared question-pair files: each is a paraphrase group (its
questions as standard + similar questions, plus a couple of perturbed copies), every question
perturbed by one spliced character pair so that texts are unique at any size. Search queries
are perturbed copies of indexed questions. Latency is the best of three passes (single core,
`pin_one_core`); memory is the RSS growth over the build (plus tracemalloc up to 10k).
Quality: `bot.kb.evaluate` with the shipped model and thresholds on the test splits of
`bench.kb_splits` (and their traditional-script / homophone variants), next to the
character-bigram BM25 baseline.
"""

from __future__ import annotations

import gc
import random
import sys
import time
import tracemalloc
from dataclasses import replace
from functools import lru_cache
from typing import Any

import numpy as np

from bench.common import percentiles, pin_one_core, rss_mb, write_result
from bench.kb_experiments import baseline
from bench.kb_splits import FAQ_DATA, TEST_SPLITS, load_split, paraphrase_groups, read_pairs
from bot.kb.evaluate import evaluate
from bot.kb.index import FAQIndex
from bot.kb.rerank import load
from bot.kb.types import FAQEntry, KBAnswer

SIZES = (1_000, 10_000, 100_000)
N_QUERIES = 500
N_EDITS = 20
BUDGETS = {"search_p99_ms_at_100k": 5.0, "edit_to_live_s": 2.0, "build_s_at_100k": 60.0}
QUALITY_SPLITS = [f"{b}{v}" for b in TEST_SPLITS for v in ("", "+trad", "+trad-kb", "+asr")]


@lru_cache(maxsize=1)
def _groups() -> list[list[str]]:
    pairs = [
        *read_pairs(FAQ_DATA / "afqmc" / "pairs_train.tsv"),
        *read_pairs(FAQ_DATA / "afqmc" / "pairs_dev.tsv"),
        *read_pairs(FAQ_DATA / "lcqmc" / "pairs_dev.tsv"),
    ]
    return paraphrase_groups(pairs)


def _perturb(rng: random.Random, text: str, donors: list[str]) -> str:
    donor = rng.choice(donors)
    if len(text) < 3 or len(donor) < 3:
        return text + donor[:2]
    i, j = rng.randrange(len(text) - 1), rng.randrange(len(donor) - 1)
    return text[:i] + donor[j : j + 2] + text[i + 2 :]


def synthesize(n: int, seed: int = 7) -> tuple[list[FAQEntry], list[tuple[str, str]]]:
    """`n` entries and N_QUERIES (query, gold id) pairs drawn from them."""
    rng = random.Random(seed)
    groups = _groups()
    donors = [q for g in groups for q in g]
    entries = []
    for i in range(n):
        group = rng.choice(groups)
        questions = [_perturb(rng, q, donors) for q in group]
        questions += [_perturb(rng, group[0], donors) for _ in range(rng.randint(0, 2))]
        entries.append(FAQEntry(f"e{i}", questions[0], KBAnswer("答案"), questions[1:]))
    queries = []
    for _ in range(N_QUERIES):
        entry = rng.choice(entries)
        queries.append((_perturb(rng, rng.choice(entry.questions()), donors), entry.id))
    return entries, queries


def _latency(index: FAQIndex, queries: list[tuple[str, str]], passes: int = 3) -> dict[str, Any]:
    best: dict[str, float] | None = None
    top1 = 0.0
    for _ in range(passes):
        samples = []
        hits_at_1 = 0
        for text, gold in queries:
            start = time.perf_counter()
            hits = index.search(text, k=5)
            samples.append((time.perf_counter() - start) * 1000)
            hits_at_1 += bool(hits) and hits[0].entry_id == gold
        stats = percentiles(samples)
        if best is None or stats["p99"] < best["p99"]:
            best = stats
        top1 = hits_at_1 / len(queries)
    return {"search_ms": best, "synthetic_top1": round(top1, 4)}


def _edits(index: FAQIndex, entries: list[FAQEntry]) -> dict[str, Any]:
    """Seconds from an edit call until a search sees it (add, change, delete)."""
    rng = random.Random(11)
    added, changed, deleted = [], [], []
    for i in range(N_EDITS):
        question = f"测试新增问题第{i}号：如何办理业务编号{rng.randrange(10**6)}"
        start = time.perf_counter()
        index.upsert(FAQEntry(f"new{i}", question, KBAnswer("答案")))
        ok = index.search(question, k=1)[0].entry_id == f"new{i}"
        added.append(time.perf_counter() - start if ok else float("inf"))
        target = rng.choice(entries)
        new_question = f"修改后的问题{i}：怎么查询积分{rng.randrange(10**6)}"
        start = time.perf_counter()
        index.upsert(replace(target, question=new_question, similar=[]))
        ok = any(h.question == new_question for h in index.search(new_question, k=5))
        changed.append(time.perf_counter() - start if ok else float("inf"))
        start = time.perf_counter()
        index.delete(f"new{i}")
        ok = all(h.entry_id != f"new{i}" for h in index.search(question, k=5))
        deleted.append(time.perf_counter() - start if ok else float("inf"))
    return {
        name: {"median_s": round(float(np.median(v)), 4), "max_s": round(max(v), 4)}
        for name, v in (("add", added), ("change", changed), ("delete", deleted))
    }


def _compaction(index: FAQIndex, queries: list[tuple[str, str]]) -> dict[str, Any]:
    """Compaction time, and search latency while it runs in the background."""
    start = time.perf_counter()
    future = index.compact()
    samples = []
    i = 0
    while not future.done():
        t = time.perf_counter()
        index.search(queries[i % len(queries)][0], k=5)
        samples.append((time.perf_counter() - t) * 1000)
        i += 1
    future.result()
    return {
        "compact_s": round(time.perf_counter() - start, 2),
        "search_ms_during_compaction": percentiles(samples),
        "searches_during_compaction": len(samples),
    }


def measure(n: int) -> dict[str, Any]:
    entries, queries = synthesize(n)
    FAQIndex.build(entries[:50]).search(queries[0][0])  # load jieba and pinyin tables first
    gc.collect()
    trace = n <= 10_000
    if trace:
        tracemalloc.start()
    before = rss_mb()
    start = time.perf_counter()
    index = FAQIndex.build(entries)
    build_s = time.perf_counter() - start
    memory: dict[str, Any] = {"rss_delta_mb": round(rss_mb() - before, 1)}
    if trace:
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        memory |= {"traced_mb": round(current / 2**20, 1), "traced_peak_mb": round(peak / 2**20, 1)}
        start = time.perf_counter()  # the build time without tracemalloc's overhead
        index = FAQIndex.build(entries)
        build_s = time.perf_counter() - start
    row: dict[str, Any] = {
        "entries": n,
        "questions": sum(len(e.questions()) for e in entries),
        "build_s": round(build_s, 2),
        "memory": memory,
        **_latency(index, queries),
        "edit_to_live": _edits(index, entries),
    }
    row["after_edits"] = _latency(index, queries, passes=1)["search_ms"]
    row |= _compaction(index, queries)
    print(n, row, flush=True)
    return row


def quality() -> dict[str, Any]:
    model = load()
    answer, clarify = model.thresholds.get("answer", 0.7), model.thresholds.get("clarify", 0.3)
    out: dict[str, Any] = {"thresholds": {"answer": answer, "clarify": clarify}}
    for name in QUALITY_SPLITS:
        split = load_split(name)
        index = FAQIndex.build(split.entries, reranker=model)
        ours = evaluate(index, split.queries, answer, clarify).to_dict()
        out[name] = {"ours": ours, "baseline_char_bigram_bm25": baseline(split)}
        print(name, {k: ours[k] for k in ("top1", "top3", "mrr")}, flush=True)
    return out


def run(sizes: tuple[int, ...] = SIZES) -> dict[str, Any]:
    scale = [measure(n) for n in sizes]
    return {
        "conditions": "one pinned core, shared 2-core machine; latency = best of 3 passes",
        "budgets": BUDGETS,
        "scale": scale,
        "quality": quality(),
    }


def main(argv: list[str]) -> None:
    pin_one_core()
    sizes = SIZES
    if "--sizes" in argv:
        sizes = tuple(int(s) for s in argv[argv.index("--sizes") + 1].split(","))
    print(write_result("kb", run(sizes)))


if __name__ == "__main__":
    main(sys.argv[1:])
