"""Rasa's inline entity annotations: `[北京](city)`, `[帝都]{"entity": "city", "value": "北京"}`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from bot.nlu.types import Entity

_ANNOTATION = re.compile(
    r"\[(?P<text>[^\]\[]+?)\]"
    r"(?:\((?P<paren>[^)]+)\)|(?P<json>\{[^{}]*\})|(?P<jsonlist>\[\s*\{.*?\}\s*\]))"
)


class AnnotationError(ValueError):
    """An annotation could not be read (the message says why)."""


@dataclass(slots=True)
class Annotated:
    text: str
    entities: list[Entity] = field(default_factory=list)
    synonyms: dict[str, str] = field(default_factory=dict)  # text -> value where they differ


def parse_annotated(raw: str) -> Annotated:
    """Strip annotations from an example, returning plain text and entities (offsets on it)."""
    out = Annotated("")
    pieces: list[str] = []
    cursor = 0
    length = 0
    for m in _ANNOTATION.finditer(raw):
        before = raw[cursor : m.start()]
        pieces.append(before)
        length += len(before)
        surface = m.group("text")
        for spec in _specs(m):
            value = spec.get("value", surface)
            out.entities.append(
                Entity(
                    entity=str(spec["entity"]),
                    value=value,
                    start=length,
                    end=length + len(surface),
                    role=spec.get("role"),
                    group=spec.get("group"),
                )
            )
            if str(value) != surface:
                out.synonyms[surface] = str(value)
        pieces.append(surface)
        length += len(surface)
        cursor = m.end()
    pieces.append(raw[cursor:])
    out.text = "".join(pieces)
    return out


def _specs(m: re.Match[str]) -> list[dict[str, str]]:
    if m.group("paren") is not None:
        name, _, value = m.group("paren").partition(":")
        spec = {"entity": name.strip()}
        if value:
            spec["value"] = value.strip()
        return [spec]
    blob = m.group("json") or m.group("jsonlist") or ""
    try:
        data = json.loads(blob)
    except json.JSONDecodeError as exc:
        raise AnnotationError(f"invalid JSON in annotation {blob!r}: {exc.msg}") from None
    specs = data if isinstance(data, list) else [data]
    for spec in specs:
        if not isinstance(spec, dict) or "entity" not in spec:
            raise AnnotationError(f'annotation {blob!r} needs an "entity" key')
    return [{k: str(v) for k, v in spec.items() if v is not None} for spec in specs]


def render_annotated(text: str, entities: list[Entity]) -> str:
    """The inverse: write entities back into Rasa annotation syntax.

    Several entities on the same span are written in the list form `[文本][{...}, {...}]`.
    """
    spans: dict[tuple[int, int], list[Entity]] = {}
    for ent in sorted(entities, key=lambda e: (e.start, e.end)):
        spans.setdefault((ent.start, ent.end), []).append(ent)
    out: list[str] = []
    cursor = 0
    for (start, end), group in spans.items():
        if start < cursor:
            continue
        surface = text[start:end]
        out.append(text[cursor:start])
        out.append(f"[{surface}]{_render_specs(surface, group)}")
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


def _render_specs(surface: str, group: list[Entity]) -> str:
    specs: list[dict[str, object]] = []
    for ent in group:
        spec: dict[str, object] = {"entity": ent.entity}
        if str(ent.value) != surface:
            spec["value"] = ent.value
        spec.update({k: v for k, v in (("role", ent.role), ("group", ent.group)) if v})
        specs.append(spec)
    if len(specs) > 1:
        return json.dumps(specs, ensure_ascii=False)
    if len(specs[0]) == 1:
        return f"({group[0].entity})"
    return json.dumps(specs[0], ensure_ascii=False)
