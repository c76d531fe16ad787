"""HTTP / WebSocket benchmark of the real server on 127.0.0.1 (bounded in count and time).

(a) realistic load: 200 concurrent conversations, each sending its next turn 1–3 s after
    the previous reply, for ~30 s, over REST (`POST /webhooks/rest/webhook`) and separately
    over the web chat WebSocket (`/webchat/ws`): turn latency p50 / p95 / p99 (budget: p99
    ≤ 30 ms on one worker);
(b) saturation: 50 closed-loop REST clients without think time for ~15 s: turns/s with one
    worker and with `zhike run --workers 2`.

The one-worker server is a `LiveServer` in a child process (pinned to CPU 0, the client to
the other CPUs) so the load generator does not share its interpreter. The two-worker server
is `zhike run --workers 2`, stopped by its own PID with SIGTERM. Writes bench/results/http.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import ROOT, percentiles, write_result

HOST = "127.0.0.1"
CONVERSATIONS, LOAD_SECONDS, THINK = 200, 30.0, (1.0, 3.0)
CLIENTS, SATURATION_SECONDS = 50, 15.0
TURN_TIMEOUT = 30.0
# Conversation scripts of the reference bot (telecom customer service); each conversation
# plays scripts picked at random, one after the other.
SCRIPTS: tuple[tuple[str, ...], ...] = (
    ("你好", "我想查一下话费", "13812345678", "谢谢", "再见"),
    ("帮我查下流量", "13912345678", "好的谢谢"),
    ("上个月账单多少", "13812345678", "发票怎么开", "谢谢"),
    ("我要充值", "13812345678", "50块", "是的", "谢谢"),
    ("有哪些套餐", "我要换套餐", "5G畅享套餐", "是的", "再见"),
    ("宽带坏了帮我报修", "13812345678", "不办了"),
    ("我要去日本，开通国际漫游", "13812345678", "是的", "谢谢"),
    ("你是机器人吗", "我要投诉", "转人工"),
    ("查化费", "幺三八幺二三四五六七八", "谢谢"),
    ("天气怎么样", "有哪些套餐", "再见"),
)
Turn = Callable[[str], Awaitable[None]]


@dataclass(slots=True)
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def summary(self, seconds: float) -> dict[str, Any]:
        turns = len(self.latencies_ms)
        return {
            "turns": turns,
            "seconds": round(seconds, 1),
            "turns_per_second": round(turns / seconds, 1) if seconds else 0.0,
            "latency_ms": percentiles(self.latencies_ms),
            "errors": self.errors,
        }


def messages(rng: random.Random) -> Iterator[str]:
    while True:
        yield from rng.choice(SCRIPTS)


# ---------------------------------------------------------------- clients
async def timed(tally: Tally, turn: Turn, text: str) -> None:
    start = time.perf_counter()
    try:
        await asyncio.wait_for(turn(text), TURN_TIMEOUT)
    except (TimeoutError, aiohttp.ClientError, RuntimeError) as exc:
        tally.error(type(exc).__name__)
        return
    tally.latencies_ms.append((time.perf_counter() - start) * 1000)


def rest_turn(session: aiohttp.ClientSession, url: str, sender: str) -> Turn:
    async def turn(text: str) -> None:
        body = {"sender": sender, "message": text}
        async with session.post(url + "/webhooks/rest/webhook", json=body) as response:
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}")
            await response.read()

    return turn


async def ws_turn(ws: aiohttp.ClientWebSocketResponse) -> Turn:
    first = await ws.receive_json(timeout=TURN_TIMEOUT)
    if first.get("type") != "session":
        raise RuntimeError(f"unexpected first frame {first}")

    async def turn(text: str) -> None:
        await ws.send_json({"type": "message", "text": text})
        while True:
            frame = await ws.receive_json()
            if frame.get("type") == "bot":
                if frame.get("code"):
                    raise RuntimeError(str(frame["code"]))
                return
            if frame.get("type") == "error":
                raise RuntimeError(str(frame.get("code")))

    return turn


async def converse(tally: Tally, turn: Turn, deadline: float, seed: int, think: bool) -> None:
    rng = random.Random(seed)
    if think:
        await asyncio.sleep(rng.uniform(0.0, THINK[1]))  # staggered arrivals
    for text in messages(rng):
        if time.monotonic() >= deadline:
            return
        await timed(tally, turn, text)
        if think:
            await asyncio.sleep(rng.uniform(*THINK))


def session_id() -> str:
    return uuid.uuid4().hex


async def drive(url: str, transport: str, users: int, seconds: float, think: bool) -> Tally:
    tally = Tally()
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def user(i: int) -> None:
            sid = session_id()
            if transport == "rest":
                await converse(tally, rest_turn(session, url, f"bench-{sid}"), deadline, i, think)
                return
            ws_url = url.replace("http", "ws", 1) + f"/webchat/ws?session_id={sid}"
            try:
                async with session.ws_connect(ws_url, heartbeat=None) as ws:
                    await converse(tally, await ws_turn(ws), deadline, i, think)
            except (TimeoutError, aiohttp.ClientError, RuntimeError) as exc:
                tally.error(f"connect:{type(exc).__name__}")

        await asyncio.gather(*(user(i) for i in range(users)))
    return tally


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of process `pid` so far (Linux /proc), or None."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    url: str, transport: str, users: int, seconds: float, think: bool, pid: int | None = None
) -> dict[str, Any]:
    """One load phase; with the server's `pid`, also its CPU time per turn (which, unlike
    wall-clock latency, hardly depends on what else runs on the machine)."""
    cpu_before, start = cpu_seconds(pid), time.monotonic()
    tally = asyncio.run(drive(url, transport, users, seconds, think))
    out = tally.summary(time.monotonic() - start)
    cpu_after = cpu_seconds(pid)
    if cpu_before is not None and cpu_after is not None and tally.latencies_ms:
        per_turn = (cpu_after - cpu_before) / len(tally.latencies_ms)
        out["server_cpu_ms_per_turn"] = round(per_turn * 1000, 2)
    out["load_average"] = round(os.getloadavg()[0], 2)
    return out


# ---------------------------------------------------------------- servers
def serve_live(store_url: str) -> None:
    """Child process: one LiveServer worker until stdin closes; prints its URL."""
    from bot.server.app import create_app
    from bot.server.live import LiveServer
    from bot.server.settings import load_settings

    overrides: dict[str, Any] = {
        "tracker_store": store_url,
        "model_poll_seconds": 0,
        "log_format": "text",
        "log_level": "WARNING",
        "channels": ("rest", "webchat"),
        # 1–3 s think time is faster than the default 30 messages/min/session limit
        "channel_config": {"webchat": {"rate_limit_per_minute": 1000}},
        "handoff": {"db": str(Path(store_url.removeprefix("sqlite:///")).with_name("handoff.db"))},
    }
    settings = load_settings(ROOT, env={}, overrides=overrides)
    with LiveServer(create_app(settings), host=HOST) as server:
        print(server.url, flush=True)
        sys.stdin.read()


def env_for(tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "ZHIKE_DEMO_DB": str(tmp / "demo.db"),
        "ZHIKE_LOG_LEVEL": "WARNING",
        "ZHIKE_MODEL_POLL_SECONDS": "0",
        "ZHIKE_CHANNELS": "rest,webchat",
    }


def client_cpus() -> None:
    """The client runs on the CPUs the one-worker server (CPU 0) does not use."""
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, set(cpus[1:] or cpus))


@dataclass(frozen=True, slots=True)
class Live:
    url: str
    pid: int


@contextmanager
def live_server(tmp: Path) -> Iterator[Live]:
    cmd = [sys.executable, "-m", "bench.http_bench", "--serve", f"sqlite:///{tmp}/live.db"]
    if sys.platform.startswith("linux"):
        cmd = ["taskset", "-c", "0", *cmd]
    child = subprocess.Popen(
        cmd, cwd=ROOT, env=env_for(tmp), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        url = child.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError("the LiveServer child did not start")
        yield Live(url, child.pid)
    finally:
        if child.stdin:
            child.stdin.close()
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGTERM)
            child.wait(10)


async def wait_ready(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url + "/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not become ready")


@contextmanager
def zhike_run(tmp: Path, workers: int) -> Iterator[str]:
    from bot.server.live import free_port

    port = free_port(HOST)
    zhike = str(Path(sys.executable).parent / "zhike")
    cmd = [zhike, "run", "--project", str(ROOT), "--host", HOST, "--port", str(port)]
    cmd += ["--workers", str(workers), "--store", f"sqlite:///{tmp}/workers.db"]
    child = subprocess.Popen(cmd, cwd=ROOT, env=env_for(tmp), stdout=subprocess.DEVNULL)
    url = f"http://{HOST}:{port}"
    try:
        asyncio.run(wait_ready(url, 60.0))
        yield url
    finally:
        child.send_signal(signal.SIGTERM)  # its own PID only
        try:
            child.wait(40)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(10)


# ---------------------------------------------------------------- run
PHASES = ("rest", "ws", "sat1", "sat2")


def run(phases: tuple[str, ...] = PHASES, scale: float = 1.0) -> dict[str, Any]:
    """The benchmark; `phases` and `scale` (of every phase's duration) serve shorter runs
    while working on the server, the defaults are what `make bench` reports."""
    from bot.runtime import train_project

    train_project(ROOT)  # reuses an up-to-date model under models/
    out: dict[str, Any] = {
        "conversations": CONVERSATIONS,
        "think_seconds": list(THINK),
        "clients": CLIENTS,
    }
    load, saturation = LOAD_SECONDS * scale, SATURATION_SECONDS * scale
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        if {"rest", "ws", "sat1"} & set(phases):
            with live_server(tmp) as live:
                client_cpus()
                url, pid = live.url, live.pid
                measure(url, "rest", 20, 3.0, think=False)  # warm-up, not reported
                if "rest" in phases:
                    out["rest"] = measure(url, "rest", CONVERSATIONS, load, True, pid)
                if "ws" in phases:
                    out["websocket"] = measure(url, "ws", CONVERSATIONS, load, True, pid)
                if "sat1" in phases:
                    out["saturation_1_worker"] = measure(
                        url, "rest", CLIENTS, saturation, False, pid
                    )
        if "sat2" in phases:
            if hasattr(os, "sched_setaffinity"):  # before the spawn: the workers inherit it
                os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
            with zhike_run(tmp, 2) as url:
                measure(url, "rest", 20, 3.0, think=False)
                out["saturation_2_workers"] = measure(url, "rest", CLIENTS, saturation, False)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", metavar="STORE_URL", help=argparse.SUPPRESS)
    parser.add_argument(
        "--only",
        default=",".join(PHASES),
        help=f"comma-separated phases among {','.join(PHASES)}; a partial run prints its "
        "result instead of writing bench/results/http.json",
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply every phase's duration (e.g. 0.5)"
    )
    args = parser.parse_args(argv)
    if args.serve:
        serve_live(args.serve)
        return
    phases = tuple(p for p in args.only.split(",") if p)
    unknown = set(phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phase(s): {', '.join(sorted(unknown))}")
    result = run(phases, args.scale)
    if set(phases) == set(PHASES) and args.scale == 1.0:
        print(write_result("http", result))
    else:
        print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
