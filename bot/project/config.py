"""`config.yml`: map a Rasa pipeline and policies onto Zhike's components.

Rasa's component names are accepted unchanged; each one is translated to the Zhike
component that does the same job, with a one-line notice saying so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bot.errors import Location, ProjectError

NORMALIZER = "ZhikeNormalizer"
INTENT = "ZhikeIntentClassifier"
NER = "ZhikeNER"
LOOKUP = "LookupEntityExtractor"

# Rasa name -> (Zhike components it becomes, why)
_NLU_MAP: dict[str, tuple[tuple[str, ...], str]] = {
    "WhitespaceTokenizer": (("WhitespaceTokenizer",), "kept (jieba for Chinese)"),
    "JiebaTokenizer": (
        ("JiebaTokenizer",),
        "kept, with a user dictionary from lookups and synonyms",
    ),
    "SpacyTokenizer": (("JiebaTokenizer",), "jieba/whitespace tokenizer"),
    "MitieTokenizer": (("JiebaTokenizer",), "jieba/whitespace tokenizer"),
    "SpacyNLP": ((), "not needed: spaCy is used internally without a downloaded model"),
    "MitieNLP": ((), "not needed"),
    "CountVectorsFeaturizer": ((INTENT,), "folded into ZhikeIntentClassifier's n-gram features"),
    "LexicalSyntacticFeaturizer": ((INTENT,), "folded into ZhikeIntentClassifier's features"),
    "RegexFeaturizer": ((INTENT, LOOKUP), "lookup tables served by LookupEntityExtractor"),
    "ConveRTFeaturizer": ((INTENT,), "folded into ZhikeIntentClassifier"),
    "LanguageModelFeaturizer": ((INTENT,), "folded into ZhikeIntentClassifier"),
    "SpacyFeaturizer": ((INTENT,), "folded into ZhikeIntentClassifier"),
    "MitieFeaturizer": ((INTENT,), "folded into ZhikeIntentClassifier"),
    "DIETClassifier": ((INTENT, NER, LOOKUP), "ZhikeIntentClassifier + ZhikeNER (spaCy)"),
    "SklearnIntentClassifier": ((INTENT,), "ZhikeIntentClassifier"),
    "LogisticRegressionClassifier": ((INTENT,), "ZhikeIntentClassifier"),
    "KeywordIntentClassifier": ((INTENT,), "ZhikeIntentClassifier"),
    "MitieIntentClassifier": ((INTENT,), "ZhikeIntentClassifier"),
    "CRFEntityExtractor": ((NER, LOOKUP), "ZhikeNER (spaCy)"),
    "MitieEntityExtractor": ((NER, LOOKUP), "ZhikeNER (spaCy)"),
    "SpacyEntityExtractor": ((NER,), "ZhikeNER trained on your annotations"),
    "ResponseSelector": (("ResponseSelector",), "retrieval intents through ZhikeIntentClassifier"),
    "EntitySynonymMapper": (("EntitySynonymMapper",), "kept"),
    "RegexEntityExtractor": (("RegexEntityExtractor", LOOKUP), "kept"),
    "DucklingEntityExtractor": (
        ("DucklingEntityExtractor",),
        "built-in, no Duckling server needed",
    ),
    "DucklingHTTPExtractor": (("DucklingEntityExtractor",), "built-in, no Duckling server needed"),
    "FallbackClassifier": (("FallbackClassifier",), "kept"),
}
_ZHIKE_NLU = {
    NORMALIZER,
    "JiebaTokenizer",
    "WhitespaceTokenizer",
    INTENT,
    NER,
    LOOKUP,
    "RegexEntityExtractor",
    "DucklingEntityExtractor",
    "EntitySynonymMapper",
    "FallbackClassifier",
    "ResponseSelector",
}
# canonical order of the built pipeline
_ORDER = [
    NORMALIZER,
    "JiebaTokenizer",
    "WhitespaceTokenizer",
    INTENT,
    "ResponseSelector",
    "RegexEntityExtractor",
    LOOKUP,
    NER,
    "DucklingEntityExtractor",
    "EntitySynonymMapper",
    "FallbackClassifier",
]
_POLICY_MAP: dict[str, tuple[str | None, str]] = {
    "RulePolicy": ("RulePolicy", "kept (rules, forms, fallback)"),
    "MemoizationPolicy": ("MemoizationPolicy", "kept"),
    "AugmentedMemoizationPolicy": ("MemoizationPolicy", "MemoizationPolicy (always augmented)"),
    "TEDPolicy": ("MemoizationPolicy", "unseen paths handled by augmented memoization"),
    "UnexpecTEDIntentPolicy": (None, "skipped (no equivalent needed)"),
    "FormPolicy": ("RulePolicy", "forms are handled by RulePolicy"),
    "MappingPolicy": ("RulePolicy", "use rules instead"),
    "FallbackPolicy": ("RulePolicy", "fallback handled by RulePolicy"),
    "TwoStageFallbackPolicy": ("RulePolicy", "two-stage fallback handled by RulePolicy"),
}

_TOKENIZERS = {"JiebaTokenizer", "WhitespaceTokenizer"}
_LANGUAGE_TOKENIZERS = {"SpacyTokenizer", "MitieTokenizer"}  # jieba for zh, whitespace otherwise
_SAME_OPTIONS = {"AugmentedMemoizationPolicy"}  # its options mean the same for MemoizationPolicy

DEFAULT_PIPELINE = [
    NORMALIZER,
    "JiebaTokenizer",
    INTENT,
    "RegexEntityExtractor",
    LOOKUP,
    NER,
    "DucklingEntityExtractor",
    "EntitySynonymMapper",
    "FallbackClassifier",
]


@dataclass(slots=True)
class ComponentSpec:
    name: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ProjectConfig:
    language: str = "zh"
    pipeline: list[ComponentSpec] = field(default_factory=list)
    policies: list[ComponentSpec] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    def policy_options(self, name: str) -> dict[str, Any]:
        return next((p.options for p in self.policies if p.name == name), {})


def parse_config(doc: Any, file: str) -> ProjectConfig:
    """Translate a parsed `config.yml` into Zhike's pipeline and policies."""
    doc = doc or {}
    if not isinstance(doc, dict):
        raise ProjectError(
            "config.yml 顶层必须是映射", "config.yml must be a mapping", Location(file, 1)
        )
    language = re.split(r"[_-]", str(doc.get("language") or "zh").lower())[0]
    cfg = ProjectConfig(language=language)
    raw_pipeline = doc.get("pipeline") or []
    chosen: dict[str, dict[str, Any]] = {}
    if not raw_pipeline:
        cfg.notices.append("pipeline: empty, using Zhike's default pipeline")
        chosen = {n: {} for n in DEFAULT_PIPELINE if n not in _TOKENIZERS}
    for item in raw_pipeline:
        _add_component(cfg, chosen, item, file)
    chosen.setdefault(NORMALIZER, {})
    if "JiebaTokenizer" not in chosen and "WhitespaceTokenizer" not in chosen:
        chosen["JiebaTokenizer" if cfg.language == "zh" else "WhitespaceTokenizer"] = {}
    if cfg.language == "zh" and "WhitespaceTokenizer" in chosen:
        chosen.pop("WhitespaceTokenizer")
        chosen.setdefault("JiebaTokenizer", {})
        cfg.notices.append("WhitespaceTokenizer -> JiebaTokenizer (language zh has no spaces)")
    chosen.setdefault(INTENT, {})
    if NER in chosen and LOOKUP in chosen:
        # ZhikeNER already uses annotated values as features; matching them again adds noise
        chosen[LOOKUP].setdefault("use_annotations", False)
    cfg.pipeline = [ComponentSpec(n, chosen[n]) for n in _ORDER if n in chosen]
    cfg.policies = _policies(cfg, doc.get("policies"), file)
    return cfg


def _notice(cfg: ProjectConfig, name: str, text: str) -> None:
    """One notice per Rasa component or policy name, however often it is listed."""
    if not any(n.startswith(f"{name} ->") or n.startswith(f"{name}:") for n in cfg.notices):
        cfg.notices.append(text)


def _add_component(
    cfg: ProjectConfig, chosen: dict[str, dict[str, Any]], item: Any, file: str
) -> None:
    name = str(item.get("name") if isinstance(item, dict) else item)
    options = {k: v for k, v in item.items() if k != "name"} if isinstance(item, dict) else {}
    if name in _ZHIKE_NLU and name not in _NLU_MAP:
        targets: tuple[str, ...] = (name,)
    elif name in _NLU_MAP:
        targets, why = _NLU_MAP[name]
        if name in _LANGUAGE_TOKENIZERS:
            targets = ("JiebaTokenizer",) if cfg.language == "zh" else ("WhitespaceTokenizer",)
        if name == "DIETClassifier" and options.get("entity_recognition") is False:
            targets, why = (INTENT,), "ZhikeIntentClassifier (entity_recognition: false)"
        if name == "DIETClassifier" and options.get("intent_classification") is False:
            targets, why = (NER, LOOKUP), "ZhikeNER (intent_classification: false)"
        if targets != (name,):
            _notice(cfg, name, f"{name} -> {' + '.join(targets) or '(nothing)'}: {why}")
    else:
        _notice(cfg, name, f"{name}: unknown component, skipped")
        return
    for target in targets:
        merged = chosen.setdefault(target, {})
        if target == name or target in ("DucklingEntityExtractor", "FallbackClassifier"):
            merged.update(options)


def _policies(cfg: ProjectConfig, raw: Any, file: str) -> list[ComponentSpec]:
    chosen: dict[str, dict[str, Any]] = {}
    for item in raw or [{"name": "RulePolicy"}, {"name": "MemoizationPolicy"}]:
        name = str(item.get("name") if isinstance(item, dict) else item)
        options = {k: v for k, v in item.items() if k != "name"} if isinstance(item, dict) else {}
        target, why = _POLICY_MAP.get(name, (None, "unknown policy, skipped"))
        if target != name:
            _notice(cfg, name, f"{name} -> {target or '(nothing)'}: {why}")
        if target is None:
            continue
        merged = chosen.setdefault(target, {})
        if target == name or name in _SAME_OPTIONS:
            merged.update(options)
    chosen.setdefault("RulePolicy", {})
    chosen.setdefault("MemoizationPolicy", {})
    return [ComponentSpec(n, o) for n, o in chosen.items()]
