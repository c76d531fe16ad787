"""Exceptions raised by Zhike. Every message is bilingual: Chinese first, then English."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Location:
    """Where something came from: a file and a 1-based line (0 when unknown)."""

    file: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


class ZhikeError(Exception):
    """Base class of every error Zhike raises on purpose."""


class ProjectError(ZhikeError):
    """A project file is malformed or inconsistent."""

    def __init__(self, zh: str, en: str, location: Location | None = None) -> None:
        self.zh, self.en, self.location = zh, en, location
        where = f"{location}: " if location else ""
        super().__init__(f"{where}{zh} / {en}")


class ProjectErrors(ZhikeError):
    """Several project problems found in one pass, reported together."""

    def __init__(self, errors: list[ProjectError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class ModelNotFound(ZhikeError):
    """No trained model exists where one was expected."""


class ActionError(ZhikeError):
    """A custom action failed, timed out or could not be reached."""
