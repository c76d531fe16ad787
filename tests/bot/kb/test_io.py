"""Format-independent behaviour of import/export: dispatch, validation, round trips."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot.kb.errors import KBImportError, KBIssue
from bot.kb.io import category_text, load_entries, question_key, save_entries, to_category
from bot.kb.types import FAQEntry, KBAnswer, KBButton

FORMATS = ["yml", "yaml", "csv", "xlsx", "jsonl"]


def sample() -> list[FAQEntry]:
    return [
        FAQEntry(
            id="bb-repair",
            question="宽带坏了怎么报修？",
            answer=KBAnswer(
                "您好，您可以在 App 里提交报修。\n师傅会在 24 小时内联系您。",
                [KBButton("预约上门", '/book{"when":"明天"}'), KBButton("指南", "https://x.cn/a")],
                link="https://x.cn/guide",
                link_title="报修指南",
                image="https://x.cn/i.png",
            ),
            similar=["宽带断网了怎么办", "网络连不上找谁修"],
            voice_answer="您可以在 App 里报修。",
            category=("宽带", "报修"),
            tags=["报修", "故障"],
            valid_from=date(2024, 1, 1),
            valid_to=date(2024, 12, 31),
            channels=["web", "wechat"],
            enabled=False,
        ),
        FAQEntry(id="1001", question="=SUM(A1)", answer=KBAnswer("true")),
        FAQEntry(id="x", question="yes", answer=KBAnswer("- 一\n- 二"), category=("a/b", "c")),
        FAQEntry(id="plain", question="营业时间？", answer=KBAnswer("每天 9:00-18:00 营业。")),
    ]


@pytest.mark.parametrize("ext", FORMATS)
def test_round_trip_is_exact(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"kb.{ext}"
    save_entries(sample(), path)
    assert load_entries(path) == sample()
    save_entries(load_entries(path), tmp_path / f"again.{ext}")
    assert load_entries(tmp_path / f"again.{ext}") == sample()


def issues_of(path: Path) -> list[KBIssue]:
    with pytest.raises(KBImportError) as info:
        load_entries(path)
    return info.value.issues


def test_every_row_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "kb.csv"
    path.write_text(
        "id,question,answer,valid_from,valid_to,enabled\n"
        "a,问题一,答案一,,,\n"
        ",问题二,答案二,,,\n"  # row 3: no id
        "c,,答案三,,,\n"  # row 4: no question
        "d,问题四,,,,\n"  # row 5: no answer
        "a,问题五,答案五,,,\n"  # row 6: duplicate id
        "f,问题 一！,答案六,,,\n"  # row 7: same question as row 2 (punctuation, spaces aside)
        "g,问题七,答案七,2024-13-01,,\n"  # row 8: bad date
        "h,问题八,答案八,2024-06-01,2024-05-01,\n"  # row 9: from after to
        "i,问题九,答案九,,,也许\n",  # row 10: not a yes/no
        encoding="utf-8",
    )
    found = [(i.row, i.column) for i in issues_of(path)]
    assert found == [
        (3, "A id"),
        (4, "B question"),
        (5, "C answer"),
        (6, "A id"),
        (7, "B question"),
        (8, "D valid_from"),
        (9, "E valid_to"),
        (10, "F enabled"),
    ]


def test_error_message_is_bilingual_with_file_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "kb.csv"
    path.write_text("编号,标准问,答案\nq1,问题,\n", encoding="utf-8")
    with pytest.raises(KBImportError) as info:
        load_entries(path)
    text = str(info.value)
    assert "未导入任何条目" in text and "nothing imported" in text
    assert f"{path}:2 [C 答案]: 缺少答案 / answer is missing" in text
    issue = info.value.issues[0]
    assert (issue.file, issue.row, issue.column) == (str(path), 2, "C 答案")


def test_similar_question_clashing_with_another_entry(tmp_path: Path) -> None:
    path = tmp_path / "kb.yml"
    path.write_text(
        "faq:\n"
        "  - {id: a, question: 怎么交话费, answer: 在 App 里交。}\n"
        "  - id: b\n"
        "    question: 话费怎么查\n"
        "    similar: [怎么交话费？]\n"
        "    answer: 在 App 里查。\n",
        encoding="utf-8",
    )
    [issue] = issues_of(path)
    assert (issue.row, issue.column) == (5, "similar") and "“a”" in issue.zh


def test_repeated_similar_questions_within_an_entry_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "kb.csv"
    path.write_text(
        "id,question,similar,answer\nq,宽带报修,宽带报修？|断网| 断网 |掉线,答\n", "utf-8"
    )
    assert load_entries(path)[0].similar == ["断网", "掉线"]


@pytest.mark.parametrize("name", ["kb.txt", "kb.xls", "kb"])
def test_wrong_file_type(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("id,question,answer\n", encoding="utf-8")
    [issue] = issues_of(path)
    assert "不支持的文件类型" in issue.zh
    with pytest.raises(KBImportError):
        save_entries(sample(), path)


@pytest.mark.parametrize("ext", FORMATS)
def test_empty_and_missing_files(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"kb.{ext}"
    [issue] = issues_of(path)
    assert issue.en == "file not found"
    path.write_bytes(b"")
    [issue] = issues_of(path)
    assert issue.en == "the file is empty"


@pytest.mark.parametrize(
    "content", ["faq: []\n", "id,question,answer\n", "\n\n", "# nothing\n"], ids=repr
)
def test_no_entries_is_an_error(tmp_path: Path, content: str) -> None:
    ext = "yml" if content.startswith(("faq", "#")) else "csv" if "," in content else "jsonl"
    path = tmp_path / f"kb.{ext}"
    path.write_text(content, encoding="utf-8")
    assert len(issues_of(path)) == 1


def test_save_is_atomic_and_creates_folders(tmp_path: Path) -> None:
    path = tmp_path / "out" / "kb.yml"
    save_entries(sample(), path)
    assert [p.name for p in path.parent.iterdir()] == ["kb.yml"]


def test_question_key_and_category_text() -> None:
    assert question_key("宽带 怎么报修？") == question_key("宽带怎么报修") == "宽带怎么报修"
    assert question_key("ＷＩＦＩ密码") == question_key("wifi 密码")
    assert to_category("宽带／报修") == ("宽带", "报修")
    assert to_category("a/b > c") == ("a/b", "c")
    for category in [("宽带", "报修"), ("a/b", "c"), ("单层",)]:
        assert to_category(category_text(category)) == category
