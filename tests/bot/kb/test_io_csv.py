from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot.kb.errors import KBImportError, KBIssue
from bot.kb.io import load_entries, save_entries
from bot.kb.io_csv import column_letter
from bot.kb.types import FAQEntry, KBAnswer, KBButton

CHINESE = (
    "编号,标准问（必填）,相似问,答案,语音答案,分类,标签,生效日期,失效日期,渠道,启用,按钮,#备注\n"
    'bb,宽带坏了怎么报修？,"宽带断网了\n网络连不上",您可以在 App 里报修。,请在 App 报修,'
    '宽带/报修,报修、故障,2024/1/1,2024年12月31日,"web,wechat",否,"预约上门|/book_repair\n'
    '指南｜https://x.cn/a",给运营看的备注\n'
    ",,,,,,,,,,,,\n"
    "tv,电视没信号？,电视黑屏｜没有画面|,请重启机顶盒。,,,,,,,是,,\n"
)
EXPECTED = [
    FAQEntry(
        id="bb",
        question="宽带坏了怎么报修？",
        answer=KBAnswer(
            "您可以在 App 里报修。",
            [KBButton("预约上门", "/book_repair"), KBButton("指南", "https://x.cn/a")],
        ),
        similar=["宽带断网了", "网络连不上"],
        voice_answer="请在 App 报修",
        category=("宽带", "报修"),
        tags=["报修", "故障"],
        valid_from=date(2024, 1, 1),
        valid_to=date(2024, 12, 31),
        channels=["web", "wechat"],
        enabled=False,
    ),
    FAQEntry("tv", "电视没信号？", KBAnswer("请重启机顶盒。"), similar=["电视黑屏", "没有画面"]),
]


def issues_of(path: Path) -> list[KBIssue]:
    with pytest.raises(KBImportError) as info:
        load_entries(path)
    return info.value.issues


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_chinese_headers_and_encodings(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "kb.csv"
    path.write_bytes(CHINESE.encode(encoding))
    assert load_entries(path) == EXPECTED


def test_utf16_tab_separated_from_excel(tmp_path: Path) -> None:
    path = tmp_path / "kb.csv"
    path.write_bytes("id\tquestion\tanswer\na\t问题\t答案\n".encode("utf-16"))
    assert load_entries(path) == [FAQEntry("a", "问题", KBAnswer("答案"))]


def test_english_headers_are_forgiving_about_case_and_spaces(tmp_path: Path) -> None:
    path = tmp_path / "kb.csv"
    path.write_text(
        "ID,Question,Answer,Valid From,VALID_TO,Enabled,Link,Link Title,Image\n"
        "a,q,x,2024-05-01,2024-05-02,TRUE,https://l,看这里,https://i\n",
        encoding="utf-8",
    )
    [entry] = load_entries(path)
    assert (entry.valid_from, entry.valid_to, entry.enabled) == (
        date(2024, 5, 1),
        date(2024, 5, 2),
        True,
    )
    assert entry.answer == KBAnswer("x", link="https://l", link_title="看这里", image="https://i")


def test_header_problems_are_reported_together(tmp_path: Path) -> None:
    path = tmp_path / "kb.csv"
    path.write_text("编号,标准问,相似问题,相似问,答复颜色\na,q,,,红\n", encoding="utf-8")
    found = [(i.row, i.column, i.en.split(" (")[0]) for i in issues_of(path)]
    assert found == [
        (1, "D 相似问", "column '相似问' repeats another"),
        (1, "E 答复颜色", "unknown column '答复颜色'"),
        (1, "", "missing column 'answer'"),
    ]


def test_values_under_a_missing_header(tmp_path: Path) -> None:
    path = tmp_path / "kb.csv"
    path.write_text("id,question,answer,\na,q,x,多出来的\nb,q2,y,又一个,再一个\n", "utf-8")
    found = [(i.row, i.column) for i in issues_of(path)]
    assert found == [(2, "D"), (3, "E")]  # once per column


def test_bad_button_and_undecodable_and_binary_files(tmp_path: Path) -> None:
    path = tmp_path / "kb.csv"
    path.write_text("id,question,answer,buttons\na,q,x,只有标题\n", encoding="utf-8")
    [issue] = issues_of(path)
    assert (issue.row, issue.column) == (2, "D buttons")
    path.write_bytes(b"id,question,answer\n\xff\xfe\xff,q,x\n")
    assert "encoding" in issues_of(path)[0].en
    path.write_bytes(b"id,question,answer\na,\x00,x\n")
    assert "not a CSV" in issues_of(path)[0].en


def test_export_has_bom_and_chinese_headers(tmp_path: Path) -> None:
    path = tmp_path / "kb.csv"
    save_entries(EXPECTED, path)
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf" + "编号,标准问,相似问,答案".encode())
    assert load_entries(path) == EXPECTED


def test_column_letters() -> None:
    assert [column_letter(i) for i in (0, 25, 26, 27, 701, 702)] == [
        "A",
        "Z",
        "AA",
        "AB",
        "ZZ",
        "AAA",
    ]
