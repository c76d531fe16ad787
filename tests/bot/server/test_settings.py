"""Settings from endpoints.yml / credentials.yml and ZHIKE_* variables, validated at start-up."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.server.settings import ApiToken, SettingsError, load_settings


@pytest.fixture
def project(zh_root: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(zh_root, tmp_path / "p"))


def test_defaults(project: Path) -> None:
    s = load_settings(project, env={})
    assert (s.port, s.host, s.workers) == (5005, "127.0.0.1", 1)
    assert s.tracker_store == "sqlite://" and s.models_path == project / "models"
    assert s.channels == ("rest", "webchat") and not s.auth_enabled


def test_rasa_files(project: Path) -> None:
    (project / "endpoints.yml").write_text(
        "tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: data/trackers.db\n", encoding="utf-8"
    )
    (project / "credentials.yml").write_text(
        "rest:\nfacebook:\n  verify: x\nzhike:\n  auth_token: s3cr3t-token\n  port: 6006\n"
        "  cors_origins: [https://shop.example.cn]\n"
        "  api_tokens:\n    - {token: agent-token-1, role: agent}\n",
        encoding="utf-8",
    )
    s = load_settings(project, env={})
    assert s.tracker_store == "sqlite:///data/trackers.db"
    assert s.channels == ("rest",) and s.port == 6006 and s.auth_token == "s3cr3t-token"
    assert s.api_tokens == (ApiToken("agent-token-1", "agent"),)
    assert s.cors_origins == ("https://shop.example.cn",)
    assert any("facebook" in w for w in s.warnings)


def test_environment_beats_files_and_overrides_beat_environment(project: Path) -> None:
    (project / "credentials.yml").write_text("zhike:\n  port: 6006\n", encoding="utf-8")
    env = {
        "ZHIKE_PORT": "7007",
        "ZHIKE_API_TOKENS": "editor-token-1:editor,super-token-1:supervisor",
        "ZHIKE_CHANNELS": "rest",
        "ZHIKE_TRACKER_STORE": "memory://",
        "ZHIKE_MAX_BODY_BYTES": "1024",
    }
    s = load_settings(project, env=env)
    assert s.port == 7007 and s.channels == ("rest",) and s.max_body_bytes == 1024
    assert [t.role for t in s.api_tokens] == ["editor", "supervisor"]
    assert load_settings(project, env=env, overrides={"port": 8008}).port == 8008


def test_every_problem_is_reported_in_both_languages(project: Path) -> None:
    env = {
        "ZHIKE_PORT": "99999",
        "ZHIKE_WORKERS": "2",
        "ZHIKE_TRACKER_STORE": "memory://",
        "ZHIKE_API_TOKENS": "short:root",
        "ZHIKE_CHANNELS": "rest,telegram",
        "ZHIKE_MAX_BODY_BYTES": "lots",
        "ZHIKE_CORS_ORIGINS": "shop.example.cn",
    }
    with pytest.raises(SettingsError) as caught:
        load_settings(project, env=env)
    problems = caught.value.problems
    assert len(problems) == 7, problems
    for fragment in ("端口", "多进程", "角色", "8 个字符", "telegram", "max_body_bytes", "CORS"):
        assert any(fragment in p for p in problems), fragment
    assert all(" / " in p for p in problems)


def test_missing_project_and_model(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(tmp_path / "nowhere", env={}, overrides={"model_file": tmp_path / "x.zhike"})
    assert len(caught.value.problems) == 2


def test_turn_gate_settings(project: Path) -> None:
    s = load_settings(project, env={})
    assert (s.turn_concurrency, s.turn_queue_seconds) == (0, 0.1)  # 0: automatic
    env = {"ZHIKE_TURN_CONCURRENCY": "4", "ZHIKE_TURN_QUEUE_SECONDS": "0.5"}
    s = load_settings(project, env=env)
    assert (s.turn_concurrency, s.turn_queue_seconds) == (4, 0.5)
    with pytest.raises(SettingsError) as caught:
        load_settings(
            project, env={"ZHIKE_TURN_CONCURRENCY": "-1", "ZHIKE_TURN_QUEUE_SECONDS": "-1"}
        )
    problems = caught.value.problems
    assert any("turn_concurrency" in p for p in problems)
    assert any("turn_queue_seconds" in p for p in problems)
