"""Fixtures for the reference bot's custom actions: a fresh demo DB per test."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
REPO_ROOT = Path(__file__).resolve().parents[2]
for _path in (REPO_ROOT, Path(__file__).resolve().parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))


def _forget_foreign_actions() -> None:
    """Other tests import fixture projects' `actions` packages; make ours the one imported."""
    ours = str(REPO_ROOT / "actions")
    for name in [m for m in sys.modules if m == "actions" or m.startswith("actions.")]:
        if not str(getattr(sys.modules[name], "__file__", "") or "").startswith(ours):
            del sys.modules[name]


_forget_foreign_actions()


@pytest.fixture(autouse=True)
def _our_actions_package() -> None:
    _forget_foreign_actions()


@pytest.fixture(scope="session")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo DB created once from the seed; each test gets its own copy."""
    path = tmp_path_factory.mktemp("seed") / "demo.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ZHIKE_DEMO_DB", str(path))
        _forget_foreign_actions()
        from actions import demo_db

        demo_db.list_plans()
    return path


@pytest.fixture(autouse=True)
def demo_db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh (not yet created) database path for this test."""
    path = tmp_path / "demo.db"
    monkeypatch.setenv("ZHIKE_DEMO_DB", str(path))
    yield path


@pytest.fixture
def seeded(seeded_db: Path, demo_db_path: Path) -> Path:
    """This test's database, copied from the session's seeded one (fast)."""
    shutil.copyfile(seeded_db, demo_db_path)
    return demo_db_path


@pytest.fixture(scope="session")
def domain() -> dict[str, Any]:
    with (REPO_ROOT / "domain.yml").open(encoding="utf-8") as fh:
        loaded: dict[str, Any] = yaml.load(fh, Loader=LOADER)
    return loaded
