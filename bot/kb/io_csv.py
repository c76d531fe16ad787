"""Spreadsheet-shaped formats: the shared table logic, and CSV.

One row per entry; the first row holds the column headers, English or Chinese (see
`bot.kb.io.ALIASES`: 编号, 标准问, 相似问, 答案, 语音答案, 分类, 标签, 生效日期, 失效日期, 渠道,
启用, 按钮, 链接, 链接标题, 图片). Required columns: id, question, answer. Columns whose header
starts with `#` are notes and ignored; any other unknown header is an error (a misspelt column
would otherwise drop its data silently). Blank rows are skipped.

Cells: similar questions one per line (or separated by | ｜); tags and channels separated by
commas, 、 or |; category "宽带/报修"; dates YYYY-MM-DD (also 2024/5/1, 2024年5月1日, Excel date
cells); enabled 是/否 (true/false, 1/0; empty = enabled); buttons one per line, "title|payload".

CSV files are read as UTF-8 (with or without BOM), UTF-16 with BOM, or GB18030 (Excel on Chinese
Windows); a tab-separated header selects tab as the delimiter. Exports are UTF-8 with BOM, so
Excel opens them correctly, with Chinese headers.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

from bot.kb.errors import IssueLog
from bot.kb.io import FIELDS, HEADERS_ZH, REQUIRED, Format, RawEntry, category_text, field_of
from bot.kb.types import FAQEntry

Row = Sequence[object]


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA (what Excel shows)."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


# -- reading -----------------------------------------------------------------------------------


class Table:
    """Maps the header row to fields, then data rows to raw entries."""

    def __init__(self, header: Row, log: IssueLog) -> None:
        self.log = log
        self.fields: list[str | None] = []
        self.labels: list[str] = []
        self._unreported: set[int] = set()  # blank-header columns not yet complained about
        for n, cell in enumerate(header):
            label = "" if _blank(cell) else str(cell).strip()
            self.labels.append(f"{column_letter(n)} {label}".strip())
            self.fields.append(self._field(label, n))
            if not label:
                self._unreported.add(n)
        missing = [f for f in REQUIRED if f not in self.fields]
        for name in missing:
            log.add(
                f"缺少“{HEADERS_ZH[name]}”列（第一行应是表头）",
                f"missing column {name!r} (the first row must be the header)",
                1,
            )
        if missing:
            log.raise_if_any()
        self.columns = {f: self.labels[n] for n, f in enumerate(self.fields) if f is not None}

    def _field(self, label: str, n: int) -> str | None:
        if not label or label.startswith("#"):
            return None
        name, where = field_of(label), f"{column_letter(n)} {label}"
        if name is None:
            self.log.add(
                f"不认识的列“{label}”（备注列请以 # 开头）",
                f"unknown column {label!r} (start note columns with #)",
                1,
                where,
            )
        elif name in self.fields:
            self.log.add(f"“{label}”列重复", f"column {label!r} repeats another", 1, where)
            return None
        return name

    def raw(self, row: int, cells: Row) -> RawEntry | None:
        if all(_blank(c) for c in cells):
            return None
        raw = RawEntry(row, columns=self.columns)
        for n, cell in enumerate(cells):
            name = self.fields[n] if n < len(self.fields) else None
            if name is not None:
                raw.values[name] = cell
            elif not _blank(cell) and self._first_stray(n):
                zh, en = "这一列没有表头，却填了内容", "this column has values but no header"
                self.log.add(zh, en, row, column_letter(n))
        return raw

    def _first_stray(self, n: int) -> bool:
        """True once per column without a header that holds a value."""
        if n >= len(self.labels):
            self.labels.extend(column_letter(i) for i in range(len(self.labels), n + 1))
            self._unreported.update(range(len(self.fields), n + 1))
            self.fields.extend([None] * (n + 1 - len(self.fields)))
        if n in self._unreported:
            self._unreported.discard(n)
            return True
        return False


def read_table(rows: Iterable[tuple[int, Row]], log: IssueLog) -> list[RawEntry]:
    """`rows`: (spreadsheet row number, cells), header first."""
    it = iter(rows)
    first = next(it, None)
    if first is None:
        raise log.fatal("文件里没有任何内容", "the file has no rows")
    table = Table(first[1], log)
    raws = (table.raw(n, cells) for n, cells in it)
    return [r for r in raws if r is not None]


def _decode(data: bytes, log: IssueLog) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise log.fatal(
        "无法识别文件编码，请另存为 UTF-8 的 CSV",
        "unknown text encoding; save the file as UTF-8 CSV",
    )


def read_csv(path: Path, log: IssueLog) -> list[RawEntry]:
    text = _decode(path.read_bytes(), log)
    if "\x00" in text:
        raise log.fatal("这不是 CSV 文本文件", "this is not a CSV text file")
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first_line and "," not in first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, Row]] = []
    try:
        for n, cells in enumerate(reader, 1):
            rows.append((n, cells))
    except csv.Error as exc:
        raise log.fatal(f"CSV 格式错误：{exc}", f"malformed CSV: {exc}", len(rows) + 1) from None
    return read_table(rows, log)


# -- writing -----------------------------------------------------------------------------------


def entry_cells(e: FAQEntry) -> list[object]:
    """The entry's cells in `FIELDS` order (dates stay `date` objects, None for empty)."""
    a = e.answer
    cells: dict[str, object] = {
        "id": e.id,
        "question": e.question,
        "similar": "\n".join(e.similar),
        "answer": a.text,
        "voice_answer": e.voice_answer,
        "category": category_text(e.category),
        "tags": ",".join(e.tags),
        "valid_from": e.valid_from,
        "valid_to": e.valid_to,
        "channels": ",".join(e.channels),
        "enabled": "是" if e.enabled else "否",
        "buttons": "\n".join(f"{b.title}|{b.payload}" for b in a.buttons),
        "link": a.link,
        "link_title": a.link_title,
        "image": a.image,
    }
    return [cells[name] or None for name in FIELDS]


def header_cells() -> list[str]:
    return [HEADERS_ZH[name] for name in FIELDS]


def write_csv(entries: list[FAQEntry], path: Path) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header_cells())
        writer.writerows(entry_cells(e) for e in entries)


CSV = Format(read_csv, write_csv)
