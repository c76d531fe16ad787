"""Cross-file consistency checks: what Rasa's `rasa data validate` finds, bilingual."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from bot.errors import Location, ProjectError
from bot.project.domain import DEFAULT_ACTIONS
from bot.project.stories import ActionStep, OrStep, StoryBlock, UserStep

if TYPE_CHECKING:
    from bot.project.loader import Project

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def validate_project(project: Project, strict: bool = True) -> tuple[list[ProjectError], list[str]]:
    """Return (errors, warnings).

    With `strict=False` (training, as `rasa train` does) an example listed under two intents
    is a warning and only its first occurrence is kept; `zhike validate` is strict.
    """
    errors: list[ProjectError] = []
    warnings: list[str] = []
    _check_story_intents_and_actions(project, errors)
    duplicates = _duplicate_examples(project)
    if strict:
        errors.extend(duplicates)
    else:
        warnings.extend(str(d) for d in duplicates)
        _drop_conflicting_examples(project)
    _check_responses(project, errors, warnings)
    _check_forms(project, errors, warnings)
    _check_nlu_vs_domain(project, warnings)
    return errors, warnings


def _user_steps(block: StoryBlock) -> list[UserStep]:
    out: list[UserStep] = []
    for step in block.steps:
        if isinstance(step, UserStep):
            out.append(step)
        elif isinstance(step, OrStep):
            out.extend(a for a in step.alternatives if isinstance(a, UserStep))
    return out


def _file(block: StoryBlock) -> str:
    return block.location.file if block.location else "stories"


def _check_story_intents_and_actions(project: Project, errors: list[ProjectError]) -> None:
    domain = project.domain
    known_actions = set(domain.action_names) | set(DEFAULT_ACTIONS)
    for block in project.stories + project.rules:
        kind = "规则" if block.is_rule else "故事"
        for step in _user_steps(block):
            if step.intent is None:
                continue
            base = step.intent.split("/", 1)[0]
            if base not in domain.intents:
                errors.append(
                    ProjectError(
                        f"{kind} “{block.name}” 使用了领域中未声明的意图 “{step.intent}”",
                        f"{'rule' if block.is_rule else 'story'} '{block.name}' uses intent "
                        f"'{step.intent}' which is not in the domain",
                        Location(_file(block), step.line),
                    )
                )
        for action in block.steps:
            if not isinstance(action, ActionStep) or action.name is None:
                continue
            name = action.name
            if name in known_actions or name.split("/", 1)[0] in known_actions:
                continue
            if name.startswith("utter_"):
                zh = f"{kind} “{block.name}” 使用了 “{name}”，但领域中没有这条回复（responses）"
                en = f"'{block.name}' uses '{name}' but the domain has no such response"
            else:
                zh = f"{kind} “{block.name}” 使用了未在领域 actions 中声明的动作 “{name}”"
                en = f"'{block.name}' uses action '{name}' which is not declared in the domain"
            errors.append(ProjectError(zh, en, Location(_file(block), action.line)))


def _example_key(text: str) -> str:
    return " ".join(text.lower().split())


def _drop_conflicting_examples(project: Project) -> None:
    first_intent: dict[str, str] = {}
    kept = []
    for ex in project.nlu.examples:
        intent = first_intent.setdefault(_example_key(ex.text), ex.intent)
        if intent == ex.intent:
            kept.append(ex)
    project.nlu.examples = kept


def _duplicate_examples(project: Project) -> list[ProjectError]:
    errors: list[ProjectError] = []
    seen: dict[str, tuple[str, Location | None]] = {}
    for ex in project.nlu.examples:
        key = _example_key(ex.text)
        first = seen.get(key)
        if first is None:
            seen[key] = (ex.intent, ex.location)
        elif first[0] != ex.intent:
            errors.append(
                ProjectError(
                    f"例句 “{ex.text}” 同时出现在意图 “{first[0]}”（{first[1]}）和 “{ex.intent}” 中",
                    f"example '{ex.text}' appears under both '{first[0]}' ({first[1]}) "
                    f"and '{ex.intent}'",
                    ex.location,
                )
            )
    return errors


def _check_responses(project: Project, errors: list[ProjectError], warnings: list[str]) -> None:
    domain = project.domain
    for name, variants in domain.responses.items():
        where = domain.locations.get(f"response:{name}")
        for variant in variants:
            for cond in variant.conditions:
                if cond.slot not in domain.slots:
                    errors.append(
                        ProjectError(
                            f"回复 “{name}” 的 condition 引用了不存在的槽位 “{cond.slot}”",
                            f"response '{name}' has a condition on unknown slot '{cond.slot}'",
                            domain.locations.get(f"condition:{name}:{cond.slot}", where),
                        )
                    )
            for placeholder in _PLACEHOLDER.findall(variant.text or ""):
                if placeholder not in domain.slots:
                    warnings.append(
                        f"{where}: response '{name}' uses {{{placeholder}}} which is not a slot"
                    )


def _check_forms(project: Project, errors: list[ProjectError], warnings: list[str]) -> None:
    domain = project.domain
    for form in domain.forms.values():
        where = domain.locations.get(f"form:{form.name}")
        for slot in form.required_slots:
            if slot not in domain.slots:
                errors.append(
                    ProjectError(
                        f"表单 “{form.name}” 需要的槽位 “{slot}” 未在 slots 中定义",
                        f"form '{form.name}' requires slot '{slot}' which is not defined",
                        where,
                    )
                )
                continue
            asks = {
                f"utter_ask_{slot}",
                f"utter_ask_{form.name}_{slot}",
                f"action_ask_{slot}",
                f"action_ask_{form.name}_{slot}",
            }
            if not asks & set(domain.action_names):
                errors.append(
                    ProjectError(
                        f"表单 “{form.name}” 需要询问槽位 “{slot}”，但没有 utter_ask_{slot} 回复"
                        f"（或 action_ask_{slot} 动作）",
                        f"form '{form.name}' requires slot '{slot}' but has no utter_ask_{slot} "
                        f"response (nor action_ask_{slot} action)",
                        domain.locations.get(f"form_slot:{form.name}:{slot}", where),
                    )
                )


def _check_nlu_vs_domain(project: Project, warnings: list[str]) -> None:
    domain = project.domain
    intents = {ex.intent.split("/", 1)[0] for ex in project.nlu.examples}
    for intent in sorted(intents - set(domain.intents)):
        warnings.append(
            f"intent '{intent}' has examples but is not in the domain (it will be ignored)"
        )
    entity_types = {e.entity for ex in project.nlu.examples for e in ex.entities}
    for entity in sorted(entity_types - set(domain.entities)):
        warnings.append(
            f"entity '{entity}' is annotated in examples but not declared in the domain"
        )
