"""Translating Rasa `config.yml` pipelines and policies onto Zhike components."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.errors import ProjectError
from bot.project.config import (
    DEFAULT_PIPELINE,
    INTENT,
    LOOKUP,
    NER,
    NORMALIZER,
    ProjectConfig,
    parse_config,
)
from bot.project.yamlio import read_yaml

FIXTURES = Path(__file__).parents[2] / "fixtures" / "projects"


def _cfg(pipeline: list[Any], language: str = "zh", policies: Any = None) -> ProjectConfig:
    doc: dict[str, Any] = {"language": language, "pipeline": pipeline}
    if policies is not None:
        doc["policies"] = policies
    return parse_config(doc, "config.yml")


def _names(cfg: ProjectConfig) -> list[str]:
    return [c.name for c in cfg.pipeline]


def _notices_for(cfg: ProjectConfig, name: str) -> list[str]:
    return [n for n in cfg.notices if n.startswith(f"{name} ->") or n.startswith(f"{name}:")]


# Rasa component -> Zhike components it must bring in (besides normalizer/tokenizer/intent)
MAPPED = {
    "SpacyNLP": set(),
    "MitieNLP": set(),
    "CountVectorsFeaturizer": {INTENT},
    "LexicalSyntacticFeaturizer": {INTENT},
    "RegexFeaturizer": {INTENT, LOOKUP},
    "ConveRTFeaturizer": {INTENT},
    "LanguageModelFeaturizer": {INTENT},
    "SpacyFeaturizer": {INTENT},
    "MitieFeaturizer": {INTENT},
    "DIETClassifier": {INTENT, NER, LOOKUP},
    "SklearnIntentClassifier": {INTENT},
    "LogisticRegressionClassifier": {INTENT},
    "KeywordIntentClassifier": {INTENT},
    "MitieIntentClassifier": {INTENT},
    "CRFEntityExtractor": {NER, LOOKUP},
    "MitieEntityExtractor": {NER, LOOKUP},
    "SpacyEntityExtractor": {NER},
    "RegexEntityExtractor": {"RegexEntityExtractor", LOOKUP},
    "DucklingHTTPExtractor": {"DucklingEntityExtractor"},
}
KEPT = [
    "JiebaTokenizer",
    "EntitySynonymMapper",
    "DucklingEntityExtractor",
    "FallbackClassifier",
    "ResponseSelector",
]


@pytest.mark.parametrize(("rasa_name", "targets"), sorted(MAPPED.items()))
def test_each_mapped_component_gives_its_targets_and_one_notice(
    rasa_name: str, targets: set[str]
) -> None:
    cfg = _cfg([{"name": rasa_name}, {"name": rasa_name}])
    names = _names(cfg)
    assert targets <= set(names)
    assert names[0] == NORMALIZER and "JiebaTokenizer" in names and INTENT in names
    assert rasa_name not in names or rasa_name in targets
    notices = _notices_for(cfg, rasa_name)
    assert len(notices) == 1, cfg.notices
    for target in targets:
        assert target in notices[0]


@pytest.mark.parametrize("name", KEPT)
def test_kept_components_keep_their_name_without_notice(name: str) -> None:
    cfg = _cfg([{"name": name}])
    assert name in _names(cfg)
    assert _notices_for(cfg, name) == []


def test_no_duplicate_notices_for_fixture_pipeline() -> None:
    path = FIXTURES / "en_restaurant" / "config.yml"
    cfg = parse_config(read_yaml(path), str(path))
    assert len(cfg.notices) == len(set(cfg.notices))
    assert len(_notices_for(cfg, "CountVectorsFeaturizer")) == 1  # listed twice
    assert cfg.language == "en"
    assert _names(cfg) == [
        NORMALIZER,
        "WhitespaceTokenizer",
        INTENT,
        "ResponseSelector",
        LOOKUP,
        NER,
        "DucklingEntityExtractor",
        "EntitySynonymMapper",
        "FallbackClassifier",
    ]
    options = {c.name: c.options for c in cfg.pipeline}
    assert options["FallbackClassifier"] == {"threshold": 0.3, "ambiguity_threshold": 0.1}
    assert options["DucklingEntityExtractor"]["dimensions"] == ["number", "time"]
    assert options["ResponseSelector"]["epochs"] == 100
    assert options[INTENT] == {}  # DIET's epochs are not ours


def test_canonical_order_does_not_depend_on_input_order() -> None:
    cfg = _cfg(
        [
            {"name": "FallbackClassifier"},
            {"name": "DIETClassifier"},
            {"name": "JiebaTokenizer"},
            {"name": "EntitySynonymMapper"},
        ]
    )
    assert _names(cfg) == [
        NORMALIZER,
        "JiebaTokenizer",
        INTENT,
        LOOKUP,
        NER,
        "EntitySynonymMapper",
        "FallbackClassifier",
    ]


def test_zh_turns_whitespace_tokenizer_into_jieba() -> None:
    cfg = _cfg([{"name": "WhitespaceTokenizer"}, {"name": "DIETClassifier"}], language="zh")
    names = _names(cfg)
    assert "JiebaTokenizer" in names and "WhitespaceTokenizer" not in names
    assert any("WhitespaceTokenizer -> JiebaTokenizer" in n for n in cfg.notices)


def test_en_keeps_whitespace_tokenizer() -> None:
    cfg = _cfg([{"name": "WhitespaceTokenizer"}], language="en")
    assert "WhitespaceTokenizer" in _names(cfg) and "JiebaTokenizer" not in _names(cfg)
    assert cfg.notices == []


@pytest.mark.parametrize(
    ("language", "tokenizer"),
    [("zh", "JiebaTokenizer"), ("en", "WhitespaceTokenizer"), ("de", "WhitespaceTokenizer")],
)
@pytest.mark.parametrize("rasa_tokenizer", ["SpacyTokenizer", "MitieTokenizer", None])
def test_tokenizer_follows_language(
    language: str, tokenizer: str, rasa_tokenizer: str | None
) -> None:
    pipeline = [{"name": rasa_tokenizer}] if rasa_tokenizer else []
    cfg = _cfg([*pipeline, {"name": "DIETClassifier"}], language=language)
    names = _names(cfg)
    assert tokenizer in names
    other = {"JiebaTokenizer", "WhitespaceTokenizer"} - {tokenizer}
    assert not other & set(names)
    if rasa_tokenizer:
        (notice,) = _notices_for(cfg, rasa_tokenizer)
        assert tokenizer in notice


@pytest.mark.parametrize(("raw", "language"), [("zh_CN", "zh"), ("zh-CN", "zh"), ("EN", "en")])
def test_language_codes_are_normalised(raw: str, language: str) -> None:
    assert _cfg([], language=raw).language == language


def test_missing_language_means_chinese() -> None:
    cfg = parse_config({"pipeline": [{"name": "DIETClassifier"}]}, "config.yml")
    assert cfg.language == "zh" and "JiebaTokenizer" in _names(cfg)


def test_diet_without_entity_recognition_has_no_ner() -> None:
    cfg = _cfg([{"name": "DIETClassifier", "entity_recognition": False}], language="en")
    names = _names(cfg)
    assert INTENT in names and NER not in names and LOOKUP not in names
    (notice,) = _notices_for(cfg, "DIETClassifier")
    assert NER not in notice and INTENT in notice


def test_diet_without_intent_classification_still_has_an_intent_classifier() -> None:
    cfg = _cfg([{"name": "DIETClassifier", "intent_classification": False}])
    names = _names(cfg)
    assert NER in names and LOOKUP in names
    assert INTENT in names  # the pipeline always has one
    (notice,) = _notices_for(cfg, "DIETClassifier")
    assert NER in notice


def test_unknown_component_is_skipped_with_one_notice() -> None:
    cfg = _cfg(
        [
            {"name": "my_package.MyComponent"},
            {"name": "my_package.MyComponent"},
            {"name": "DIETClassifier"},
        ]
    )
    assert "my_package.MyComponent" not in _names(cfg)
    notices = _notices_for(cfg, "my_package.MyComponent")
    assert len(notices) == 1 and "unknown" in notices[0] and "skipped" in notices[0]


def test_plain_string_pipeline_items() -> None:
    cfg = _cfg(["JiebaTokenizer", "DIETClassifier"])
    assert {"JiebaTokenizer", INTENT, NER} <= set(_names(cfg))


def test_kept_component_options_pass_through() -> None:
    cfg = _cfg(
        [
            {"name": "JiebaTokenizer", "dictionary_path": "dict/"},
            {"name": "FallbackClassifier", "threshold": 0.4},
            {"name": "DucklingHTTPExtractor", "dimensions": ["time"]},
        ]
    )
    options = {c.name: c.options for c in cfg.pipeline}
    assert options["JiebaTokenizer"] == {"dictionary_path": "dict/"}
    assert options["FallbackClassifier"] == {"threshold": 0.4}
    assert options["DucklingEntityExtractor"] == {"dimensions": ["time"]}


@pytest.mark.parametrize("doc", [{}, None, {"pipeline": []}, {"pipeline": None}])
def test_empty_pipeline_uses_default(doc: Any) -> None:
    cfg = parse_config(doc, "config.yml")
    assert _names(cfg) == DEFAULT_PIPELINE
    assert len(cfg.notices) == 1 and "empty" in cfg.notices[0]
    assert [p.name for p in cfg.policies] == ["RulePolicy", "MemoizationPolicy"]


def test_empty_pipeline_in_english_uses_whitespace() -> None:
    cfg = parse_config({"language": "en"}, "config.yml")
    names = _names(cfg)
    assert "WhitespaceTokenizer" in names and "JiebaTokenizer" not in names
    assert set(names) - {"WhitespaceTokenizer"} == set(DEFAULT_PIPELINE) - {"JiebaTokenizer"}


def test_non_mapping_config_is_a_bilingual_error() -> None:
    with pytest.raises(ProjectError) as info:
        parse_config(["a", "b"], "config.yml")
    assert info.value.location is not None and info.value.location.file == "config.yml"
    assert "映射" in info.value.zh and "mapping" in info.value.en


# --- policies -------------------------------------------------------------------------------


POLICY_TARGETS = {
    "RulePolicy": "RulePolicy",
    "MemoizationPolicy": "MemoizationPolicy",
    "AugmentedMemoizationPolicy": "MemoizationPolicy",
    "TEDPolicy": "MemoizationPolicy",
    "FormPolicy": "RulePolicy",
    "MappingPolicy": "RulePolicy",
    "FallbackPolicy": "RulePolicy",
    "TwoStageFallbackPolicy": "RulePolicy",
}


@pytest.mark.parametrize(("rasa_name", "target"), sorted(POLICY_TARGETS.items()))
def test_policy_mapping(rasa_name: str, target: str) -> None:
    cfg = _cfg([], policies=[{"name": rasa_name}, {"name": rasa_name}])
    assert target in [p.name for p in cfg.policies]
    assert {p.name for p in cfg.policies} == {"RulePolicy", "MemoizationPolicy"}
    notices = _notices_for(cfg, rasa_name)
    assert len(notices) == (0 if rasa_name == target else 1)
    if notices:
        assert target in notices[0]


@pytest.mark.parametrize("name", ["UnexpecTEDIntentPolicy", "my.CustomPolicy"])
def test_skipped_policies(name: str) -> None:
    cfg = _cfg([], policies=[{"name": name}])
    assert name not in [p.name for p in cfg.policies]
    (notice,) = _notices_for(cfg, name)
    assert "(nothing)" in notice


def test_policy_options() -> None:
    cfg = _cfg(
        [],
        policies=[
            {"name": "TEDPolicy", "max_history": 8, "epochs": 100},
            {"name": "RulePolicy", "core_fallback_threshold": 0.3},
            {"name": "AugmentedMemoizationPolicy", "max_history": 4},
        ],
    )
    assert cfg.policy_options("RulePolicy") == {"core_fallback_threshold": 0.3}
    # TED's options are not memoization's; augmented memoization's are
    assert cfg.policy_options("MemoizationPolicy") == {"max_history": 4}
    assert cfg.policy_options("TEDPolicy") == {}


def test_fixture_policies() -> None:
    path = FIXTURES / "en_restaurant" / "config.yml"
    cfg = parse_config(read_yaml(path), str(path))
    assert [p.name for p in cfg.policies] == ["MemoizationPolicy", "RulePolicy"]
    assert cfg.policy_options("MemoizationPolicy") == {"max_history": 5}
    assert cfg.policy_options("RulePolicy")["enable_fallback_prediction"] is True
    zh = FIXTURES / "zh_mini" / "config.yml"
    zcfg = parse_config(read_yaml(zh), str(zh))
    assert zcfg.language == "zh" and "JiebaTokenizer" in _names(zcfg)
    assert len(zcfg.notices) == len(set(zcfg.notices))
