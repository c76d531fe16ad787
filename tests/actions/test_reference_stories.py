"""The reference bot's test stories (tests/test_stories.yml) pass end to end, the knowledge
base path included (`action_knowledge_base` steps answered from kb/faq.yml)."""

from __future__ import annotations

import shutil
from pathlib import Path

from bot.project.loader import load_project
from bot.runtime import open_knowledge_base, train_project
from bot.testing.story_replay import StoryReplayer, load_test_stories

ROOT = Path(__file__).parents[2]
COPIED = ("domain.yml", "config.yml", "endpoints.yml", "nlu_data", "stories", "kb", "actions")


def test_reference_bot_test_stories_all_pass(tmp_path: Path) -> None:
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tmp_path / name)
    model = train_project(tmp_path).model
    kb = open_knowledge_base(tmp_path, load_project(tmp_path, validate=False))
    assert kb is not None and len(kb) >= 150
    stories, docs = load_test_stories([ROOT / "tests" / "test_stories.yml"])
    assert not docs.errors
    try:
        report = StoryReplayer(model, kb).run(stories)
    finally:
        kb.close()
    failed = {r.name: [f.to_dict() for f in r.failures] for r in report.results if not r.passed}
    assert failed == {}
    kb_stories = [s for s in stories if "知识库" in s.name]
    assert len(kb_stories) >= 3
