"""The mapping formats: YAML for editors and JSONL for evaluation sets.

YAML: a top-level `faq:` list (optionally with `version: 1`); each item a mapping:

    faq:
      - id: bb-repair
        question: 宽带坏了怎么报修？
        similar: [宽带断网了怎么办, 网络连不上找谁修]
        answer: 您好，您可以在营业厅 App 里提交报修，我们会尽快安排师傅上门。
        category: 宽带/报修          # or a list: [宽带, 报修]
        tags: [报修]
        valid_from: 2024-01-01
        channels: [web, wechat]
        enabled: false              # default true

`answer` may instead be a mapping: text, buttons (a list of {title, payload}), link,
link_title, image. Keys may also be the Chinese column names (标准问, 相似问, 答案 …).

JSONL: one JSON object a line with the same keys; the evaluation format
{"id", "question", "answer"[, "similar"]} with a string answer is the minimal case.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

import yaml

from bot.errors import ProjectError
from bot.kb.errors import IssueLog
from bot.kb.io import Format, RawEntry, field_of, to_category
from bot.kb.types import FAQEntry
from bot.project import yamlio
from bot.project.yamlio import line_of, parse_yaml

YAML_VERSION = 1
# libyaml's parser and emitter (C) with the project's YAML 1.2-ish resolvers and line-tracking
# constructors: 3-4x faster on a 100k-entry file. Errors are re-parsed by `parse_yaml` for its
# bilingual message with the line.
_CLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _FastLoader(_CLoader):
    yaml_implicit_resolvers: ClassVar = yamlio._Loader.yaml_implicit_resolvers
    yaml_constructors: ClassVar = dict(yamlio._Loader.yaml_constructors)


_ANSWER_PARTS = {"text": "answer", "文字": "answer", "内容": "answer"}
_RICH = ("buttons", "link", "link_title", "image")


# -- reading -----------------------------------------------------------------------------------


def _put(raw: RawEntry, name: str, key: str, value: object, line: int, log: IssueLog) -> None:
    if name in raw.values:
        log.add(f"“{key}”与其它键重复", f"{key!r} repeats another key", line, key)
        return
    raw.values[name], raw.columns[name], raw.rows[name] = value, key, line


def _answer_mapping(raw: RawEntry, answer: dict[Any, Any], log: IssueLog) -> None:
    for key, value in answer.items():
        name = _ANSWER_PARTS.get(str(key)) or field_of(str(key))
        line = line_of(answer, key, raw.row)
        if name in _RICH or name == "answer":
            _put(raw, name, f"answer.{key}", value, line, log)
        else:
            log.add(
                f"答案里不认识的键“{key}”（可用：text、buttons、link、link_title、image）",
                f"unknown answer key {key!r} (use text, buttons, link, link_title, image)",
                line,
                f"answer.{key}",
            )


def raw_from_mapping(item: object, row: int, log: IssueLog) -> RawEntry | None:
    """One YAML/JSON entry mapping as a raw record (answer mappings flattened)."""
    if not isinstance(item, dict):
        log.add(
            "每个条目应是一个映射（id、question、answer …）", "each entry must be a mapping", row
        )
        return None
    raw = RawEntry(row)
    for key, value in item.items():
        name, line = field_of(str(key)), line_of(item, key, row)
        if name == "answer" and isinstance(value, dict):
            _answer_mapping(raw, value, log)
        elif name is None:
            log.add(f"不认识的键“{key}”", f"unknown key {key!r}", line, str(key))
        else:
            _put(raw, name, str(key), value, line, log)
    return raw


def _faq_items(doc: object, log: IssueLog) -> list[Any]:
    if doc is None:
        raise log.fatal("文件里没有内容", "the file has no content")
    if isinstance(doc, list):
        return doc
    if not isinstance(doc, dict) or "faq" not in doc:
        raise log.fatal("文件应以 faq: 列表开头", "the file must have a top-level faq: list", 1)
    for key in doc:
        if key not in ("faq", "version"):
            log.add(f"不认识的顶层键“{key}”", f"unknown top-level key {key!r}", line_of(doc, key))
    if str(doc.get("version", YAML_VERSION)) != str(YAML_VERSION):
        line = line_of(doc, "version")
        log.add("不支持的 version（应为 1）", "unsupported version (expected 1)", line, "version")
    items = doc["faq"]
    if not isinstance(items, list):
        raise log.fatal("faq: 应是一个列表", "faq: must be a list", line_of(doc, "faq"))
    return items


def _read_text(path: Path, log: IssueLog) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise log.fatal(
            f"文件不是 UTF-8 编码（第 {exc.start} 字节附近）",
            f"file is not UTF-8 (near byte {exc.start})",
        ) from None


def _parse(text: str, file: str) -> Any:
    try:
        return yaml.load(text, Loader=_FastLoader)
    except yaml.YAMLError:
        return parse_yaml(text, file)  # raises the ProjectError naming the line


def read_yaml(path: Path, log: IssueLog) -> list[RawEntry]:
    try:
        doc = _parse(_read_text(path, log), str(path))
    except ProjectError as exc:
        line = exc.location.line if exc.location else 0
        raise log.fatal(exc.zh, exc.en, line) from None
    items = _faq_items(doc, log)
    raws = (raw_from_mapping(item, line_of(items, n), log) for n, item in enumerate(items))
    return [raw for raw in raws if raw is not None]


def read_jsonl(path: Path, log: IssueLog) -> list[RawEntry]:
    raws = []
    for n, line in enumerate(_read_text(path, log).splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            log.add(f"这一行不是合法的 JSON：{exc}", f"not valid JSON: {exc}", n)
            continue
        raw = raw_from_mapping(item, n, log)
        if raw is not None:
            raws.append(raw)
    return raws


# -- writing -----------------------------------------------------------------------------------


def _answer_out(entry: FAQEntry) -> object:
    a = entry.answer
    if not (a.buttons or a.link or a.link_title or a.image):
        return a.text
    out: dict[str, object] = {"text": a.text}
    if a.buttons:
        out["buttons"] = [{"title": b.title, "payload": b.payload} for b in a.buttons]
    out.update({k: getattr(a, k) for k in _RICH[1:] if getattr(a, k) is not None})
    return out


def _category_out(category: tuple[str, ...]) -> object:
    """ "宽带/报修" when that reads back the same, else a list."""
    text = "/".join(category)
    return text if to_category(text) == category else list(category)


def entry_to_mapping(entry: FAQEntry, dates_as_text: bool = False) -> dict[str, object]:
    """The entry as a YAML/JSON mapping, leaving out empty and default fields."""
    out: dict[str, object] = {"id": entry.id, "question": entry.question}
    if entry.similar:
        out["similar"] = list(entry.similar)
    out["answer"] = _answer_out(entry)
    optional: dict[str, object] = {
        "voice_answer": entry.voice_answer,
        "category": _category_out(entry.category) if entry.category else None,
        "tags": list(entry.tags) or None,
        "valid_from": entry.valid_from,
        "valid_to": entry.valid_to,
        "channels": list(entry.channels) or None,
        "enabled": None if entry.enabled else False,
    }
    for key, value in optional.items():
        if value is not None:
            out[key] = value.isoformat() if dates_as_text and isinstance(value, date) else value
    return out


class _Dumper(_CDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: Any, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _str)

_HEADER = (
    "# 知客知识库 / Zhike knowledge base\n"
    "# 每条必填 id、question（标准问）、answer（答案）；可选 similar（相似问）、voice_answer、\n"
    "# category（如 宽带/报修）、tags、valid_from、valid_to（YYYY-MM-DD）、channels、enabled。\n"
)


def write_yaml(entries: list[FAQEntry], path: Path) -> None:
    doc = {"version": YAML_VERSION, "faq": [entry_to_mapping(e) for e in entries]}
    body = yaml.dump(doc, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100)
    path.write_text(_HEADER + body, encoding="utf-8")


def write_jsonl(entries: list[FAQEntry], path: Path) -> None:
    with path.open("w", encoding="utf-8") as f:
        for e in entries:
            f.write(json.dumps(entry_to_mapping(e, dates_as_text=True), ensure_ascii=False) + "\n")


YAML = Format(read_yaml, write_yaml)
JSONL = Format(read_jsonl, write_jsonl)
