"""Consistency of the reference bot's Rasa files with each other and with the actions."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from conftest import LOADER, REPO_ROOT
from rasa_sdk.executor import ActionExecutor

from actions.normalize import extract_mobile, parse_amount

BUILTIN_ACTIONS = {
    "action_listen",
    "action_restart",
    "action_deactivate_loop",
    "action_two_stage_fallback",
    "action_handoff",
}
ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]+\)|\{[^}]+\})")


def _load(relative: str) -> Any:
    return yaml.load((REPO_ROOT / relative).read_text(encoding="utf-8"), Loader=LOADER)


def _training_examples() -> dict[str, list[str]]:
    examples: dict[str, list[str]] = {}
    for path in sorted((REPO_ROOT / "nlu_data").glob("*.yml")):
        for item in yaml.load(path.read_text(encoding="utf-8"), Loader=LOADER)["nlu"]:
            if "intent" in item:
                lines = [ln[2:] for ln in item["examples"].splitlines() if ln.startswith("- ")]
                examples.setdefault(item["intent"], []).extend(lines)
    return examples


def _story_steps(relative: str, key: str) -> list[dict[str, Any]]:
    return [step for story in _load(relative)[key] for step in story["steps"]]


def test_intents_have_enough_examples(domain: dict[str, Any]) -> None:
    examples = _training_examples()
    assert set(examples) == set(domain["intents"])
    assert len(examples) >= 30
    assert min(len(v) for v in examples.values()) >= 15


def test_every_domain_action_is_implemented(domain: dict[str, Any]) -> None:
    executor = ActionExecutor()
    executor.register_package("actions")
    assert set(domain["actions"]) <= set(executor.actions)


def test_every_response_is_used_and_every_used_response_exists(domain: dict[str, Any]) -> None:
    steps = _story_steps("stories/rules.yml", "rules") + _story_steps(
        "stories/stories.yml", "stories"
    )
    used = {s["action"] for s in steps if "action" in s}
    source = "".join(p.read_text(encoding="utf-8") for p in (REPO_ROOT / "actions").glob("*.py"))
    used |= set(re.findall(r'"(utter_[a-z0-9_]+)"', source))
    for form, spec in domain["forms"].items():
        for slot in spec["required_slots"]:
            specific = f"utter_ask_{form}_{slot}"
            used.add(specific if specific in domain["responses"] else f"utter_ask_{slot}")
    # Used by Rasa's built-in actions: restart and the two-stage fallback.
    used |= {"utter_restart", "utter_default", "utter_ask_rephrase", "utter_handoff"}
    responses = set(domain["responses"])
    assert {u for u in used if u.startswith("utter_")} <= responses
    assert responses <= used
    actions = {u for u in used if not u.startswith("utter_")}
    assert actions <= set(domain["actions"]) | set(domain["forms"]) | BUILTIN_ACTIONS


def test_test_stories_are_paraphrases(domain: dict[str, Any]) -> None:
    training = {ANNOTATION.sub(r"\1", e).strip() for v in _training_examples().values() for e in v}
    stories = _load("tests/test_stories.yml")["stories"]
    assert len(stories) >= 25
    user_steps = [s for story in stories for s in story["steps"] if "user" in s]
    for step in user_steps:
        assert step["intent"] in {*domain["intents"], "nlu_fallback"}
        assert ANNOTATION.sub(r"\1", step["user"]).strip() not in training


def test_lookup_and_regex_values_are_understood() -> None:
    entities = _load("nlu_data/entities.yml")["nlu"]
    regexes = {e["regex"]: e["examples"] for e in entities if "regex" in e}
    phone = re.compile(regexes["phone_number"].splitlines()[0][2:])
    assert phone.fullmatch("13812345678") and not phone.search("123456789012")
    assert extract_mobile("幺三八幺二三四五六七八") == "13812345678"
    assert parse_amount("一百五") == 150.0
    counts = Counter(e["lookup"] for e in entities if "lookup" in e)
    assert counts == Counter({"month": 1, "plan": 1, "country": 1, "city": 1, "district": 1})


def test_yaml_files_declare_version() -> None:
    files = [REPO_ROOT / "domain.yml", *Path(REPO_ROOT / "nlu_data").glob("*.yml")]
    files += [REPO_ROOT / "stories/stories.yml", REPO_ROOT / "stories/rules.yml"]
    files.append(REPO_ROOT / "tests/test_stories.yml")
    for path in files:
        assert yaml.load(path.read_text(encoding="utf-8"), Loader=LOADER)["version"] == "3.1", path
