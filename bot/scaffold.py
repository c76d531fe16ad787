"""`zhike init`: copy the starter project shipped in `bot/templates/init` into a folder."""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from bot.errors import ZhikeError

_SKIP = {"__pycache__", ".DS_Store"}


def template_root() -> Traversable:
    """The starter project, as package data (works from a wheel or an editable install)."""
    return files("bot") / "templates" / "init"


def create_project(directory: Path) -> None:
    """Copy the starter project into `directory`, creating it (and its parents) if needed.

    Raises `ZhikeError` when `directory` exists and is not an empty folder.
    """
    directory = Path(directory)
    if directory.exists():
        if not directory.is_dir():
            raise ZhikeError(
                f"路径已存在且不是目录：{directory} / path exists and is not a directory: {directory}"
            )
        if any(directory.iterdir()):
            raise ZhikeError(
                f"目录不为空，请换一个新目录或先清空：{directory} / "
                f"directory is not empty, choose a new one or empty it first: {directory}"
            )
    directory.mkdir(parents=True, exist_ok=True)
    _copy_tree(template_root(), directory)


def _copy_tree(source: Traversable, target: Path) -> None:
    """Copy through the `Traversable` API so zipped installs work on Python 3.11 too."""
    for entry in sorted(source.iterdir(), key=lambda e: e.name):
        if entry.name in _SKIP or entry.name.endswith(".pyc"):
            continue
        dest = target / entry.name
        if entry.is_dir():
            dest.mkdir(exist_ok=True)
            _copy_tree(entry, dest)
        else:
            dest.write_bytes(entry.read_bytes())
