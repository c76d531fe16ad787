"""Measure an FAQ index on labelled queries: ranking quality, decisions and latency.

`queries` are `(text, gold entry id)` pairs; an empty gold id means the knowledge base has no
answer, so the right decision is to fall back. Ranking metrics (top-1, top-3, MRR) are over
answerable queries; decision rates are over all of them. A query is *answered* when the top
hit's score reaches `answer_threshold`, *clarified* (offer the top hits) when it reaches
`clarify_threshold`, and falls back otherwise.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bot.kb.errors import KBImportError, KBIssue
from bot.kb.types import Hit, Searcher

RANK_DEPTH = 10


@dataclass(slots=True, frozen=True)
class EvalReport:
    n: int  # queries
    n_answerable: int
    top1: float
    top3: float
    mrr: float
    answered: float  # share of queries answered directly
    clarified: float  # share offered a choice of hits
    fallback: float  # share handed to the fallback
    answered_precision: float  # answered queries whose top hit is the gold entry
    clarified_recall: float  # clarified answerable queries with the gold entry in the top 3
    unanswerable_fallback: float  # unanswerable queries that (rightly) fell back
    latency_p50_ms: float
    latency_p99_ms: float

    def to_dict(self) -> dict[str, float | int]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def _rank(hits: list[Hit], gold: str) -> int | None:
    for i, hit in enumerate(hits, 1):
        if hit.entry_id == gold:
            return i
    return None


def evaluate(
    index: Searcher,
    queries: Sequence[tuple[str, str]],
    answer_threshold: float,
    clarify_threshold: float,
) -> EvalReport:
    """Search every query once and summarise (see the module docstring)."""
    latencies: list[float] = []
    top1 = top3 = rr = 0.0
    answered = answered_right = clarified = clarified_found = clarified_answerable = fallback = 0
    unanswerable = unanswerable_fallback = 0
    for text, gold in queries:
        start = time.perf_counter()
        hits = index.search(text, k=RANK_DEPTH)
        latencies.append((time.perf_counter() - start) * 1000)
        rank = _rank(hits, gold) if gold else None
        if gold:
            top1 += rank == 1
            top3 += rank is not None and rank <= 3
            rr += 1 / rank if rank else 0.0
        else:
            unanswerable += 1
        score = hits[0].score if hits else 0.0
        if score >= answer_threshold:
            answered += 1
            answered_right += bool(gold) and rank == 1
        elif score >= clarify_threshold:
            clarified += 1
            clarified_answerable += bool(gold)
            clarified_found += bool(gold) and rank is not None and rank <= 3
        else:
            fallback += 1
            unanswerable_fallback += not gold
    n = len(queries)
    n_answerable = n - unanswerable
    p50, p99 = np.percentile(latencies, [50, 99]) if latencies else (0.0, 0.0)
    return EvalReport(
        n=n,
        n_answerable=n_answerable,
        top1=top1 / max(n_answerable, 1),
        top3=top3 / max(n_answerable, 1),
        mrr=rr / max(n_answerable, 1),
        answered=answered / max(n, 1),
        clarified=clarified / max(n, 1),
        fallback=fallback / max(n, 1),
        answered_precision=answered_right / max(answered, 1),
        clarified_recall=clarified_found / max(clarified_answerable, 1),
        unanswerable_fallback=unanswerable_fallback / max(unanswerable, 1),
        latency_p50_ms=float(p50),
        latency_p99_ms=float(p99),
    )


def read_queries(path: Path) -> list[tuple[str, str]]:
    """Labelled queries from JSONL lines `{"query": "...", "gold_id": "..." | null}`.

    A null or empty `gold_id` marks a query the knowledge base should not answer. Every bad
    line is reported at once (`KBImportError`).
    """
    issues: list[KBIssue] = []
    queries: list[tuple[str, str]] = []
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise KBImportError([KBIssue("无法读取文件", f"cannot read: {exc}", str(path))]) from exc
    for row, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            issues.append(KBIssue("不是合法的 JSON", f"invalid JSON: {exc.msg}", str(path), row))
            continue
        query = record.get("query") if isinstance(record, dict) else None
        gold = record.get("gold_id") if isinstance(record, dict) else None
        if not isinstance(query, str) or not query.strip():
            issues.append(KBIssue("缺少 query", "missing query", str(path), row, "query"))
        elif gold is not None and not isinstance(gold, str):
            issues.append(KBIssue("gold_id 应为字符串", "gold_id must be a string", str(path), row))
        else:
            queries.append((query, gold or ""))
    if issues:
        raise KBImportError(issues)
    return queries
