"""Build a `Domain` from one or more domain YAML documents, collecting every problem."""

from __future__ import annotations

from typing import Any

from bot.errors import Location, ProjectError
from bot.project.domain import (
    DEFAULT_INTENTS,
    REQUESTED_SLOT,
    SESSION_STARTED_METADATA,
    SLOT_TYPES,
    Domain,
    Form,
    IntentSpec,
    MappingCondition,
    ResponseButton,
    ResponseCondition,
    ResponseVariant,
    SessionConfig,
    Slot,
    SlotMapping,
)
from bot.project.yamlio import line_of

MAPPING_TYPES = {"from_entity", "from_text", "from_intent", "from_trigger_intent", "custom"}
_RASA_SLOT_CLASSES = {
    "TextSlot": "text",
    "BooleanSlot": "bool",
    "CategoricalSlot": "categorical",
    "FloatSlot": "float",
    "ListSlot": "list",
    "AnySlot": "any",
}
_RESPONSE_KEYS = {"text", "buttons", "image", "custom", "attachment", "channel", "condition"}


class DomainBuilder:
    """Accumulates domain sections from several files (Rasa's `domain/` folder)."""

    def __init__(self) -> None:
        self.domain = Domain()
        self.errors: list[ProjectError] = []
        self._raw: dict[str, Any] = {}
        # Rasa 2.x form-level slot mappings; the slot may be declared in a later file
        self.form_mappings: dict[str, list[SlotMapping]] = {}

    def error(self, zh: str, en: str, file: str, line: int) -> None:
        self.errors.append(ProjectError(zh, en, Location(file, line)))

    def add(self, doc: Any, file: str) -> None:
        if doc is None:
            return
        if not isinstance(doc, dict):
            self.error("领域文件顶层必须是键值映射", "a domain file must be a mapping", file, 1)
            return
        for section, handler in _SECTIONS.items():
            if section in doc and doc[section] is not None:
                handler(self, doc[section], file, line_of(doc, section))
        for key in ("intents", "entities", "actions", "e2e_actions"):
            if isinstance(doc.get(key), list):
                self._raw.setdefault(key, []).extend(doc[key])
        for key in ("slots", "responses", "forms", "session_config", "config"):
            if isinstance(doc.get(key), dict):
                self._raw.setdefault(key, {}).update(doc[key])

    def build(self) -> Domain:
        d = self.domain
        for slot_name, mappings in self.form_mappings.items():
            slot = d.slots.get(slot_name)
            if slot is not None and not slot.mappings:
                slot.mappings = mappings
        for intent in DEFAULT_INTENTS:
            d.intents.setdefault(intent, IntentSpec(intent))
        if d.forms and REQUESTED_SLOT not in d.slots:
            d.slots[REQUESTED_SLOT] = Slot(REQUESTED_SLOT, "any", influence_conversation=False)
        d.slots.setdefault(SESSION_STARTED_METADATA, Slot(SESSION_STARTED_METADATA, "any", False))
        self._raw.setdefault("slots", {})
        self._raw["version"] = "3.1"
        d.raw = _plain(self._raw)
        return d


def _plain(value: Any) -> Any:
    """Strip line-tracking containers so the dict is plain JSON (for rasa_sdk)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _intents(b: DomainBuilder, section: Any, file: str, line: int) -> None:
    if not isinstance(section, list):
        b.error("intents 必须是列表", "`intents` must be a list", file, line)
        return
    for i, item in enumerate(section):
        name, props = (item, {}) if not isinstance(item, dict) else next(iter(item.items()))
        props = props or {}
        spec = IntentSpec(str(name))
        if "use_entities" in props:
            use = props["use_entities"]
            spec.use_entities = bool(use) if isinstance(use, bool) else _as_list(use)
        spec.ignore_entities = _as_list(props.get("ignore_entities"))
        b.domain.intents[spec.name] = spec
        b.domain.locations[f"intent:{spec.name}"] = Location(file, line_of(section, i, line))


def _entities(b: DomainBuilder, section: Any, file: str, line: int) -> None:
    if not isinstance(section, list):
        b.error("entities 必须是列表", "`entities` must be a list", file, line)
        return
    for item in section:
        if isinstance(item, dict):
            name, props = next(iter(item.items()))
            props = props or {}
            b.domain.entity_roles[str(name)] = _as_list(props.get("roles"))
            b.domain.entity_groups[str(name)] = _as_list(props.get("groups"))
        else:
            name = item
        if str(name) not in b.domain.entities:
            b.domain.entities.append(str(name))


def _slots(b: DomainBuilder, section: Any, file: str, line: int) -> None:
    if not isinstance(section, dict):
        b.error("slots 必须是键值映射", "`slots` must be a mapping", file, line)
        return
    for name, props in section.items():
        where = line_of(section, name, line)
        if not isinstance(props, dict):
            b.error(
                f"槽位 {name} 的定义必须是映射", f"slot `{name}` must be a mapping", file, where
            )
            continue
        slot_type = str(props.get("type", "text"))
        if slot_type.startswith("rasa.shared.core.slots."):
            slot_type = _RASA_SLOT_CLASSES.get(slot_type.rsplit(".", 1)[1], slot_type)
        if slot_type not in SLOT_TYPES and "." not in slot_type:
            b.error(
                f"槽位 {name} 的类型 “{slot_type}” 未知（可用：{', '.join(sorted(SLOT_TYPES))}）",
                f"slot `{name}` has unknown type '{slot_type}' (known: {', '.join(sorted(SLOT_TYPES))})",
                file,
                line_of(props, "type", where),
            )
            continue
        slot = Slot(
            name=str(name),
            type=slot_type if slot_type in SLOT_TYPES else "any",
            influence_conversation=bool(props.get("influence_conversation", slot_type != "any")),
            initial_value=props.get("initial_value"),
            values=[str(v) for v in props.get("values") or []],
            min_value=float(props.get("min_value", 0.0)),
            max_value=float(props.get("max_value", 1.0)),
        )
        slot.mappings = _mappings(b, props.get("mappings"), file, where, f"slot `{name}`")
        b.domain.slots[slot.name] = slot
        b.domain.locations[f"slot:{slot.name}"] = Location(file, where)


def _mappings(b: DomainBuilder, raw: Any, file: str, line: int, owner: str) -> list[SlotMapping]:
    out: list[SlotMapping] = []
    for i, m in enumerate(raw or []):
        where = line_of(raw, i, line)
        if not isinstance(m, dict) or m.get("type") not in MAPPING_TYPES:
            kind = m.get("type") if isinstance(m, dict) else m
            b.error(
                f"{owner} 的映射类型 “{kind}” 未知（可用：{', '.join(sorted(MAPPING_TYPES))}）",
                f"{owner} has unknown mapping type '{kind}'",
                file,
                where,
            )
            continue
        conditions = [
            MappingCondition(c.get("active_loop"), c.get("requested_slot"))
            for c in m.get("conditions") or []
            if isinstance(c, dict)
        ]
        out.append(
            SlotMapping(
                type=str(m["type"]),
                entity=m.get("entity"),
                intent=_as_list(m.get("intent")),
                not_intent=_as_list(m.get("not_intent")),
                value=m.get("value"),
                role=m.get("role"),
                group=m.get("group"),
                action=m.get("action"),
                conditions=conditions,
            )
        )
    return out


def _responses(b: DomainBuilder, section: Any, file: str, line: int) -> None:
    if not isinstance(section, dict):
        b.error("responses 必须是键值映射", "`responses` must be a mapping", file, line)
        return
    for name, variants in section.items():
        where = line_of(section, name, line)
        if not isinstance(variants, list) or not variants:
            b.error(
                f"回复 {name} 至少需要一个变体（列表）",
                f"response `{name}` needs a list of at least one variant",
                file,
                where,
            )
            continue
        parsed = [
            _variant(b, v, file, line_of(variants, i, where), str(name))
            for i, v in enumerate(variants)
        ]
        b.domain.responses[str(name)] = [v for v in parsed if v is not None]
        b.domain.locations[f"response:{name}"] = Location(file, where)


def _variant(b: DomainBuilder, v: Any, file: str, line: int, name: str) -> ResponseVariant | None:
    if isinstance(v, str):
        return ResponseVariant(text=v)
    if not isinstance(v, dict):
        b.error(
            f"回复 {name} 的变体格式不正确",
            f"response `{name}` has a malformed variant",
            file,
            line,
        )
        return None
    buttons = [
        ResponseButton(str(btn.get("title", "")), str(btn.get("payload", "")))
        for btn in v.get("buttons") or []
        if isinstance(btn, dict)
    ]
    conditions: list[ResponseCondition] = []
    raw_conditions = v.get("condition") or []
    for i, c in enumerate(raw_conditions):
        if not isinstance(c, dict) or c.get("type", "slot") != "slot" or "name" not in c:
            b.error(
                f"回复 {name} 的 condition 格式不正确，应为 type: slot / name / value",
                f"response `{name}` has an invalid condition (expected type: slot, name, value)",
                file,
                line_of(raw_conditions, i, line),
            )
            continue
        conditions.append(ResponseCondition(str(c["name"]), c.get("value")))
        b.domain.locations[f"condition:{name}:{c['name']}"] = Location(
            file, line_of(raw_conditions, i, line)
        )
    return ResponseVariant(
        text=None if v.get("text") is None else str(v.get("text")),
        buttons=buttons,
        image=v.get("image"),
        custom=_plain(v.get("custom")),
        attachment=_plain(v.get("attachment")),
        channel=v.get("channel"),
        conditions=conditions,
        extra={k: _plain(val) for k, val in v.items() if k not in _RESPONSE_KEYS},
    )


def _forms(b: DomainBuilder, section: Any, file: str, line: int) -> None:
    if not isinstance(section, dict):
        b.error("forms 必须是键值映射", "`forms` must be a mapping", file, line)
        return
    for name, props in section.items():
        where = line_of(section, name, line)
        props = props or {}
        required = props.get("required_slots", props) if isinstance(props, dict) else props
        if isinstance(required, dict):  # Rasa 2.x style: slot -> mappings
            slots = [str(k) for k in required if k not in ("ignored_intents",)]
            for slot_name in slots:
                parsed = _mappings(b, required[slot_name], file, where, f"slot `{slot_name}`")
                b.form_mappings.setdefault(slot_name, parsed)  # applied in build()
        else:
            slots = _as_list(required)
            for i, slot_name in enumerate(slots):
                b.domain.locations[f"form_slot:{name}:{slot_name}"] = Location(
                    file, line_of(required, i, where)
                )
        ignored = _as_list(props.get("ignored_intents")) if isinstance(props, dict) else []
        b.domain.forms[str(name)] = Form(str(name), slots, ignored)
        b.domain.locations[f"form:{name}"] = Location(file, where)


def _actions(b: DomainBuilder, section: Any, file: str, line: int) -> None:
    for i, item in enumerate(section if isinstance(section, list) else []):
        name = next(iter(item)) if isinstance(item, dict) else item
        if str(name) not in b.domain.actions:
            b.domain.actions.append(str(name))
            b.domain.locations[f"action:{name}"] = Location(file, line_of(section, i, line))


def _session(b: DomainBuilder, section: Any, file: str, line: int) -> None:
    if isinstance(section, dict):
        b.domain.session_config = SessionConfig(
            expiration_minutes=float(section.get("session_expiration_time", 60) or 0),
            carry_over_slots=bool(section.get("carry_over_slots_to_new_session", True)),
        )


def _config(b: DomainBuilder, section: Any, file: str, line: int) -> None:
    if isinstance(section, dict):
        b.domain.store_entities_as_slots = bool(section.get("store_entities_as_slots", True))


_SECTIONS = {
    "intents": _intents,
    "entities": _entities,
    "slots": _slots,
    "responses": _responses,
    "forms": _forms,
    "actions": _actions,
    "session_config": _session,
    "config": _config,
}
