from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot.kb.errors import KBImportError, KBIssue
from bot.kb.io import load_entries, save_entries
from bot.kb.types import FAQEntry, KBAnswer, KBButton

EDITOR_YAML = """\
version: 1
faq:
  - id: bb-repair
    question: 宽带坏了怎么报修？
    similar:
      - 宽带断网了怎么办
      - 网络连不上找谁修
    answer:
      text: |
        您好，您可以在 App 里提交报修。
        师傅会尽快联系您。
      buttons:
        - title: 预约上门
          payload: /book_repair
      link: https://example.cn/guide
      link_title: 报修指南
    voice_answer: 您可以在 App 里报修。
    category: 宽带/报修
    tags: 报修，故障
    valid_from: 2024-01-01
    valid_to: 2024/12/31
    channels: [web, wechat]
    enabled: false
  - 编号: 1002
    标准问: 营业时间是几点？
    答案: 每天 9:00-18:00。
"""


def write(tmp_path: Path, text: str, name: str = "kb.yml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def issues_of(path: Path) -> list[KBIssue]:
    with pytest.raises(KBImportError) as info:
        load_entries(path)
    return info.value.issues


def test_editor_yaml(tmp_path: Path) -> None:
    first, second = load_entries(write(tmp_path, EDITOR_YAML))
    assert first == FAQEntry(
        id="bb-repair",
        question="宽带坏了怎么报修？",
        answer=KBAnswer(
            "您好，您可以在 App 里提交报修。\n师傅会尽快联系您。",
            [KBButton("预约上门", "/book_repair")],
            link="https://example.cn/guide",
            link_title="报修指南",
        ),
        similar=["宽带断网了怎么办", "网络连不上找谁修"],
        voice_answer="您可以在 App 里报修。",
        category=("宽带", "报修"),
        tags=["报修", "故障"],
        valid_from=date(2024, 1, 1),
        valid_to=date(2024, 12, 31),
        channels=["web", "wechat"],
        enabled=False,
    )
    assert second == FAQEntry("1002", "营业时间是几点？", KBAnswer("每天 9:00-18:00。"))


def test_bare_list_and_bom_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "kb.yaml"
    path.write_bytes("\ufeff- {id: a, question: 问, answer: 答}\n".encode())
    assert [e.id for e in load_entries(path)] == ["a"]


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    [issue] = issues_of(write(tmp_path, "faq:\n  - id: a\n    question: [没有闭合\n  - id: b\n"))
    assert issue.row == 4 and "YAML" in issue.zh


@pytest.mark.parametrize(
    ("text", "row", "en"),
    [
        ("faq:\n  - id: a\n    question: q\n    answer: x\n    anwser: y\n", 5, "unknown key"),
        ("faq:\n  - id: a\n    question: q\n    answer: {text: x, color: red}\n", 4, "answer key"),
        ("faq:\n  - just a string\n", 2, "mapping"),
        ("faq: {id: a}\n", 1, "must be a list"),
        ("entries: []\n", 1, "top-level faq"),
        ("version: 2\nfaq:\n  - {id: a, question: q, answer: x}\n", 1, "version"),
        ("faq:\n  - {id: a, question: q, answer: x}\nextra: 1\n", 3, "top-level key"),
        ("faq:\n  - {id: a, question: q, 标准问: q2, answer: x}\n", 2, "repeats"),
        ("faq:\n  - {id: a, question: q, answer: x, tags: {a: 1}}\n", 2, "not a list"),
    ],
)
def test_structural_problems(tmp_path: Path, text: str, row: int, en: str) -> None:
    issues = issues_of(write(tmp_path, text))
    assert [i.row for i in issues] == [row] and en in issues[0].en


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "kb.yml"
    path.write_bytes("faq:\n  - {id: a, question: 问, answer: 答}\n".encode("gb18030"))
    [issue] = issues_of(path)
    assert "UTF-8" in issue.en


def test_exported_yaml_is_readable_for_editors(tmp_path: Path) -> None:
    path = tmp_path / "kb.yml"
    entries = load_entries(write(tmp_path, EDITOR_YAML, "in.yml"))
    save_entries(entries, path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# 知客知识库")
    assert "question: 宽带坏了怎么报修？" in text and "category: 宽带/报修" in text
    assert "text: |-\n      您好" in text  # multi-line answers as block scalars
    assert "id: '1002'" in text and "enabled: false" in text
    assert load_entries(path) == entries


def test_eval_jsonl(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '{"id": 7, "question": "怎么改套餐", "answer": "在 App 里改。"}\n'
        "\n"
        '{"id": "b", "question": "怎么销户", "answer": "请到营业厅办理。", "similar": ["销号"]}\n',
        "eval.jsonl",
    )
    assert load_entries(path) == [
        FAQEntry("7", "怎么改套餐", KBAnswer("在 App 里改。")),
        FAQEntry("b", "怎么销户", KBAnswer("请到营业厅办理。"), similar=["销号"]),
    ]


def test_jsonl_reports_every_bad_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '{"id": "a", "question": "q", "answer": "x"}\n'
        '{"id": "b", "question": "q2", \n'
        '["not", "a", "mapping"]\n'
        '{"id": "d", "question": "q4"}\n',
        "eval.jsonl",
    )
    found = [(i.row, i.column) for i in issues_of(path)]
    assert found == [(2, ""), (3, ""), (4, "answer")]
