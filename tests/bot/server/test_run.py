"""`zhike run` as a real process: two workers sharing the SQLite store, graceful shutdown."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bot.server.live import free_port

REQUESTS = 24


def start(project: Path, port: int, tmp: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp / "metrics"), "ZHIKE_CHANNELS": "rest"}
    (tmp / "metrics").mkdir(exist_ok=True)
    command = [sys.executable, "-m", "bot.cli", "run", "--project", str(project)]
    return subprocess.Popen(
        [*command, "--port", str(port), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_ready(url: str, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("server did not become ready")


async def hammer(url: str) -> list[int]:
    """Many turns of ONE conversation at once, spread over the workers."""
    limits = httpx.Limits(max_keepalive_connections=0)  # new connection each: both workers serve
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        calls = [
            client.post(
                "/webhooks/rest/webhook",
                json={"sender": "shared", "message": "你好", "metadata": {"n": i}},
            )
            for i in range(REQUESTS)
        ]
        return [r.status_code for r in await asyncio.gather(*calls)]


def test_two_workers_never_interleave_one_conversation(
    server_project: Path, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start(
        server_project, port, tmp_path, "--workers", "2", "--store", "sqlite:///.zhike/w.db"
    )
    try:
        wait_ready(url, process)
        assert asyncio.run(hammer(url)) == [200] * REQUESTS
        events = httpx.get(url + "/conversations/shared/tracker").json()["events"]
        kinds = [e["event"] for e in events if e["event"] in ("user", "bot")]
        # every turn is whole: a user message, then its greeting, never two users in a row
        assert kinds == ["user", "bot"] * REQUESTS
        assert sorted(e["metadata"]["n"] for e in events if e["event"] == "user") == list(
            range(REQUESTS)
        )
        metrics = httpx.get(url + "/metrics").text  # aggregated over both workers
        assert f'zhike_turns_total{{channel="rest"}} {float(REQUESTS)}' in metrics
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr[-2000:]
    closed = [json.loads(line) for line in stderr.splitlines() if '"stores closed"' in line]
    assert len(closed) == 2  # each worker closed its stores


def test_invalid_settings_stop_the_start(server_project: Path, tmp_path: Path) -> None:
    process = start(server_project, free_port(), tmp_path, "--workers", "2", "--store", "memory://")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "多进程模式" in stderr and "--workers > 1" in stderr
