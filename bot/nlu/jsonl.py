"""NLU data as JSONL lines and as Rasa 3.x NLU YAML (write only).

A JSONL line: {"text", "intent", "entities": [{"start", "end", "entity", "value"}]}, end
exclusive; extra keys (role, group) are kept when present.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from bot.errors import Location, ProjectError
from bot.nlu.types import Entity, NLUData, TrainingExample
from bot.project.annotations import render_annotated


def example_from_dict(d: dict[str, Any], location: Location | None = None) -> TrainingExample:
    text = str(d.get("text") or "")
    entities = []
    for e in d.get("entities") or []:
        start, end = int(e["start"]), int(e["end"])
        value = e.get("value", text[start:end])
        entities.append(
            Entity(str(e["entity"]), value, start, end, role=e.get("role"), group=e.get("group"))
        )
    return TrainingExample(text, str(d.get("intent") or ""), entities, location)


def example_to_dict(ex: TrainingExample) -> dict[str, Any]:
    ents = []
    for e in ex.entities:
        out: dict[str, Any] = {"start": e.start, "end": e.end, "entity": e.entity, "value": e.value}
        if e.role is not None:
            out["role"] = e.role
        if e.group is not None:
            out["group"] = e.group
        ents.append(out)
    return {"text": ex.text, "intent": ex.intent, "entities": ents}


def parse_jsonl(lines: Iterable[str], source: str = "<jsonl>") -> NLUData:
    examples = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = Location(source, n)
        try:
            examples.append(example_from_dict(json.loads(line), where))
        except (ValueError, KeyError, TypeError) as exc:
            raise ProjectError(
                f"无法解析这一行训练数据：{exc}", f"cannot parse this NLU line: {exc}", where
            ) from exc
    return NLUData(examples=examples)


def read_jsonl(path: str | Path) -> NLUData:
    p = Path(path)
    with p.open(encoding="utf-8") as f:
        return parse_jsonl(f, str(p))


def dump_jsonl(data: NLUData) -> str:
    return "".join(
        json.dumps(example_to_dict(ex), ensure_ascii=False) + "\n" for ex in data.examples
    )


def write_jsonl(data: NLUData, path: str | Path) -> None:
    Path(path).write_text(dump_jsonl(data), encoding="utf-8")


# -- Rasa YAML ------------------------------------------------------------------------


def annotate(ex: TrainingExample) -> str:
    """The example as Rasa's annotated text, on one line."""
    return render_annotated(ex.text, ex.entities).replace("\r", " ").replace("\n", " ")


def _block(key: str, name: str, items: Iterable[str]) -> str:
    lines = "".join(f"    - {item}\n" for item in items)
    return f"- {key}: {_scalar(name)}\n  examples: |\n{lines}"


def _scalar(value: str) -> str:
    dumped = yaml.safe_dump(value, allow_unicode=True, default_flow_style=True, width=10**6)
    return dumped.removesuffix("\n...\n").strip()


def dump_rasa_yaml(data: NLUData) -> str:
    """`NLUData` as a Rasa 3.x NLU file (`version: "3.1"`)."""
    parts = ['version: "3.1"\nnlu:\n']
    by_intent: dict[str, list[str]] = {}
    for ex in data.examples:
        by_intent.setdefault(ex.intent, []).append(annotate(ex))
    parts.extend(_block("intent", name, texts) for name, texts in by_intent.items())
    synonyms: dict[str, list[str]] = {}
    for variant, value in data.synonyms.items():
        if variant != value:
            synonyms.setdefault(value, []).append(variant)
    parts.extend(_block("synonym", value, variants) for value, variants in synonyms.items())
    parts.extend(_block("regex", r.name, [r.pattern]) for r in data.regexes)
    parts.extend(_block("lookup", name, values) for name, values in data.lookups.items())
    return "".join(parts)


def write_rasa_yaml(data: NLUData, path: str | Path) -> None:
    Path(path).write_text(dump_rasa_yaml(data), encoding="utf-8")
