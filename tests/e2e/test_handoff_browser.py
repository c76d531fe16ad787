"""Browser end-to-end: a customer on the demo web chat and an agent on /agent, in chromium.

The real server (`create_app` + `LiveServer`) runs the reference telecom bot at the repository
root with its own tracker and handoff databases in a temporary folder, working hours around
the clock and known agents. `handoff_flow.mjs` drives three pages (customer, agent,
supervisor) and prints a JSON result; screenshots go to `tests/e2e/artifacts/` (git-ignored).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.server.app import create_app
from bot.server.live import LiveServer
from bot.server.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
AGENT = {"id": "e2e01", "name": "王芳", "password": "e2e-agent-pw"}
SUPERVISOR = {"id": "e2e90", "name": "张主管", "password": "e2e-super-pw"}
GROUPS = ["账单", "宽带", "套餐", "投诉", "专家组", "综合"]
HANDOFF: dict[str, Any] = {
    "hours": "00:00-24:00",
    "timeouts": {"accept": 120, "queue": 600, "agent_lost": 60},
    "agents": [
        {**AGENT, "groups": GROUPS, "max_concurrent": 3},
        {**SUPERVISOR, "role": "supervisor", "groups": ["专家组"], "pii": True},
    ],
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("handoff-e2e")
    overrides = {
        "models_dir": tmp / "models",
        "tracker_store": f"sqlite:///{tmp / 'trackers.db'}",
        "channels": ("rest", "webchat"),
        "model_poll_seconds": 0,
        "log_level": "WARNING",
        "log_format": "text",
        "handoff": {**HANDOFF, "db": str(tmp / "handoff.db")},
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ZHIKE_DEMO_DB", str(tmp / "demo.db"))
        settings = load_settings(ROOT, env={}, overrides=overrides)
        with LiveServer(create_app(settings)) as live:
            yield live.url


@pytest.fixture(scope="module")
def result(server: str, browser_script: Any) -> dict[str, Any]:
    outcome: dict[str, Any] = browser_script(
        "handoff_flow.mjs",
        server,
        AGENT["id"],
        AGENT["password"],
        SUPERVISOR["id"],
        SUPERVISOR["password"],
    )
    return outcome


def test_login_rejects_a_wrong_password_politely(result: dict[str, Any]) -> None:
    checks = result["checks"]
    assert "密码" in checks["badLogin"]
    assert checks["connected"]


def test_agent_gets_the_conversation_with_its_context(result: dict[str, Any]) -> None:
    checks = result["checks"]
    assert checks["customerQueued"]
    assert checks["offeredState"] in ("assigned", "queued")
    assert checks["itemSummary"]
    assert any("话费" in line for line in checks["transcriptUser"])
    assert checks["summaryText"]
    assert checks["profileText"]
    assert "客户主动" in checks["reasonText"]


def test_messages_go_both_ways(result: dict[str, Any]) -> None:
    checks = result["checks"]
    assert "王芳" in checks["greeting"]
    assert checks["agentToCustomer"]
    assert checks["customerToAgent"]
    assert checks["kbInserted"]
    assert checks["kbDelivered"]


def test_end_rate_and_the_bot_takes_over(result: dict[str, Any]) -> None:
    checks = result["checks"]
    assert checks["ratingShown"]
    assert checks["rated"]
    assert "结束" in checks["closing"]
    assert checks["surveyChoices"][0].startswith("5")
    assert len(checks["surveyChoices"]) == 5
    assert "感谢" in checks["thanks"]
    assert checks["botAgain"]


def test_a_link_with_the_handoff_id_opens_its_context(result: dict[str, Any]) -> None:
    checks = result["checks"]
    assert any("话费" in line for line in checks["linkTranscript"])
    assert checks["linkSummary"]


def test_console_reconnects_and_handles_an_expired_session(result: dict[str, Any]) -> None:
    checks = result["checks"]
    assert checks["reconnected"]
    assert checks["loginShownAgain"]
    assert "登录" in checks["expiredMessage"]


def test_supervisor_monitor(result: dict[str, Any]) -> None:
    today = result["checks"]["monitorToday"]
    assert int(today["今日进线"]) >= 1
    assert int(today["已接通"]) >= 1
    assert today["30秒接通率"].endswith("%")
    assert result["checks"]["monitorAgents"] >= 2


def test_no_page_errors_and_screenshots(result: dict[str, Any]) -> None:
    assert result["checks"]["pageErrors"] == []
    names = {Path(p).name for p in result["screenshots"]}
    expected = {
        "handoff-agent-login.png",
        "handoff-agent-offered.png",
        "handoff-agent-chat.png",
        "handoff-customer-chat.png",
        "handoff-agent-rating.png",
        "handoff-customer-survey.png",
        "handoff-customer-after.png",
        "handoff-agent-monitor.png",
        "handoff-agent-mobile.png",
    }
    assert expected <= names
    assert all(Path(p).stat().st_size > 10_000 for p in result["screenshots"])
