"""Cross-file checks: each malformed fixture reports the documented file, line and reason."""

from __future__ import annotations

import re
from pathlib import Path
from textwrap import dedent

import pytest

from bot.errors import ProjectError, ProjectErrors
from bot.project.loader import Project, load_project
from bot.project.validate import validate_project

FIXTURES = Path(__file__).parents[2] / "fixtures" / "projects"
MALFORMED = FIXTURES / "malformed"
_ROW = re.compile(r"^\|\s*`([^`]+)/`\s*\|\s*`([^`]+)`\s*\|\s*(\d+)\s*\|(.*)\|\s*$")


def _readme_table() -> list[tuple[str, str, int]]:
    rows = []
    for line in (MALFORMED / "README.md").read_text(encoding="utf-8").splitlines():
        m = _ROW.match(line)
        if m:
            rows.append((m.group(1), m.group(2), int(m.group(3))))
    return rows


TABLE = _readme_table()
# words that must appear in the English message of each case
REASON = {
    "bad_yaml_indentation": ["YAML"],
    "unknown_intent_in_story": ["say_farewell", "intent"],
    "missing_response": ["utter_x"],
    "duplicate_example": ["good morning", "greet", "goodbye"],
    "form_slot_without_ask": ["visit_form", "guests", "utter_ask_guests"],
    "invalid_response_condition": ["utter_greet", "member_level"],
    "unknown_slot_type": ["visits", "decimal"],
}


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_readme_table_covers_every_case() -> None:
    cases = sorted(p.name for p in MALFORMED.iterdir() if p.is_dir())
    assert sorted(row[0] for row in TABLE) == cases == sorted(REASON)


@pytest.mark.parametrize(("case", "file", "line"), TABLE, ids=[row[0] for row in TABLE])
def test_malformed_fixture_reports_file_line_and_reason(case: str, file: str, line: int) -> None:
    with pytest.raises(ProjectErrors) as info:
        load_project(MALFORMED / case)
    errors = info.value.errors
    assert len(errors) == 1, [str(e) for e in errors]
    err = errors[0]
    assert err.location is not None
    expected = (MALFORMED / case / file).resolve()
    assert Path(err.location.file).resolve() == expected
    assert abs(err.location.line - line) <= 1, (err.location.line, line)
    assert _has_chinese(err.zh)
    assert re.search(r"[A-Za-z]{3,}", err.en)
    for word in REASON[case]:
        assert word in err.en, (word, err.en)
    # the bilingual message carries the location, Chinese and English
    text = str(err)
    assert text.startswith(f"{err.location.file}:{err.location.line}: ")
    assert err.zh in text and err.en in text


def test_malformed_fixtures_parse_except_bad_yaml() -> None:
    import yaml

    for case in sorted(p for p in MALFORMED.iterdir() if p.is_dir()):
        for path in sorted(case.rglob("*.yml")):
            if case.name == "bad_yaml_indentation" and path.name == "domain.yml":
                continue
            yaml.safe_load(path.read_text(encoding="utf-8"))


# --- focused cases --------------------------------------------------------------------------

DOMAIN = """\
version: "3.1"
intents:
  - greet
  - faq
entities:
  - city
slots:
  city:
    type: text
    mappings:
      - type: from_entity
        entity: city
responses:
  utter_greet:
    - text: 您好，{city}的朋友！{nickname}
  utter_faq/hours:
    - text: 每天十点营业
actions:
  - action_lookup
"""


def _project(tmp_path: Path, files: dict[str, str]) -> Project:
    for rel, text in {"domain.yml": DOMAIN, **files}.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dedent(text), encoding="utf-8")
    return load_project(tmp_path, validate=False)


def _validate(tmp_path: Path, files: dict[str, str]) -> tuple[list[ProjectError], list[str]]:
    return validate_project(_project(tmp_path, files))


def test_clean_project_has_no_errors(tmp_path: Path) -> None:
    errors, warnings = _validate(
        tmp_path,
        {
            "data/nlu.yml": """\
                nlu:
                  - intent: greet
                    examples: |
                      - 你好
                      - 我在[北京](city)
                  - intent: faq/hours
                    examples: |
                      - 几点开门
                """,
            "data/stories.yml": """\
                stories:
                  - story: s
                    steps:
                      - intent: greet
                      - action: utter_greet
                      - intent: faq
                      - action: utter_faq
                      - or:
                          - intent: greet
                          - intent: restart
                      - action: action_lookup
                      - action: action_restart
                      - bot: 好的
                      - user: 随便说说
                """,
            "tests/test_stories.yml": "stories: []\n",
        },
    )
    assert errors == []
    (warning,) = warnings
    assert warning.endswith(
        "domain.yml:14: response 'utter_greet' uses {nickname} which is not a slot"
    )


def test_full_retrieval_action_names_are_accepted(tmp_path: Path) -> None:
    errors, _ = _validate(
        tmp_path,
        {
            "data/stories.yml": """\
            stories:
              - story: s
                steps:
                  - intent: faq/hours
                  - action: utter_faq/hours
            """
        },
    )
    assert errors == []


def test_unknown_intent_inside_or_and_rules(tmp_path: Path) -> None:
    errors, _ = _validate(
        tmp_path,
        {
            "data/rules.yml": """\
            rules:
              - rule: r
                steps:
                  - or:
                      - intent: greet
                      - intent: wave
                  - action: utter_greet
            """
        },
    )
    (err,) = errors
    assert err.location is not None and err.location.line == 6
    assert "规则" in err.zh and "rule" in err.en and "wave" in err.en


def test_undeclared_custom_action(tmp_path: Path) -> None:
    errors, _ = _validate(
        tmp_path,
        {
            "data/stories.yml": """\
            stories:
              - story: s
                steps:
                  - intent: greet
                  - action: action_missing
            """
        },
    )
    (err,) = errors
    assert err.location is not None and err.location.line == 5
    assert "action_missing" in err.zh and "not declared" in err.en


def test_duplicate_example_same_intent_is_fine_but_normalised_clash_is_not(
    tmp_path: Path,
) -> None:
    errors, _ = _validate(
        tmp_path,
        {
            "data/nlu.yml": """\
            nlu:
              - intent: greet
                examples: |
                  - 你好
                  - 你好
              - intent: faq
                examples: |
                  - Good  Morning
              - intent: greet
                examples: |
                  - good morning
            """
        },
    )
    (err,) = errors
    assert err.location is not None and err.location.line == 11
    assert "faq" in err.en and "greet" in err.en


def test_form_requiring_undefined_slot(tmp_path: Path) -> None:
    errors, _ = _validate(
        tmp_path,
        {
            "domain.yml": DOMAIN
            + "forms:\n  f:\n    required_slots:\n      - city\n      - ghost\n"
            "  g:\n    required_slots: [city]\n"
        },
    )
    messages = sorted(e.en for e in errors)
    assert len(errors) == 3, messages
    assert any("ghost" in m and "not defined" in m for m in messages)
    assert sum("utter_ask_city" in m for m in messages) == 2


def test_form_ask_via_action_or_form_specific_response(tmp_path: Path) -> None:
    domain = DOMAIN.replace("  - action_lookup\n", "  - action_lookup\n  - action_ask_city\n")
    errors, _ = _validate(
        tmp_path, {"domain.yml": domain + "forms:\n  f:\n    required_slots: [city]\n"}
    )
    assert errors == []


def test_warnings_for_undeclared_entity_and_intent(tmp_path: Path) -> None:
    errors, warnings = _validate(
        tmp_path,
        {
            "data/nlu.yml": """\
            nlu:
              - intent: greet
                examples: |
                  - 你好
              - intent: order_drink
                examples: |
                  - 来一杯[奶茶](drink)
                  - 我在[上海](city)
              - intent: faq/hours
                examples: |
                  - 几点开门
            """
        },
    )
    assert errors == []
    assert any("order_drink" in w and "not in the domain" in w for w in warnings)
    assert any("'drink'" in w and "not declared" in w for w in warnings)
    assert not any("'city'" in w for w in warnings)
    assert not any("faq" in w for w in warnings)


def test_load_project_attaches_warnings(tmp_path: Path) -> None:
    _project(tmp_path, {"data/nlu.yml": "nlu:\n  - intent: stray\n    examples: |\n      - hm\n"})
    project = load_project(tmp_path)
    assert any("stray" in w for w in project.warnings)


def test_fixture_projects_validate_cleanly() -> None:
    for name in ("en_restaurant", "zh_mini"):
        project = load_project(FIXTURES / name, validate=False)
        errors, warnings = validate_project(project)
        assert errors == [], [str(e) for e in errors]
        assert warnings == []


def test_training_load_downgrades_duplicate_examples_to_a_warning(tmp_path: Path) -> None:
    case = MALFORMED / "duplicate_example"
    project = load_project(case, strict=False)
    texts = [(ex.text, ex.intent) for ex in project.nlu.examples if ex.text == "good morning"]
    assert texts == [("good morning", "greet")]  # the first occurrence wins, the clash is dropped
    assert any("good morning" in w and "goodbye" in w for w in project.warnings)
