from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest

from bot.kb.errors import KBImportError
from bot.kb.io import load_entries, save_entries
from bot.kb.types import FAQEntry, KBAnswer


def workbook(path: Path, rows: list[list[object]]) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    for row in rows:
        ws.append(row)
    wb.create_sheet("说明").append(["这一页不会被导入", "id"])
    wb.save(path)
    return path


def test_excel_cells_numbers_dates_and_booleans(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "kb.xlsx",
        [
            ["编号", "标准问", "相似问", "答案", "生效日期", "失效日期", "启用", "#备注"],
            [1001, "怎么查话费？", "话费查询\n查余额", "发送 CXHF 到 10001。", date(2024, 1, 1),
             datetime(2024, 6, 30, 0, 0), False, 42],
            [None, None, None, None, None, None, None, None],
            [1002.0, "怎么交话费？", None, "在 App 里交。", "2024-02-01", None, True, None],
        ],
    )  # fmt: skip
    assert load_entries(path) == [
        FAQEntry(
            "1001",
            "怎么查话费？",
            KBAnswer("发送 CXHF 到 10001。"),
            similar=["话费查询", "查余额"],
            valid_from=date(2024, 1, 1),
            valid_to=date(2024, 6, 30),
            enabled=False,
        ),
        FAQEntry("1002", "怎么交话费？", KBAnswer("在 App 里交。"), valid_from=date(2024, 2, 1)),
    ]


def test_rows_are_spreadsheet_rows(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "kb.xlsx",
        [["id", "question", "answer"], ["a", "q", "x"], [], [], ["b", "q2", None]],
    )
    with pytest.raises(KBImportError) as info:
        load_entries(path)
    [issue] = info.value.issues
    assert (issue.row, issue.column) == (5, "C answer")


@pytest.mark.parametrize("content", [b"id,question,answer\na,q,x\n", b"PK\x03\x04broken"])
def test_not_an_xlsx(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "kb.xlsx"
    path.write_bytes(content)
    with pytest.raises(KBImportError, match="xlsx"):
        load_entries(path)


def test_export_uses_date_cells_text_not_formulas_and_frozen_header(tmp_path: Path) -> None:
    entries = [
        FAQEntry("a", "=1+1", KBAnswer('=HYPERLINK("x")'), valid_to=date(2024, 3, 1)),
        FAQEntry("b", "+86 怎么拨", KBAnswer("先拨 0。")),
    ]
    path = tmp_path / "kb.xlsx"
    save_entries(entries, path)
    ws = openpyxl.load_workbook(path).worksheets[0]
    assert ws.title == "知识库" and ws.freeze_panes == "A2"
    assert [c.value for c in ws[1]][:4] == ["编号", "标准问", "相似问", "答案"]
    assert ws["B2"].data_type == "s" and ws["D2"].value == '=HYPERLINK("x")'
    assert ws["I2"].is_date and ws["I2"].value == datetime(2024, 3, 1)
    assert load_entries(path) == entries
