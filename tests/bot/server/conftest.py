"""A trained copy of the zh_mini fixture project and real servers over it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot import model as model_io
from bot.model import TrainedModel
from bot.server.app import create_app
from bot.server.live import LiveServer
from bot.server.settings import Settings, load_settings

ADMIN = "admin-secret-token"
EDITOR = "editor-token-123"
AGENT = "agent-token-1234"
SUPERVISOR = "supervisor-token-1"


def trained_copy(source: Path, model: TrainedModel, target: Path) -> Path:
    """Copy a fixture project and save its (already trained) model under `models/`."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("models", ".zhike"))
    model_io.save(model, target / "models")
    return target


def settings_for(project: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "tracker_store": "sqlite://",
        "model_poll_seconds": 0,
        "log_format": "text",
        "channels": ("rest",),
    }
    base.update(overrides)
    return load_settings(project, env={}, overrides=base)


@pytest.fixture(scope="session")
def server_project(
    zh_root: Path, zh_model: TrainedModel, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    return trained_copy(zh_root, zh_model, tmp_path_factory.mktemp("server") / "zh_mini")


def clone(project: Path, target: Path) -> Path:
    """A copy of a trained project (its models, not its stores)."""
    shutil.copytree(project, target, ignore=shutil.ignore_patterns(".zhike"))
    return target


@pytest.fixture(scope="session")
def secured_server(
    server_project: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One real server with an admin token and role tokens, shared by the read-mostly tests."""
    project = clone(server_project, tmp_path_factory.mktemp("secured") / "zh_mini")
    (project / "credentials.yml").write_text(
        "rest:\n"
        "wechat: {token: wechat-token, app_id: wx0000000000000000, app_secret: s3cret,"
        " api_base_url: 'http://127.0.0.1:9'}\n"
        "zhike:\n  api_tokens:\n"
        f"    - {{token: {EDITOR}, role: editor}}\n"
        f"    - {{token: {AGENT}, role: agent}}\n"
        f"    - {{token: {SUPERVISOR}, role: supervisor}}\n",
        encoding="utf-8",
    )
    settings = settings_for(project, auth_token=ADMIN, channels=None, max_body_bytes=65536)
    with LiveServer(create_app(settings)) as server:
        yield server


@pytest.fixture(scope="session")
def tokens() -> dict[str, str]:
    return {"admin": ADMIN, "editor": EDITOR, "agent": AGENT, "supervisor": SUPERVISOR}


@pytest.fixture
def admin(secured_server: LiveServer) -> Iterator[httpx.Client]:
    """A client for the secured server that sends the admin token."""
    headers = {"Authorization": f"Bearer {ADMIN}"}
    with httpx.Client(base_url=secured_server.url, headers=headers, timeout=30) as client:
        yield client
