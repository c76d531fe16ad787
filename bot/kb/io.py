"""Import and export of FAQ entries: YAML, CSV, XLSX and JSONL, chosen by the file suffix.

Every reader turns its file into `RawEntry` records (canonical field name -> raw cell value,
plus where each value came from); this module parses and validates them the same way for all
formats, collecting every problem, and raises one `KBImportError` listing them all. Nothing is
returned when anything is wrong: an import is all-or-nothing.

Text is stripped of surrounding whitespace; similar questions that repeat (after light
normalisation) within one entry are dropped; a question repeated across entries is an error.
`updated_at` is not part of any file format: it is set by the store.
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TypeVar

from bot.kb.errors import IssueLog
from bot.kb.types import FAQEntry, KBAnswer, KBButton

T = TypeVar("T")

# Canonical field names, in the column order of CSV/XLSX exports.
FIELDS = (
    "id",
    "question",
    "similar",
    "answer",
    "voice_answer",
    "category",
    "tags",
    "valid_from",
    "valid_to",
    "channels",
    "enabled",
    "buttons",
    "link",
    "link_title",
    "image",
)
REQUIRED = ("id", "question", "answer")

# Column headers and YAML keys each field accepts; the first Chinese name is used on export.
ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "编号", "问题编号"),
    "question": ("question", "标准问", "标准问题", "问题"),
    "similar": ("similar", "similar_questions", "相似问", "相似问题", "扩展问"),
    "answer": ("answer", "答案", "回答", "答复"),
    "voice_answer": ("voice_answer", "语音答案", "语音回答"),
    "category": ("category", "分类", "类别"),
    "tags": ("tags", "标签"),
    "valid_from": ("valid_from", "生效日期", "开始日期"),
    "valid_to": ("valid_to", "失效日期", "结束日期", "截止日期"),
    "channels": ("channels", "渠道"),
    "enabled": ("enabled", "启用", "是否启用"),
    "buttons": ("buttons", "按钮"),
    "link": ("link", "链接"),
    "link_title": ("link_title", "链接标题"),
    "image": ("image", "图片"),
}
HEADERS_ZH = {
    name: next(a for a in aliases if not a.isascii()) for name, aliases in ALIASES.items()
}
_NOISE = re.compile(r"[(（][^)）]*[)）]|[\s_\-*]")  # "标准问（必填）", "* Valid From"


def label_key(label: str) -> str:
    return _NOISE.sub("", unicodedata.normalize("NFKC", label).casefold())


_BY_LABEL = {label_key(a): name for name, aliases in ALIASES.items() for a in aliases}


def field_of(label: str) -> str | None:
    """The canonical field a header or key names, or None when unknown."""
    return _BY_LABEL.get(label_key(label))


@dataclass(slots=True)
class RawEntry:
    """One entry as read from a file, before parsing."""

    row: int  # line (YAML, JSONL) or spreadsheet row (CSV, XLSX) where the entry starts
    values: dict[str, object] = field(default_factory=dict)  # canonical field -> raw value
    columns: dict[str, str] = field(default_factory=dict)  # field -> header/key as written
    rows: dict[str, int] = field(default_factory=dict)  # field -> its own line, when known

    def where(self, name: str) -> tuple[int, str]:
        return self.rows.get(name, self.row), self.columns.get(name, name)


@dataclass(frozen=True, slots=True)
class Format:
    read: Callable[[Path, IssueLog], list[RawEntry]]
    write: Callable[[list[FAQEntry], Path], None]


class BadValue(Exception):
    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh, self.en = zh, en


# -- value parsers: raw cell/YAML value -> typed value, or BadValue ----------------------------

_LIST_SEP = re.compile(r"[,，、;；|｜\n]")
_SIMILAR_SEP = re.compile(r"[|｜\n]")
_CATEGORY_SEP = re.compile(r"[/／]")
_CATEGORY_ARROW = re.compile(r"[>＞]")
_DATE = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?$"
)
_NON_WORD = re.compile(r"[\W_]+")
_TRUE = {"true", "1", "yes", "y", "是", "启用", "开", "on", "√", "✓"}
_FALSE = {"false", "0", "no", "n", "否", "停用", "禁用", "关", "off", "×", "✗"}


def to_text(value: object) -> str | None:
    """A stripped string, None when empty; numbers and dates become their usual text."""
    if type(value) is str:  # the common case first: 100k-row files call this millions of times
        return value.strip() or None
    if value is None:
        return None
    if isinstance(value, bool):
        raise BadValue(f"应为文字，而不是 {value}", f"expected text, got {value}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str | int | float | date):
        text = value.isoformat() if isinstance(value, date) else str(value)
        return text.strip() or None
    raise BadValue("应为文字，而不是列表或映射", "expected text, not a list or mapping")


def _texts(value: object, sep: re.Pattern[str]) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else sep.split(str(to_text(value) or ""))
    return [t for t in (to_text(item) for item in items) if t]


def to_list(value: object) -> list[str]:
    """Tags, channels: a list, or one text separated by commas, 、, ;, | or newlines."""
    return _texts(value, _LIST_SEP)


def to_similar(value: object) -> list[str]:
    """Similar questions: a list, or one text separated by newlines or | ｜."""
    return _texts(value, _SIMILAR_SEP)


def to_category(value: object) -> tuple[str, ...]:
    """A category path: a list, or "宽带/报修", or "宽带 > 报修" (then / stays in a part)."""
    sep = _CATEGORY_ARROW if isinstance(value, str) and _CATEGORY_ARROW.search(value) else None
    return tuple(_texts(value, sep or _CATEGORY_SEP))


def category_text(category: tuple[str, ...]) -> str:
    """Inverse of `to_category` for a text cell."""
    return (" > " if any(_CATEGORY_SEP.search(part) for part in category) else "/").join(category)


def to_date(value: object) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date) or value is None:
        return value
    text = to_text(value)
    if text is None:
        return None
    m = _DATE.match(text)
    try:
        return date(int(m[1]), int(m[2]), int(m[3])) if m else date.fromisoformat(text)
    except ValueError:
        raise BadValue(
            f"日期“{text}”无效，请写成 YYYY-MM-DD（如 2024-05-01）",
            f"invalid date {text!r}; write YYYY-MM-DD (e.g. 2024-05-01)",
        ) from None


def to_bool(value: object) -> bool:
    """Enabled unless said otherwise: true/false, 1/0, yes/no, 是/否, 启用/停用 …"""
    if isinstance(value, bool):
        return value
    text = (to_text(value) or "true").casefold()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise BadValue(
        f"“{text}”不是是/否值，请填 是 或 否（true/false）",
        f"{text!r} is not a yes/no value; use true or false (是/否)",
    )


def _button(item: object) -> KBButton:
    if isinstance(item, dict):
        unknown = set(item) - {"title", "payload"}
        if unknown:
            raise BadValue(
                f"按钮只能有 title 和 payload，多了：{'、'.join(map(str, unknown))}",
                f"a button has only title and payload, got {', '.join(map(str, unknown))}",
            )
        title, payload = to_text(item.get("title")), to_text(item.get("payload"))
    else:
        title, _, rest = str(to_text(item) or "").replace("｜", "|").partition("|")
        payload = rest.strip() or None
    if not title or not payload:
        raise BadValue(
            "按钮需要标题和内容，格式：标题|/意图 或 标题|https://…",
            "a button needs a title and a payload: title|/intent or title|https://…",
        )
    return KBButton(title.strip(), payload)


def to_buttons(value: object) -> list[KBButton]:
    """A list of {title, payload} mappings, or lines of "title|payload"."""
    if value is None:
        return []
    items = value if isinstance(value, list) else str(to_text(value) or "").splitlines()
    return [_button(item) for item in items if item is not None and str(item).strip()]


# -- building and validating entries -----------------------------------------------------------


def question_key(text: str) -> str:
    """What makes two questions "the same": width, case, spaces, punctuation and symbols aside."""
    return _NON_WORD.sub("", unicodedata.normalize("NFKC", text).casefold())


class _Reader:
    """Parses the fields of one raw entry, logging each bad value."""

    def __init__(self, raw: RawEntry, log: IssueLog) -> None:
        self.raw, self.log, self.ok = raw, log, True

    def get(self, name: str, parse: Callable[[object], T]) -> T:
        try:
            return parse(self.raw.values.get(name))
        except BadValue as bad:
            self.error(name, bad.zh, bad.en)
            return parse(None)

    def error(self, name: str, zh: str, en: str) -> None:
        self.log.add(zh, en, *self.raw.where(name))
        self.ok = False


def _required(r: _Reader, name: str, value: str | None) -> str:
    if value is None:
        label = {"id": "编号", "question": "标准问", "answer": "答案"}[name]
        r.error(name, f"缺少{label}", f"{name} is missing")
    return value or ""


def _dedupe(question: str, similar: list[str]) -> list[str]:
    seen = {question_key(question)}
    out = []
    for text in similar:
        key = question_key(text)
        if key not in seen:
            seen.add(key)
            out.append(text)
    return out


def build_entry(raw: RawEntry, log: IssueLog) -> FAQEntry | None:
    """The entry, or None after logging every problem of this record."""
    r = _Reader(raw, log)
    entry_id = _required(r, "id", r.get("id", to_text))
    question = _required(r, "question", r.get("question", to_text))
    text = _required(r, "answer", r.get("answer", to_text))
    answer = KBAnswer(
        text,
        r.get("buttons", to_buttons),
        r.get("link", to_text),
        r.get("link_title", to_text),
        r.get("image", to_text),
    )
    valid_from, valid_to = r.get("valid_from", to_date), r.get("valid_to", to_date)
    if valid_from and valid_to and valid_from > valid_to:
        r.error(
            "valid_to",
            f"失效日期 {valid_to} 早于生效日期 {valid_from}",
            f"valid_to {valid_to} is before valid_from {valid_from}",
        )
    entry = FAQEntry(
        id=entry_id,
        question=question,
        answer=answer,
        similar=_dedupe(question, r.get("similar", to_similar)),
        voice_answer=r.get("voice_answer", to_text),
        category=r.get("category", to_category),
        tags=r.get("tags", to_list),
        valid_from=valid_from,
        valid_to=valid_to,
        channels=r.get("channels", to_list),
        enabled=r.get("enabled", to_bool),
    )
    return entry if r.ok else None


def check_duplicates(pairs: list[tuple[RawEntry, FAQEntry]], log: IssueLog) -> None:
    """Ids must be unique, and no question text may belong to two entries."""
    ids: dict[str, int] = {}
    owners: dict[str, tuple[str, int]] = {}
    for raw, entry in pairs:
        first = ids.setdefault(entry.id, raw.row)
        if first != raw.row:
            log.add(
                f"编号“{entry.id}”重复（第 {first} 行已使用）",
                f"duplicate id {entry.id!r} (already used at row {first})",
                *raw.where("id"),
            )
        for n, text in enumerate(entry.questions()):
            owner_id, owner_row = owners.setdefault(question_key(text), (entry.id, raw.row))
            if owner_id != entry.id:
                log.add(
                    f"问题“{text}”与第 {owner_row} 行的条目“{owner_id}”重复",
                    f"question {text!r} duplicates entry {owner_id!r} at row {owner_row}",
                    *raw.where("similar" if n else "question"),
                )


def build_entries(raws: list[RawEntry], log: IssueLog) -> list[FAQEntry]:
    pairs = [(raw, e) for raw in raws if (e := build_entry(raw, log)) is not None]
    check_duplicates(pairs, log)
    if not raws and not log.issues:
        log.add("文件里没有任何条目", "the file contains no entries")
    log.raise_if_any()
    return [e for _, e in pairs]


# -- format registry (modules load lazily: openpyxl only when an .xlsx is touched) -------------


def _yaml() -> Format:
    from bot.kb.io_yaml import YAML

    return YAML


def _jsonl() -> Format:
    from bot.kb.io_yaml import JSONL

    return JSONL


def _csv() -> Format:
    from bot.kb.io_csv import CSV

    return CSV


def _xlsx() -> Format:
    from bot.kb.io_xlsx import XLSX

    return XLSX


FORMATS: dict[str, Callable[[], Format]] = {
    ".yml": _yaml,
    ".yaml": _yaml,
    ".jsonl": _jsonl,
    ".csv": _csv,
    ".xlsx": _xlsx,
}


def _format(path: Path, log: IssueLog) -> Format:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        hint = "（.xls 请在 Excel 里另存为 .xlsx）" if suffix == ".xls" else ""
        raise log.fatal(
            f"不支持的文件类型“{suffix or path.name}”{hint}，可用：{'、'.join(FORMATS)}",
            f"unsupported file type {suffix or path.name!r}; use one of {', '.join(FORMATS)}",
        )
    return FORMATS[suffix]()


def load_entries(path: str | Path) -> list[FAQEntry]:
    """Read and validate every entry of a file; raises `KBImportError` listing all problems."""
    p = Path(path)
    log = IssueLog(str(p))
    fmt = _format(p, log)
    if not p.is_file():
        raise log.fatal("文件不存在", "file not found")
    if p.stat().st_size == 0:
        raise log.fatal("文件是空的", "the file is empty")
    return build_entries(fmt.read(p, log), log)


def save_entries(entries: list[FAQEntry], path: str | Path) -> None:
    """Write entries in the format of the suffix, atomically (a temp file then a rename)."""
    p = Path(path)
    fmt = _format(p, IssueLog(str(p)))
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=p.suffix, dir=p.parent)
    os.close(fd)
    try:
        fmt.write(list(entries), Path(tmp))
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
