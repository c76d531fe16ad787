"""Wiring a project into a running engine: model (loaded or trained), stores, actions."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot import model as model_io
from bot.engine import Engine, create_runner
from bot.errors import ModelNotFound, ZhikeError
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
    root: Path, model: TrainedModel, project: Project | None = None, store_url: str | None = None
) -> Engine:
    """An engine over the project's stores (endpoints.yml) and custom actions."""
    project = project or load_project(root, validate=False)
    endpoints = project.endpoints
    stores = create_stores(store_url or endpoints.tracker_store or None, project_dir=root)
    runner = create_runner(root, endpoints.action_url, endpoints.action_token)
    engine = Engine(model, stores.trackers, stores.locks, runner)
    engine.parse("你好" if model.language == "zh" else "hello")  # warm up lazy NLU resources
    return engine
