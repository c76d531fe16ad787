"""KnowledgeBase: seeding from kb/, thresholds, live edits, other workers' edits via sync."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from bot.kb.service import KBSettings, KnowledgeBase, seed_files
from bot.kb.types import FAQEntry, KBAnswer

TEA = Path(__file__).parents[2] / "fixtures" / "kb" / "tea_faq.yml"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "kb").mkdir()
    shutil.copy(TEA, tmp_path / "kb" / "faq.yml")
    (tmp_path / "kb" / "eval_queries.jsonl").write_text("", encoding="utf-8")
    return tmp_path


@pytest.fixture
def kb(project: Path) -> Iterator[KnowledgeBase]:
    base = KnowledgeBase.open(project)
    yield base
    base.close()


def entry(entry_id: str, question: str, answer: str, *similar: str) -> FAQEntry:
    return FAQEntry(id=entry_id, question=question, answer=KBAnswer(answer), similar=list(similar))


def test_seed_files_skip_eval_files(project: Path) -> None:
    assert [p.name for p in seed_files(project / "kb")] == ["faq.yml"]
    assert seed_files(project / "missing") == []


def test_open_seeds_an_empty_store_and_searches(kb: KnowledgeBase) -> None:
    assert len(kb) == 7
    best = kb.search("会员积分怎么用？")[0]
    assert best.entry_id == "faq_points" and 0.0 <= best.score <= 1.0


def test_search_hides_expired_and_other_channel_entries(kb: KnowledgeBase) -> None:
    assert "faq_new_year_promo" not in {h.entry_id for h in kb.search("新年优惠活动有哪些？")}
    then = date(2020, 1, 15)
    assert kb.search("新年优惠活动有哪些？", today=then)[0].entry_id == "faq_new_year_promo"
    assert kb.search("店里有无线网吗？", channel="webchat")[0].entry_id == "faq_wifi"
    assert "faq_wifi" not in {h.entry_id for h in kb.search("店里有无线网吗？", channel="voice")}


def test_decide_follows_the_thresholds(kb: KnowledgeBase) -> None:
    query = "积分能不能当钱用"
    score = kb.search(query)[0].score
    kb.settings = replace(
        kb.settings, answer_threshold=min(score + 0.01, 1.0), clarify_threshold=0.0
    )
    decision = kb.decide(query)
    assert decision.outcome == "clarify" and decision.best is not None
    assert len(decision.hits) <= kb.settings.suggestions
    kb.settings = replace(kb.settings, answer_threshold=score, clarify_threshold=0.0)
    assert kb.decide(query).outcome == "answer"
    kb.settings = replace(kb.settings, answer_threshold=1.0, clarify_threshold=1.0)
    assert kb.decide(query).outcome == "pass"


def test_put_and_remove_are_live_at_once(kb: KnowledgeBase) -> None:
    kb.put(
        entry("faq_parking", "门口可以停车吗？", "门店后方有免费停车位。", "有停车位吗", "车停哪里")
    )
    assert kb.search("门口可以停车吗？")[0].entry_id == "faq_parking"
    changed = replace(
        kb.entry("faq_points") or entry("x", "x", "x"), answer=KBAnswer("新的积分规则")
    )
    kb.put(changed)
    assert (kb.entry("faq_points") or changed).answer.text == "新的积分规则"
    assert kb.remove("faq_parking") is True
    assert "faq_parking" not in {h.entry_id for h in kb.search("门口可以停车吗？")}
    assert kb.remove("faq_parking") is False


def test_another_worker_sees_edits_after_sync(project: Path, kb: KnowledgeBase) -> None:
    other = KnowledgeBase.open(project)  # a second worker on the same store
    try:
        kb.put(entry("faq_parking", "门口可以停车吗？", "有免费停车位。", "有停车位吗", "车停哪"))
        kb.remove("faq_invoice")
        assert other.sync() == 2
        assert other.search("门口可以停车吗？")[0].entry_id == "faq_parking"
        assert other.entry("faq_invoice") is None
        assert other.sync() == 0
    finally:
        other.close()


def test_replace_all_in_another_worker_rebuilds(project: Path, kb: KnowledgeBase) -> None:
    other = KnowledgeBase.open(project)
    try:
        kb.replace_all([entry("faq_only", "只有这一条吗？", "是的。", "就一条", "仅此一条")])
        other.sync()
        assert [e.id for e in other.entries()] == ["faq_only"]
    finally:
        other.close()


def test_changed_seed_file_reimports_when_nobody_edited(project: Path) -> None:
    KnowledgeBase.open(project).close()
    seed = project / "kb" / "faq.yml"
    seed.write_text(seed.read_text(encoding="utf-8").replace("晚上10点打烊", "晚上11点打烊"))
    reopened = KnowledgeBase.open(project)
    try:
        assert "11点" in (reopened.entry("faq_hours") or entry("x", "x", "x")).answer.text
    finally:
        reopened.close()


def test_live_edits_are_never_overwritten_by_the_seed(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = KnowledgeBase.open(project)
    first.remove("faq_invoice")
    first.close()
    seed = project / "kb" / "faq.yml"
    seed.write_text(seed.read_text(encoding="utf-8").replace("晚上10点打烊", "晚上11点打烊"))
    again = KnowledgeBase.open(project)
    try:
        assert again.entry("faq_invoice") is None  # the live edit stays
        assert "zhike kb import" in caplog.text
    finally:
        again.close()


def test_settings_defaults_are_sane() -> None:
    s = KBSettings()
    assert 0 < s.clarify_threshold < s.answer_threshold < 1
