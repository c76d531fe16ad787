"""`knowledge_base:` settings from endpoints.yml and ZHIKE_KB_* variables, validated.

```yaml
knowledge_base:
  answer_threshold: 0.6     # calibrated score to answer directly
  clarify_threshold: 0.3    # above this (and below the answer threshold): "您是想问…？"
  suggestions: 3
  db: .zhike/kb.db
  source: kb                # seed file or folder, imported when the store is empty
```
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from bot.errors import ZhikeError
from bot.kb.service import KBSettings

ENV_PREFIX = "ZHIKE_KB_"


class KBSettingsError(ZhikeError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "知识库配置有误 / invalid knowledge_base settings:\n" + "\n".join(problems)
        )


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


def _unit(value: Any) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise ValueError(value)
    return number


def _positive_int(value: Any) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


def _positive(value: Any) -> float:
    number = float(value)
    if number <= 0:
        raise ValueError(value)
    return number


PARSERS: dict[str, Callable[[Any], Any]] = {
    "enabled": _bool,
    "db": lambda v: Path(str(v)),
    "source": lambda v: Path(str(v)),
    "answer_threshold": _unit,
    "clarify_threshold": _unit,
    "suggestions": _positive_int,
    "override_intent_below": _unit,
    "sync_seconds": _positive,
}


def kb_settings(
    section: Mapping[str, Any] | None, env: Mapping[str, str] | None = None
) -> KBSettings:
    """Defaults, then endpoints.yml's section, then ZHIKE_KB_<NAME> variables."""
    values: dict[str, Any] = dict(section or {})
    for key, value in (env or {}).items():
        if key.startswith(ENV_PREFIX):
            values[key[len(ENV_PREFIX) :].lower()] = value
    known = {f.name for f in fields(KBSettings)}
    problems = [
        f"未知的知识库配置项 {name} / unknown knowledge_base setting {name!r}"
        for name in values
        if name not in known
    ]
    parsed: dict[str, Any] = {}
    for name, value in values.items():
        if name not in known:
            continue
        try:
            parsed[name] = PARSERS[name](value)
        except (TypeError, ValueError):
            problems.append(f"知识库配置 {name} 的值 {value!r} 无效 / bad value for {name}")
    settings = replace(KBSettings(), **parsed)
    if settings.clarify_threshold > settings.answer_threshold:
        problems.append(
            "clarify_threshold 不能高于 answer_threshold / "
            "clarify_threshold must not exceed answer_threshold"
        )
    if problems:
        raise KBSettingsError(problems)
    return settings
