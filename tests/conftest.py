"""Shared fixtures: the fixture projects, loaded and trained once per test session.

Two kinds of trained model per project:
- `en_model` / `zh_model`: the full pipeline from the project's `config.yml`
  (`bot.model.train(load_project(...))`), for tests that send free text;
- `en_payload_model` / `zh_payload_model`: the same project trained with a tokenizer-only
  pipeline. Only `/intent{...}` payloads are understood, so dialogue tests get exact intents
  and entities without depending on the intent classifier.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot import model as model_io
from bot.dialogue.events import UserUttered
from bot.engine import Engine
from bot.messages import InboundMessage, OutboundMessage
from bot.model import TrainedModel
from bot.nlu.types import Entity, IntentScore, ParseResult
from bot.project.loader import Project, load_project

FIXTURES = Path(__file__).parent / "fixtures" / "projects"
EN_ROOT = FIXTURES / "en_restaurant"
ZH_ROOT = FIXTURES / "zh_mini"
_PAYLOAD_ONLY = {"ZhikeNormalizer", "WhitespaceTokenizer", "JiebaTokenizer"}

Say = Callable[..., Awaitable[list[OutboundMessage]]]


def payload_only(project: Project) -> Project:
    """The project with an NLU pipeline that understands payloads only."""
    pipeline = [s for s in project.config.pipeline if s.name in _PAYLOAD_ONLY]
    return dataclasses.replace(
        project, config=dataclasses.replace(project.config, pipeline=pipeline)
    )


@pytest.fixture(scope="session")
def en_root() -> Path:
    return EN_ROOT


@pytest.fixture(scope="session")
def zh_root() -> Path:
    return ZH_ROOT


@pytest.fixture(scope="session")
def en_project() -> Project:
    return load_project(EN_ROOT)


@pytest.fixture(scope="session")
def zh_project() -> Project:
    return load_project(ZH_ROOT)


@pytest.fixture(scope="session")
def en_payload_model(en_project: Project) -> TrainedModel:
    return model_io.train(payload_only(en_project))


@pytest.fixture(scope="session")
def zh_payload_model(zh_project: Project) -> TrainedModel:
    return model_io.train(payload_only(zh_project))


@pytest.fixture(scope="session")
def en_model(en_project: Project) -> TrainedModel:
    return model_io.train(en_project)


@pytest.fixture(scope="session")
def zh_model(zh_project: Project) -> TrainedModel:
    return model_io.train(zh_project)


def user(
    intent: str,
    entities: list[Entity] | None = None,
    text: str | None = None,
    ranking: list[tuple[str, float]] | None = None,
    retrieval: dict[str, str] | None = None,
) -> UserUttered:
    """A hand-made user message, as if the NLU had understood it exactly."""
    scores = [IntentScore(n, c) for n, c in ranking] if ranking else [IntentScore(intent, 1.0)]
    parse = ParseResult(
        text=text if text is not None else f"/{intent}",
        intent=IntentScore(intent, scores[0].confidence if ranking else 1.0),
        ranking=scores,
        entities=list(entities or []),
        retrieval={k: IntentScore(v, 1.0) for k, v in (retrieval or {}).items()},
    )
    return UserUttered(text=parse.text, parse_data=parse, input_channel="test")


def entity(name: str, value: Any, role: str | None = None, group: str | None = None) -> Entity:
    return Entity(name, value, 0, 0, extractor="test", role=role, group=group)


@pytest.fixture
def make_user() -> Callable[..., UserUttered]:
    return user


@pytest.fixture
def make_entity() -> Callable[..., Entity]:
    return entity


async def say_to(
    engine: Engine, text: str, conversation: str = "c1", channel: str = "rest", **kw: Any
) -> list[OutboundMessage]:
    return await engine.handle(
        InboundMessage(channel=channel, conversation_id=conversation, text=text, **kw)
    )


@pytest.fixture
def say() -> Say:
    """`await say(engine, text, conversation="c1")` -> the bot's messages of that turn."""
    return say_to


def texts(messages: list[OutboundMessage]) -> list[str]:
    return [m.text for m in messages if m.text]


@pytest.fixture
def bot_texts() -> Callable[[list[OutboundMessage]], list[str]]:
    return texts


REPO_ROOT = Path(__file__).parents[1]
REFERENCE_FILES = (
    "domain.yml",
    "config.yml",
    "endpoints.yml",
    "nlu_data",
    "stories",
    "kb",
    "actions",
)


@pytest.fixture(scope="session")
def reference_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the reference bot (the repo root project), trained once per session."""
    import shutil

    from bot.runtime import train_project

    root = tmp_path_factory.mktemp("reference") / "bot"
    root.mkdir()
    for name in REFERENCE_FILES:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, root / name)
    train_project(root)
    return root
