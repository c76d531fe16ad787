"""Excel workbooks (.xlsx, via openpyxl): the same columns and cells as CSV, first worksheet.

Dates may be real Excel date cells or text; numbers in text columns (an id typed as 1001) are
read as their text. Exports write dates as date cells, freeze the header row and never let a
text starting with "=" become a formula.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from bot.kb.errors import IssueLog
from bot.kb.io import FIELDS, Format, RawEntry
from bot.kb.io_csv import Row, column_letter, entry_cells, header_cells, read_table
from bot.kb.types import FAQEntry

SHEET_TITLE = "知识库"
_WIDTHS = {"question": 30, "similar": 30, "answer": 50, "voice_answer": 30}


def _rows(path: Path, log: IssueLog) -> Iterator[tuple[int, Row]]:
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError):
        raise log.fatal(
            "这不是有效的 Excel（.xlsx）文件", "this is not a valid Excel (.xlsx) file"
        ) from None
    try:
        ws = wb.worksheets[0]
        ws.reset_dimensions()  # some tools write wrong dimensions; read every row
        yield from enumerate(ws.iter_rows(values_only=True), 1)
    finally:
        wb.close()


def read_xlsx(path: Path, log: IssueLog) -> list[RawEntry]:
    return read_table(_rows(path, log), log)


def _cell(ws: WriteOnlyWorksheet, value: object) -> object:
    if isinstance(value, str) and value.startswith("="):
        cell = WriteOnlyCell(ws, value)
        cell.data_type = "s"  # text, not a formula
        return cell
    if isinstance(value, date):
        cell = WriteOnlyCell(ws, value)
        cell.number_format = "yyyy-mm-dd"
        return cell
    return value


def write_xlsx(entries: list[FAQEntry], path: Path) -> None:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(SHEET_TITLE)
    ws.freeze_panes = "A2"
    for n, name in enumerate(FIELDS):
        ws.column_dimensions[column_letter(n)].width = _WIDTHS.get(name, 14)
    ws.append(header_cells())
    for e in entries:
        ws.append([_cell(ws, v) for v in entry_cells(e)])
    wb.save(path)


XLSX = Format(read_xlsx, write_xlsx)
