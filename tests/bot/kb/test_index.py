from __future__ import annotations

import threading

import pytest

from bot.kb.index import FAQIndex
from bot.kb.types import FAQEntry, KBAnswer


def entry(entry_id: str, question: str, *similar: str) -> FAQEntry:
    return FAQEntry(entry_id, question, KBAnswer(f"{entry_id} 的答案：绝不被检索"), list(similar))


ENTRIES = [
    entry("repay", "信用卡怎么还款", "信用卡还款方式有哪些", "怎样还信用卡"),
    entry("limit", "如何提高信用卡额度", "信用卡提额怎么申请"),
    entry("lost", "银行卡丢了怎么挂失", "银行卡挂失流程"),
    entry("roam", "国际漫游怎么开通"),
    entry("broadband", "宽带报修电话是多少"),
    entry("password", "忘记登录密码怎么办", "密码找回"),
    entry("fee", "转账手续费是多少"),
]


@pytest.fixture(scope="module")
def index() -> FAQIndex:
    return FAQIndex.build(ENTRIES, synonyms={"网络": "宽带", "网": "宽带"})


def top(index: FAQIndex, query: str) -> str:
    hits = index.search(query, k=3)
    assert hits, query
    return hits[0].entry_id


def test_paraphrases_rank_their_entry_first(index: FAQIndex) -> None:
    assert top(index, "我想还信用卡的钱，怎么还") == "repay"
    assert top(index, "信用卡的额度能提高吗") == "limit"
    assert top(index, "卡丢了要挂失") == "lost"
    assert top(index, "登录密码忘了") == "password"


def test_hits_are_distinct_calibrated_and_ordered(index: FAQIndex) -> None:
    hits = index.search("信用卡还款", k=5)
    assert len(hits) == len({h.entry_id for h in hits}) <= 5
    assert all(0.0 <= h.score <= 1.0 for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert [h.raw for h in hits] == sorted((h.raw for h in hits), reverse=True)
    assert hits[0].question in ENTRIES[0].questions()
    assert index.search("信用卡还款", k=0) == []
    assert len(index.search("信用卡", k=1)) == 1


def test_answers_are_not_indexed(index: FAQIndex) -> None:
    assert all(h.entry_id != "repay" for h in index.search("绝不被检索", k=5))


def test_synonyms(index: FAQIndex) -> None:
    assert top(index, "网络坏了找谁报修") == "broadband"


def test_homophone_from_speech_recognition(index: FAQIndex) -> None:
    assert top(index, "国际曼游怎么开") == "roam"


def test_traditional_query(index: FAQIndex) -> None:
    assert top(index, "信用卡怎麼還款") == "repay"
    assert top(index, "轉賬手續費是多少") == "fee"


def test_traditional_entries_match_simplified_queries() -> None:
    idx = FAQIndex.build([entry("t", "信用卡怎麼還款"), entry("u", "轉賬手續費是多少")])
    assert top(idx, "信用卡怎么还款") == "t"


def test_nonsense_scores_low(index: FAQIndex) -> None:
    hits = index.search("今天天气真好适合出去玩", k=3)
    assert not hits or hits[0].score < 0.5
    assert index.search("？？？") == []


def test_edits_are_visible_to_the_next_search() -> None:
    idx = FAQIndex.build(ENTRIES)
    assert len(idx) == len(ENTRIES) and "roam" in idx
    idx.upsert(entry("points", "信用卡积分怎么兑换礼品"))
    assert top(idx, "积分兑换礼品") == "points"
    idx.upsert(entry("roam", "境外流量包怎么买"))  # replaces the old question
    assert top(idx, "境外流量包") == "roam"
    assert all(h.question != "国际漫游怎么开通" for h in idx.search("国际漫游怎么开通", k=5))
    assert idx.delete("points") and not idx.delete("points")
    assert all(h.entry_id != "points" for h in idx.search("积分兑换礼品", k=5))
    assert idx.delete("lost")
    assert all(h.entry_id != "lost" for h in idx.search("银行卡丢了怎么挂失", k=5))
    assert len(idx) == len(ENTRIES) - 1
    idx.upsert(entry("lost", "银行卡丢了怎么挂失"))
    assert top(idx, "银行卡丢了怎么挂失") == "lost"


def test_compaction_keeps_results_and_edits_made_meanwhile() -> None:
    idx = FAQIndex.build(ENTRIES)
    idx.upsert(entry("points", "信用卡积分怎么兑换礼品"))
    idx.delete("fee")
    before = [h.entry_id for h in idx.search("信用卡怎么还款", k=3)]
    future = idx.compact()
    idx.upsert(entry("late", "逾期还款会影响征信吗"))  # may land before or after the swap
    future.result(timeout=30)
    assert [h.entry_id for h in idx.search("信用卡怎么还款", k=3)] == before
    assert top(idx, "积分兑换礼品") == "points"
    assert top(idx, "逾期还款影响征信吗") == "late"
    assert all(h.entry_id != "fee" for h in idx.search("转账手续费是多少", k=5))
    idx.compact().result(timeout=30)
    assert top(idx, "逾期还款影响征信吗") == "late"
    assert idx._state.delta.n_docs == 0 and len(idx._state.dead) == 0


def test_empty_index_then_upsert() -> None:
    idx = FAQIndex.build([])
    assert idx.search("信用卡怎么还款") == [] and len(idx) == 0
    idx.upsert(entry("repay", "信用卡怎么还款"))
    assert top(idx, "信用卡如何还款") == "repay"


def test_concurrent_readers_during_writes() -> None:
    idx = FAQIndex.build(ENTRIES)
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        try:
            while not stop.is_set():
                assert top(idx, "信用卡怎么还款") == "repay"
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for t in readers:
        t.start()
    for i in range(30):
        idx.upsert(entry(f"x{i}", f"第{i}个新问题怎么办理"))
        if i % 10 == 0:
            idx.compact()
    idx.compact().result(timeout=30)
    stop.set()
    for t in readers:
        t.join()
    assert not errors
    assert top(idx, "第29个新问题怎么办理") == "x29"
