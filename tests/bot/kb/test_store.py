from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from bot.kb.errors import KBStoreError
from bot.kb.store import SCHEMA_VERSION, KBFeedback, KBStore
from bot.kb.types import FAQEntry, KBAnswer, KBButton


def entry(i: int | str, text: str = "") -> FAQEntry:
    return FAQEntry(
        id=f"e{i}",
        question=f"问题{i}{text}",
        answer=KBAnswer(f"答案{i}{text}"),
        similar=[f"相似{i}"],
    )


def rich() -> FAQEntry:
    return FAQEntry(
        id="bb",
        question="宽带坏了怎么报修？",
        answer=KBAnswer(
            "您好，请在 App 里报修。",
            [KBButton("预约上门", '/book{"when":"明天"}'), KBButton("指南", "https://x.cn/a")],
            link="https://x.cn",
            link_title="报修指南",
            image="https://x.cn/i.png",
        ),
        similar=["宽带断网了", "网络连不上🙁"],
        voice_answer="请在 App 里报修",
        category=("宽带", "报修"),
        tags=["报修", "故障"],
        valid_from=date(2024, 1, 1),
        valid_to=date(2024, 12, 31),
        channels=["web", "wechat"],
        enabled=False,
    )


def same(a: FAQEntry, b: FAQEntry) -> bool:
    """Equal apart from the store-managed timestamp."""
    return replace(a, updated_at=0.0) == replace(b, updated_at=0.0)


@pytest.fixture(params=["file", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KBStore]:
    s = KBStore(tmp_path / "sub" / "kb.db" if request.param == "file" else ":memory:")
    yield s
    s.close()


def test_upsert_get_and_all_keep_every_field(store: KBStore) -> None:
    assert store.revision() == 0 and store.count() == 0 and store.get("bb") is None
    rev = store.upsert(rich())
    got = store.get("bb")
    assert rev == 1 and got is not None
    assert same(got, rich()) and got.updated_at > 0
    store.upsert(entry(1))
    assert [e.id for e in store.all()] == ["bb", "e1"]
    assert store.count() == 2


def test_revisions_and_changes_since(store: KBStore) -> None:
    r1 = store.upsert(entry(1))
    r2 = store.upsert(entry(2))
    r3 = store.upsert(entry(1, "改"))
    assert (r1, r2, r3) == (1, 2, 3)
    assert store.changes_since(0) == (3, ["e2", "e1"])  # each id once, by its last change
    assert store.changes_since(2) == (3, ["e1"])
    assert store.changes_since(3) == (3, [])
    r4 = store.delete("e2")
    assert r4 == 4 and store.get("e2") is None
    assert store.changes_since(3) == (4, ["e2"])
    assert store.delete("e2") is None and store.revision() == 4


def test_replace_all_logs_only_real_changes_and_keeps_order(store: KBStore) -> None:
    rev = store.replace_all([entry(3), entry(1), entry(2)])
    assert rev == 1 and [e.id for e in store.all()] == ["e3", "e1", "e2"]
    stamp = {e.id: e.updated_at for e in store.all()}
    assert store.replace_all([entry(3), entry(1), entry(2)]) == 1  # unchanged: no new revision
    rev = store.replace_all([entry(2), entry(1, "新"), entry(4)])
    assert rev == 2
    assert sorted(store.changes_since(1)[1]) == ["e1", "e3", "e4"]
    assert [e.id for e in store.all()] == ["e2", "e1", "e4"]
    assert store.get("e2") is not None and store.get("e2").updated_at == stamp["e2"]  # type: ignore[union-attr]
    assert store.get("e3") is None


def test_replace_all_is_all_or_nothing(store: KBStore) -> None:
    store.replace_all([entry(1), entry(2)])
    broken = FAQEntry(id="bad", question=None, answer=KBAnswer("x"))  # type: ignore[arg-type]
    with pytest.raises(sqlite3.IntegrityError):
        store.replace_all([entry(5), entry(6), broken])  # fails after deletes and inserts ran
    assert [e.id for e in store.all()] == ["e1", "e2"] and store.revision() == 1
    with pytest.raises(KBStoreError, match="e7"):
        store.replace_all([entry(7), entry(7)])
    assert store.count() == 2 and store.revision() == 1


def test_feedback_rows(store: KBStore) -> None:
    store.record_feedback("e1", "c1", "宽带怎么修", "thumbs_down")
    store.record_feedback(None, "c2", "我要投诉", "unsolved")
    store.record_feedback("e1", "c3", "宽带报修", "thumbs_up")
    rows = store.feedback()
    assert [r.kind for r in rows] == ["thumbs_up", "unsolved", "thumbs_down"]
    assert isinstance(rows[0], KBFeedback) and rows[1].entry_id is None
    assert [r.conversation_id for r in store.feedback("e1")] == ["c3", "c1"]
    assert len(store.feedback(limit=1)) == 1
    assert store.revision() == 0  # feedback is not an edit
    with pytest.raises(KBStoreError, match="thumbs_sideways"):
        store.record_feedback("e1", "c", "q", "thumbs_sideways")


def test_concurrent_writers_from_two_threads(store: KBStore) -> None:
    errors: list[BaseException] = []

    def write(prefix: str) -> None:
        try:
            for i in range(40):
                store.upsert(entry(f"{prefix}{i}"))
                store.changes_since(0)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(p,)) for p in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.count() == 80 and store.revision() == 80
    assert len(store.changes_since(0)[1]) == 80


def test_two_stores_on_one_file_see_each_other(tmp_path: Path) -> None:
    path = tmp_path / "kb.db"
    with KBStore(path) as writer, KBStore(path) as reader:
        rev = reader.revision()
        writer.upsert(entry(1))
        assert reader.changes_since(rev) == (1, ["e1"])
        snapshot_rev, entries = reader.snapshot()
        assert snapshot_rev == 1 and [e.id for e in entries] == ["e1"]


def test_schema_is_versioned_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "kb.db"
    KBStore(path).close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        row = conn.execute("SELECT value FROM kb_meta WHERE key = 'schema_version'").fetchone()
        assert row == (SCHEMA_VERSION,)
        conn.execute("UPDATE kb_meta SET value = 99 WHERE key = 'schema_version'")
        conn.commit()
    finally:
        conn.close()
    with pytest.raises(KBStoreError, match="99"):
        KBStore(path)


def test_closed_store_refuses_calls(tmp_path: Path) -> None:
    store = KBStore(tmp_path / "kb.db")
    store.close()
    with pytest.raises(KBStoreError, match="closed"):
        store.count()


def test_unit_separator_in_text_is_refused(store: KBStore) -> None:
    bad = FAQEntry(id="x", question="q", answer=KBAnswer("a"), tags=["a\x1fb"])
    with pytest.raises(KBStoreError):
        store.upsert(bad)
    assert store.count() == 0


def test_default_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with KBStore() as store:
        store.upsert(entry(1))
    assert (tmp_path / ".zhike" / "kb.db").is_file()
