from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.kb.errors import KBImportError
from bot.kb.evaluate import evaluate, read_queries
from bot.kb.index import FAQIndex
from bot.kb.types import FAQEntry, Hit, KBAnswer


class CannedSearcher:
    """Returns fixed hits per query: makes every metric hand-computable."""

    def __init__(self, hits: dict[str, list[Hit]]) -> None:
        self.hits = hits

    def search(self, query: str, k: int = 5) -> list[Hit]:
        return self.hits.get(query, [])[:k]


def hits(*pairs: tuple[str, float]) -> list[Hit]:
    return [Hit(entry_id, score, entry_id) for entry_id, score in pairs]


def test_metrics_on_a_toy_set() -> None:
    searcher = CannedSearcher(
        {
            "q1": hits(("a", 0.9), ("b", 0.2)),  # answered, right
            "q2": hits(("b", 0.8), ("a", 0.1)),  # answered, wrong (gold a at rank 2)
            "q3": hits(("c", 0.5), ("d", 0.3), ("a", 0.2)),  # clarified, gold at rank 3
            "q4": hits(("a", 0.1)),  # fallback, no answer exists: right to fall back
            "q5": [],  # fallback, gold never found
        }
    )
    queries = [("q1", "a"), ("q2", "a"), ("q3", "a"), ("q4", ""), ("q5", "e")]
    report = evaluate(searcher, queries, answer_threshold=0.7, clarify_threshold=0.4)
    assert report.n == 5 and report.n_answerable == 4
    assert report.top1 == pytest.approx(1 / 4)
    assert report.top3 == pytest.approx(3 / 4)
    assert report.mrr == pytest.approx((1 + 1 / 2 + 1 / 3) / 4)
    assert (report.answered, report.clarified, report.fallback) == (0.4, 0.2, 0.4)
    assert report.answered_precision == 0.5
    assert report.clarified_recall == 1.0
    assert report.unanswerable_fallback == 1.0
    assert report.latency_p99_ms >= report.latency_p50_ms >= 0
    data = report.to_dict()
    assert data["n"] == 5 and data["top3"] == 0.75
    assert json.loads(json.dumps(data)) == data


def test_with_a_real_index() -> None:
    index = FAQIndex.build(
        [
            FAQEntry("repay", "信用卡怎么还款", KBAnswer("…")),
            FAQEntry("lost", "银行卡丢了怎么挂失", KBAnswer("…")),
        ]
    )
    report = evaluate(index, [("信用卡如何还款", "repay"), ("卡丢了", "lost")], 0.7, 0.3)
    assert report.top1 == 1.0 and report.mrr == 1.0


def test_empty_query_list() -> None:
    report = evaluate(CannedSearcher({}), [], 0.7, 0.3)
    assert report.n == 0 and report.top1 == 0.0


def test_read_queries(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(
        '{"query": "怎么还款", "gold_id": "repay"}\n\n{"query": "天气", "gold_id": null}\n',
        encoding="utf-8",
    )
    assert read_queries(path) == [("怎么还款", "repay"), ("天气", "")]
    path.write_text('{"query": ""}\nnot json\n{"query": "x", "gold_id": 3}\n', encoding="utf-8")
    with pytest.raises(KBImportError) as err:
        read_queries(path)
    assert [i.row for i in err.value.issues] == [1, 2, 3]
    with pytest.raises(KBImportError):
        read_queries(tmp_path / "missing.jsonl")
