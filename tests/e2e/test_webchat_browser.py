"""Browser end-to-end: the demo page and an embedded widget in headless Debian chromium.

The reference telecom bot at the repository root runs behind a real uvicorn server; a node
script (playwright-core, `tests/e2e/package.json`) drives chromium and prints a JSON result.
Screenshots go to `tests/e2e/artifacts/` (git-ignored).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from bot.runtime import build_engine, train_project
from bot.server.holder import EngineHolder
from channels.webchat import WebChatChannel

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CHROMIUM = Path("/usr/bin/chromium")
PLAYWRIGHT = HERE / "node_modules" / "playwright-core"
ARTIFACTS = HERE / "artifacts"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian chromium not installed (apt-get install chromium)"
    ),
    pytest.mark.skipif(shutil.which("node") is None, reason="node not installed"),
    pytest.mark.skipif(
        not PLAYWRIGHT.exists(), reason="playwright-core missing: run `npm ci` in tests/e2e"
    ),
]


class ThreadedServer:
    """uvicorn on 127.0.0.1 (a free port) in a background thread with its own event loop."""

    def __init__(self, app: FastAPI) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.base = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.run(self.server.serve(sockets=[self.sock]))

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.server.started, "uvicorn did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def embed_page(request: Request) -> HTMLResponse:
    """A third-party page on another origin (localhost) that embeds the widget from 127.0.0.1."""
    server = f"http://127.0.0.1:{request.url.port}"
    return HTMLResponse(
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>某商城</title></head>'
        '<body style="font-family:sans-serif;background:#fafafa"><h1 style="margin:40px">某商城首页</h1>'
        f'<script src="{server}/static/webchat.js" data-server="{server}" data-title="在线客服" '
        'data-bot-name="小知" data-welcome="您好，请问有什么可以帮您？"></script></body></html>'
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ZHIKE_DEMO_DB", str(tmp_path_factory.mktemp("demo") / "demo.db"))
        model = train_project(ROOT).model
        engine = build_engine(ROOT, model, store_url="memory://")
        channel = WebChatChannel(EngineHolder(engine))
        app = FastAPI()
        app.include_router(channel.router())
        app.mount("/static", StaticFiles(directory=ROOT / "bot" / "server" / "static"))
        app.add_api_route("/", lambda: RedirectResponse("/static/index.html"))
        app.add_api_route("/embed-test", embed_page)
        with ThreadedServer(app) as running:
            yield running.base


@pytest.fixture(scope="module")
def result(server: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    ARTIFACTS.mkdir(exist_ok=True)
    profile = tmp_path_factory.mktemp("chromium-profile")
    script = HERE / "webchat_flow.mjs"
    run = subprocess.run(
        ["node", str(script), server, str(ARTIFACTS), str(profile)],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no JSON from the browser script:\n{run.stdout}\n{run.stderr}"
    outcome: dict[str, Any] = json.loads(lines[-1])
    assert outcome["ok"], f"{outcome.get('error')}\nchecks: {outcome['checks']}"
    return outcome


def test_balance_flow_in_the_demo_page(result: dict[str, Any]) -> None:
    checks = result["checks"]
    assert checks["welcome"] == 1
    assert checks["logRole"] == 1
    assert checks["inputFocused"] == "zk-input"
    assert checks["askedPhone"] and checks["balance"]
    assert checks["quickReplies"] == ["充50元", "充100元", "充200元"]


def test_quick_reply_is_answered_and_cleared(result: dict[str, Any]) -> None:
    assert result["checks"]["quickReplyAnswered"]
    assert result["checks"]["quickRepliesAfterClick"] == 0


def test_reload_continues_the_conversation_with_history(result: dict[str, Any]) -> None:
    checks = result["checks"]
    assert checks["sameSession"]
    assert checks["historyUser"] == ["我说：我想查一下话费", "我说：15012345678", "我说：充50元"]
    assert checks["historyHasBalance"] == 1
    assert checks["pageErrors"] == []


def test_embedded_widget_works_with_the_keyboard(result: dict[str, Any]) -> None:
    checks = result["checks"]
    assert checks["launcherLabel"] == "打开在线客服"
    assert checks["embedExpanded"] == "true"
    assert checks["embedFocus"] == "zk-input"
    assert "您好" in checks["embedReply"] or "小知" in checks["embedReply"]
    assert checks["embedClosed"]
    assert "launcher" in checks["embedFocusBack"]
    assert checks["embedProblems"] == []


def test_rest_fallback_and_reconnect(result: dict[str, Any]) -> None:
    checks = result["checks"]
    assert checks["restHistory"]
    assert "重新连接" in checks["bannerShown"]
    assert checks["restReply"]
    assert checks["reconnected"]


def test_screenshots_saved(result: dict[str, Any]) -> None:
    names = {Path(p).name for p in result["screenshots"]}
    assert {"webchat-desktop.png", "webchat-mobile.png", "webchat-embedded.png"} <= names
    assert all(Path(p).stat().st_size > 10_000 for p in result["screenshots"])
