"""Read Rasa 3.x training-data documents: `nlu:`, `stories:`, `rules:`, `responses:`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.errors import Location, ProjectError
from bot.nlu.types import Entity, NLUData, RegexFeature, TrainingExample
from bot.project.annotations import AnnotationError, parse_annotated
from bot.project.stories import (
    ActionStep,
    CheckpointStep,
    LoopStep,
    OrStep,
    SlotStep,
    Step,
    StoryBlock,
    UserStep,
)
from bot.project.yamlio import line_of


@dataclass(slots=True)
class TrainingDocs:
    nlu: NLUData = field(default_factory=NLUData)
    stories: list[StoryBlock] = field(default_factory=list)
    rules: list[StoryBlock] = field(default_factory=list)
    responses: dict[str, Any] = field(default_factory=dict)  # retrieval responses (utter_faq/x)
    response_locations: dict[str, Location] = field(default_factory=dict)  # name -> where
    errors: list[ProjectError] = field(default_factory=list)

    def error(self, zh: str, en: str, file: str, line: int) -> None:
        self.errors.append(ProjectError(zh, en, Location(file, line)))


def read_training_doc(docs: TrainingDocs, doc: Any, file: str) -> None:
    """Add one parsed YAML document's content to `docs`."""
    if doc is None:
        return
    if not isinstance(doc, dict):
        docs.error(
            "训练数据文件顶层必须是键值映射", "a training-data file must be a mapping", file, 1
        )
        return
    for item_index, item in enumerate(doc.get("nlu") or []):
        _nlu_item(docs, item, file, line_of(doc.get("nlu"), item_index))
    for i, story in enumerate(doc.get("stories") or []):
        block = _story(docs, story, file, line_of(doc.get("stories"), i), is_rule=False)
        if block:
            docs.stories.append(block)
    for i, rule in enumerate(doc.get("rules") or []):
        block = _story(docs, rule, file, line_of(doc.get("rules"), i), is_rule=True)
        if block:
            docs.rules.append(block)
    if isinstance(doc.get("responses"), dict):
        docs.responses.update(doc["responses"])
        for name in doc["responses"]:
            docs.response_locations[str(name)] = Location(file, line_of(doc["responses"], name))


def _example_lines(item: dict[str, Any], file: str, base: int) -> list[tuple[str, int]]:
    raw = item.get("examples")
    key_line = line_of(item, "examples", base)
    if isinstance(raw, str):
        out = []
        for offset, line in enumerate(raw.splitlines(), start=1):
            stripped = line.strip()
            if stripped.startswith("- "):
                out.append((stripped[2:].strip(), key_line + offset))
            elif stripped == "-":
                continue
            elif stripped:
                out.append((stripped, key_line + offset))
        return out
    if isinstance(raw, list):  # list of {text: ..., metadata: ...} or plain strings
        return [
            (
                str(ex.get("text", "") if isinstance(ex, dict) else ex).strip(),
                line_of(raw, i, key_line),
            )
            for i, ex in enumerate(raw)
        ]
    return []


def _nlu_item(docs: TrainingDocs, item: Any, file: str, line: int) -> None:
    if not isinstance(item, dict):
        docs.error("nlu 列表项必须是映射", "each `nlu` item must be a mapping", file, line)
        return
    examples = _example_lines(item, file, line)
    nlu = docs.nlu
    if "intent" in item:
        intent = str(item["intent"])
        for text, ex_line in examples:
            try:
                ann = parse_annotated(text)
            except AnnotationError as exc:
                docs.error(
                    f"实体标注格式错误：{exc}", f"malformed entity annotation: {exc}", file, ex_line
                )
                continue
            if not ann.text.strip():
                continue
            nlu.examples.append(
                TrainingExample(ann.text, intent, ann.entities, Location(file, ex_line))
            )
            for surface, value in ann.synonyms.items():
                nlu.synonyms.setdefault(surface.lower(), value)
    elif "synonym" in item:
        for text, _ in examples:
            nlu.synonyms[text.lower()] = str(item["synonym"])
    elif "regex" in item:
        nlu.regexes.extend(RegexFeature(str(item["regex"]), text) for text, _ in examples)
    elif "lookup" in item:
        nlu.lookups.setdefault(str(item["lookup"]), []).extend(text for text, _ in examples)
    else:
        docs.error(
            "nlu 列表项需要 intent / synonym / regex / lookup 之一",
            "an `nlu` item needs one of intent, synonym, regex, lookup",
            file,
            line,
        )


def _story(docs: TrainingDocs, raw: Any, file: str, line: int, is_rule: bool) -> StoryBlock | None:
    kind = "rule" if is_rule else "story"
    if not isinstance(raw, dict) or not isinstance(raw.get("steps"), list):
        docs.error(f"{kind} 需要 steps 列表", f"each {kind} needs a list of `steps`", file, line)
        return None
    block = StoryBlock(
        name=str(raw.get(kind, raw.get("story", raw.get("rule", f"{kind}@{line}")))),
        steps=[],
        is_rule=is_rule,
        conversation_start=bool(raw.get("conversation_start", False)),
        wait_for_user_input=bool(raw.get("wait_for_user_input", True)),
        location=Location(file, line),
    )
    for i, cond in enumerate(raw.get("condition") or []):
        step = _step(docs, cond, file, line_of(raw.get("condition"), i, line))
        if isinstance(step, SlotStep | LoopStep):
            block.conditions.append(step)
    for i, step_raw in enumerate(raw["steps"]):
        if step_raw == "...":
            continue
        step = _step(docs, step_raw, file, line_of(raw["steps"], i, line))
        if step is not None:
            block.steps.append(step)
    return block


def _entity_list(raw: Any) -> tuple[list[Entity], list[str]]:
    entities: list[Entity] = []
    names: list[str] = []
    for item in raw or []:
        if isinstance(item, str):
            names.append(item)
        elif isinstance(item, dict) and "entity" in item:
            entities.append(
                Entity(
                    str(item["entity"]),
                    item.get("value"),
                    0,
                    0,
                    role=item.get("role"),
                    group=item.get("group"),
                )
            )
        elif isinstance(item, dict):
            for name, value in item.items():
                entities.append(Entity(str(name), value, 0, 0))
    return entities, names


def _user_step(docs: TrainingDocs, raw: dict[str, Any], file: str, line: int) -> UserStep:
    entities, names = _entity_list(raw.get("entities"))
    text = raw.get("user")
    if text is not None:
        text = str(text).strip()
        try:
            ann = parse_annotated(text)
        except AnnotationError as exc:
            docs.error(
                f"实体标注格式错误：{exc}", f"malformed entity annotation: {exc}", file, line
            )
        else:
            text = ann.text
            if not entities and ann.entities:
                entities = ann.entities
    intent = raw.get("intent")
    return UserStep(str(intent) if intent is not None else None, entities, text, names, line)


def _slot_step(raw: Any, line: int) -> SlotStep:
    slots: list[tuple[str, Any, bool]] = []
    for item in raw if isinstance(raw, list) else [raw]:
        if isinstance(item, dict):
            slots.extend((str(k), v, True) for k, v in item.items())
        elif item is not None:
            slots.append((str(item), None, False))
    return SlotStep(slots, line)


def _step(docs: TrainingDocs, raw: Any, file: str, line: int) -> Step | None:
    if not isinstance(raw, dict):
        docs.error(f"无法识别的步骤：{raw!r}", f"unrecognised step: {raw!r}", file, line)
        return None
    if "intent" in raw or "user" in raw:
        return _user_step(docs, raw, file, line)
    if "action" in raw:
        return ActionStep(str(raw["action"]), None, line)
    if "bot" in raw:
        return ActionStep(None, str(raw["bot"]), line)
    if "slot_was_set" in raw:
        return _slot_step(raw["slot_was_set"], line)
    if "active_loop" in raw:
        loop = raw["active_loop"]
        return LoopStep(None if loop in (None, "null") else str(loop), line)
    if "checkpoint" in raw:
        return CheckpointStep(str(raw["checkpoint"]), line)
    if "or" in raw and isinstance(raw["or"], list):
        alts: list[UserStep | SlotStep] = []
        for j, alt in enumerate(raw["or"]):
            alt_line = line_of(raw["or"], j, line)
            if isinstance(alt, dict) and ("intent" in alt or "user" in alt):
                alts.append(_user_step(docs, alt, file, alt_line))
            elif isinstance(alt, dict) and "slot_was_set" in alt:
                alts.append(_slot_step(alt["slot_was_set"], alt_line))
        return OrStep(alts, line)
    docs.error(f"无法识别的步骤：{dict(raw)!r}", f"unrecognised step: {dict(raw)!r}", file, line)
    return None
