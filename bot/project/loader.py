"""Load a project directory (Rasa 3.x layout or Zhike's) into typed objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.errors import Location, ProjectError, ProjectErrors
from bot.nlu.types import NLUData
from bot.project.config import ProjectConfig, parse_config
from bot.project.domain import Domain
from bot.project.domain_loader import DomainBuilder, _plain, _variant
from bot.project.stories import StoryBlock
from bot.project.training_loader import TrainingDocs, read_training_doc
from bot.project.yamlio import line_of, read_yaml

YAML_SUFFIXES = (".yml", ".yaml")
DATA_DIRS = ("data", "nlu_data", "stories")


@dataclass(slots=True)
class Endpoints:
    action_url: str | None = None
    action_token: str | None = None
    tracker_store: dict[str, Any] = field(default_factory=dict)
    lock_store: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Project:
    root: Path
    domain: Domain
    config: ProjectConfig
    nlu: NLUData
    stories: list[StoryBlock]
    rules: list[StoryBlock]
    endpoints: Endpoints
    data_files: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def actions_package(self) -> Path | None:
        """Where the project's custom actions live (`actions/` package or `actions.py`)."""
        for candidate in (self.root / "actions" / "__init__.py", self.root / "actions.py"):
            if candidate.exists():
                return candidate
        return None


def _yaml_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        return []
    return sorted(p for p in path.rglob("*") if p.suffix in YAML_SUFFIXES and p.is_file())


def domain_files(root: Path) -> list[Path]:
    for name in ("domain.yml", "domain.yaml"):
        if (root / name).is_file():
            return [root / name]
    return _yaml_files(root / "domain")


def data_files(root: Path) -> list[Path]:
    files: list[Path] = []
    for name in DATA_DIRS:
        files.extend(_yaml_files(root / name))
    return files


def load_project(root: str | Path, validate: bool = True, strict: bool = True) -> Project:
    """Read every project file; raise `ProjectErrors` listing all problems found.

    `strict=False` (used for training) downgrades Rasa's warning-level problems, such as an
    example listed under two intents, to warnings.
    """
    root = Path(root).resolve()
    errors: list[ProjectError] = []
    if not root.is_dir():
        raise ProjectErrors(
            [ProjectError("项目目录不存在", "project directory not found", Location(str(root)))]
        )
    domain = _load_domain(root, errors)
    config = _load_config(root, errors)
    docs = TrainingDocs()
    files = data_files(root)
    for path in files:
        doc = _safe_read(path, errors)
        read_training_doc(docs, doc, str(path))
    errors.extend(docs.errors)
    _merge_retrieval_responses(domain, docs, errors)
    docs.nlu.language = config.language
    project = Project(
        root=root,
        domain=domain,
        config=config,
        nlu=docs.nlu,
        stories=docs.stories,
        rules=docs.rules,
        endpoints=_load_endpoints(root, errors),
        data_files=files,
    )
    if validate and not errors:
        from bot.project.validate import validate_project

        problems, warnings = validate_project(project, strict)
        errors.extend(problems)
        project.warnings.extend(warnings)
    if errors:
        raise ProjectErrors(errors)
    return project


def _safe_read(path: Path, errors: list[ProjectError]) -> Any:
    try:
        return read_yaml(path)
    except ProjectError as exc:
        errors.append(exc)
        return None


def _load_domain(root: Path, errors: list[ProjectError]) -> Domain:
    files = domain_files(root)
    builder = DomainBuilder()
    if not files:
        errors.append(
            ProjectError(
                "找不到 domain.yml 或 domain/ 目录",
                "no domain.yml or domain/ folder",
                Location(str(root)),
            )
        )
    for path in files:
        builder.add(_safe_read(path, errors), str(path))
    errors.extend(builder.errors)
    return builder.build()


def _load_config(root: Path, errors: list[ProjectError]) -> ProjectConfig:
    path = root / "config.yml"
    if not path.exists():
        return parse_config({}, str(path))
    try:
        return parse_config(read_yaml(path), str(path))
    except ProjectError as exc:
        errors.append(exc)
        return parse_config({}, str(path))


def _load_endpoints(root: Path, errors: list[ProjectError]) -> Endpoints:
    path = root / "endpoints.yml"
    if not path.exists():
        return Endpoints()
    doc = _safe_read(path, errors) or {}
    if not isinstance(doc, dict):
        errors.append(
            ProjectError(
                "endpoints.yml 必须是映射",
                "endpoints.yml must be a mapping",
                Location(str(path), 1),
            )
        )
        return Endpoints()
    action = doc.get("action_endpoint") or {}
    return Endpoints(
        action_url=action.get("url") if isinstance(action, dict) else None,
        action_token=action.get("token") if isinstance(action, dict) else None,
        tracker_store=dict(doc.get("tracker_store") or {}),
        lock_store=dict(doc.get("lock_store") or {}),
        raw={str(k): v for k, v in doc.items()},
    )


def _merge_retrieval_responses(
    domain: Domain, docs: TrainingDocs, errors: list[ProjectError]
) -> None:
    for name, variants in docs.responses.items():
        if not isinstance(variants, list):
            continue
        where = docs.response_locations.get(str(name), Location("responses"))
        builder = DomainBuilder()
        parsed = [
            _variant(builder, v, where.file, line_of(variants, i, where.line), str(name))
            for i, v in enumerate(variants)
        ]
        errors.extend(builder.errors)
        domain.responses[str(name)] = [v for v in parsed if v is not None]
        domain.raw.setdefault("responses", {})[str(name)] = _plain(variants)
        domain.locations.setdefault(f"response:{name}", where)
        domain.locations.update(builder.domain.locations)
