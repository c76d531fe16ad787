"""Wiring a project into a running engine: model (loaded or trained), stores, actions."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot import model as model_io
from bot.engine import Engine, create_runner
from bot.errors import ModelNotFound, ZhikeError
from bot.handoff.hook import HandoffResponder
from bot.handoff.setup import open_handoff
from bot.kb.config import kb_settings
from bot.kb.hook import KBResponder
from bot.kb.service import KnowledgeBase, seed_files
from bot.model import TrainedModel
from bot.project.loader import Project, load_project
from bot.stores.factory import create_stores

log = logging.getLogger(__name__)


@dataclass(slots=True)
class TrainOutcome:
    model: TrainedModel
    path: Path
    reused: bool


def models_dir(project: Path) -> Path:
    return project / "models"


def train_project(
    root: Path,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
    out: Path | None = None,
) -> TrainOutcome:
    """Train (or reuse an up-to-date model) and save it under `models/`."""
    target = out or models_dir(root)
    fingerprint = model_io.fingerprint(root)
    if not force:
        try:
            path = model_io.latest(target)
            if model_io.read_header(path).get("fingerprint") == fingerprint:
                return TrainOutcome(model_io.load(path), path, reused=True)
        except (ModelNotFound, ZhikeError, OSError, ValueError):
            pass
    project = load_project(root, strict=False)
    for warning in project.warnings:
        log.warning("%s", warning)
    trained = model_io.train(project, progress)
    return TrainOutcome(trained, model_io.save(trained, target), reused=False)


def load_or_train(root: Path, progress: Callable[[str], None] | None = None) -> TrainedModel:
    return train_project(root, progress=progress).model


def build_engine(
    root: Path,
    model: TrainedModel,
    project: Project | None = None,
    store_url: str | None = None,
    env: Mapping[str, str] | None = None,
    exclusive: bool = False,
    handoff: Mapping[str, Any] | None = None,
) -> Engine:
    """An engine over the project's stores (endpoints.yml) and custom actions; with the human
    handoff when `handoff` is given (overrides of endpoints.yml's `handoff:` section)."""
    project = project or load_project(root, validate=False)
    endpoints = project.endpoints
    # exclusive: this process alone runs turns on the store (one server worker), so per-
    # conversation locks can live in memory and cached trackers need no re-check
    url = store_url or endpoints.tracker_store or None
    stores = create_stores(url, project_dir=root, shared=not exclusive)
    runner = create_runner(root, endpoints.action_url, endpoints.action_token)
    kb = open_knowledge_base(root, project, env)
    hook = KBResponder(kb) if kb else None
    service = open_handoff(root, project, handoff, kb) if handoff is not None else None
    engine = Engine(
        model,
        stores.trackers,
        stores.locks,
        runner,
        hook,
        exclusive=exclusive,
        handoff=HandoffResponder(service) if service is not None else None,
    )
    engine.parse("你好" if model.language == "zh" else "hello")  # warm up lazy NLU resources
    return engine


def open_knowledge_base(
    root: Path, project: Project, env: Mapping[str, str] | None = None
) -> KnowledgeBase | None:
    """The project's knowledge base, if it has one (`kb/` or an existing store) and it is on."""
    settings = kb_settings(project.endpoints.raw.get("knowledge_base"), env or os.environ)
    db = settings.db if settings.db.is_absolute() else root / settings.db
    if not settings.enabled or not (seed_files(root / settings.source) or db.exists()):
        return None
    return KnowledgeBase.open(root, settings, project.nlu.synonyms)
