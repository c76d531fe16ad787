"""Handoff benchmark (writes bench/results/handoff.json).

(a) trigger → agent notification over the real server on 127.0.0.1: agents are logged in with
    their console WebSocket open; customers in the web chat type "转人工"; we time from
    sending the message to the agent's socket receiving the handoff (budget p99 ≤ 200 ms),
    then the customer cancels ("不用了") and asks again after a short pause;
(b) queue operations with 1,000 conversations waiting (in-process service, SQLite file):
    opening one more handoff, its position, dispatching to an agent coming online, accept,
    cancel, the once-a-second timeout sweep, and the agent console's list.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import ROOT, percentiles, write_result
from bench.http_bench import client_cpus, env_for

HOST = "127.0.0.1"
AGENTS = [
    {
        "id": f"b{i:03d}",
        "name": f"坐席{i}",
        "password": "bench-pass",
        "groups": ["账单", "套餐", "宽带", "投诉", "专家组", "综合"],
        "max_concurrent": 50,
    }
    for i in range(4)
]
CUSTOMERS, ROUNDS = 20, 15  # 300 handoffs in all


def handoff_overrides(tmp: Path) -> dict[str, Any]:
    return {
        "db": str(tmp / "handoff.db"),
        "hours": "00:00-24:00",
        "groups": ["账单", "宽带", "套餐", "投诉", "专家组", "综合"],
        "agents": AGENTS,
        "triggers": {"kb_clarifications": 0},
    }


# ---------------------------------------------------------------- (a) notification latency
def serve(tmp: str) -> None:
    """Child process: one server worker until stdin closes; prints its URL."""
    from bot.server.app import create_app
    from bot.server.live import LiveServer
    from bot.server.settings import load_settings

    overrides: dict[str, Any] = {
        "tracker_store": f"sqlite:///{tmp}/trackers.db",
        "model_poll_seconds": 0,
        "log_format": "text",
        "log_level": "WARNING",
        "channels": ("rest", "webchat"),
        "channel_config": {"webchat": {"rate_limit_per_minute": 1000}},
        "handoff": handoff_overrides(Path(tmp)),
    }
    settings = load_settings(ROOT, env={}, overrides=overrides)
    with LiveServer(create_app(settings), host=HOST) as server:
        print(server.url, flush=True)
        sys.stdin.read()


@contextmanager
def server(tmp: Path) -> Iterator[str]:
    cmd = [sys.executable, "-m", "bench.handoff_bench", "--serve", str(tmp)]
    if sys.platform.startswith("linux"):
        cmd = ["taskset", "-c", "0", *cmd]
    child = subprocess.Popen(
        cmd, cwd=ROOT, env=env_for(tmp), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        url = child.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError("the server child did not start")
        yield url
    finally:
        if child.stdin:
            child.stdin.close()
        child.wait(60)


class Watch:
    """Agent consoles: the first time each conversation's handoff reaches any of them."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self.waiters: dict[str, asyncio.Future[float]] = {}

    def expect(self, conversation_id: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiters[conversation_id] = future
        return future

    def saw(self, conversation_id: str) -> None:
        future = self.waiters.pop(conversation_id, None)
        if future is not None and not future.done():
            future.set_result(time.perf_counter())

    async def console(
        self, session: aiohttp.ClientSession, url: str, agent: dict[str, Any]
    ) -> None:
        login = {"agent_id": agent["id"], "password": agent["password"]}
        async with session.post(url + "/api/agent/login", json=login) as response:
            token = (await response.json())["token"]
        async with session.ws_connect(url.replace("http", "ws") + "/api/agent/ws") as ws:
            await ws.send_str(json.dumps({"type": "auth", "token": token}))
            async for message in ws:
                frame = json.loads(message.data)
                if frame.get("type") == "handoff" and frame["handoff"]["state"] == "queued":
                    self.saw(frame["handoff"]["conversation_id"])


async def customer(
    session: aiohttp.ClientSession, url: str, watch: Watch, samples: list[float], errors: list[str]
) -> None:
    sid = uuid.uuid4().hex
    conversation = "webchat-" + sid
    rng = random.Random(sid)

    async def say(text: str) -> None:
        async with session.post(
            url + "/webchat/messages", json={"session_id": sid, "text": text}
        ) as r:
            await r.read()

    await say("你好")
    for _ in range(ROUNDS):
        arrived = watch.expect(conversation)
        start = time.perf_counter()
        await say("转人工")
        try:
            samples.append((await asyncio.wait_for(arrived, 10.0) - start) * 1000)
        except TimeoutError:
            errors.append("no notification")
        await say("不用了")
        await asyncio.sleep(rng.uniform(0.2, 0.6))


async def notification_latency(url: str) -> dict[str, Any]:
    watch, samples, errors = Watch(), [], []
    async with aiohttp.ClientSession() as session:
        consoles = [asyncio.create_task(watch.console(session, url, a)) for a in AGENTS]
        await asyncio.sleep(1.0)
        started = time.monotonic()
        await asyncio.gather(
            *(customer(session, url, watch, samples, errors) for _ in range(CUSTOMERS))
        )
        seconds = time.monotonic() - started
        for task in consoles:
            task.cancel()
    return {
        "handoffs": len(samples),
        "seconds": round(seconds, 1),
        "customers": CUSTOMERS,
        "agent_consoles": len(AGENTS),
        "latency_ms": percentiles(samples),
        "errors": len(errors),
        "budget_p99_ms": 200,
    }


# ---------------------------------------------------------------- (b) queue operations
async def queue_operations(tmp: Path, waiting: int = 1000) -> dict[str, Any]:
    from bot.dialogue.events import ActionExecuted, UserUttered
    from bot.dialogue.events import Handoff as HandoffEvent
    from bot.dialogue.tracker import Tracker
    from bot.handoff import machine
    from bot.handoff.config import handoff_settings
    from bot.handoff.service import HandoffService
    from bot.handoff.store import HandoffStore
    from bot.handoff.timers import Sweeper
    from bot.handoff.types import AgentPresence, Handoff, State
    from bot.nlu.types import IntentScore, ParseResult

    settings = handoff_settings(
        {**handoff_overrides(tmp), "db": str(tmp / "queue.db"), "agents": AGENTS[:2]}
    )
    store = HandoffStore(tmp / "queue.db")
    service = HandoffService(settings, store)
    recorded: list[Any] = []

    async def inject(conversation_id: str, events: list[Any]) -> list[Any]:
        recorded.append(events)
        return []

    service.inject = inject
    context = {
        "summary": {
            "text": "客户先后咨询了：查话费 → 办套餐；机器人未能回答：“为什么多扣了二十块”。" * 2,
            "unanswered": "为什么多扣了二十块",
        },
        "transcript": [{"role": "user", "text": "你好" * 20, "timestamp": 0.0}] * 20,
    }
    now = time.time()
    groups = ["账单", "套餐", "宽带", "综合"]
    for i in range(waiting):
        h = Handoff(
            uuid.uuid4().hex[:16],
            f"c{i}",
            "webchat",
            f"c{i}",
            f"webchat:c{i}",
            "fallback",
            groups[i % 4],
            State.QUEUED,
            priority=(i % 7 == 0) * 20,
            context=context,
        )
        await store.create(machine.start(h, "enqueue", now - waiting + i))
    await store.save_presence(AgentPresence(AGENTS[0]["id"], online=True, idle_since=now))
    # the only online agent is at capacity, so new conversations queue behind the 1,000
    for i in range(int(AGENTS[0]["max_concurrent"])):
        busy = Handoff(
            f"busy{i}", f"busy{i}", "webchat", "b", "webchat:b", "fallback", "账单", State.QUEUED
        )
        busy = await store.create(machine.start(busy, "enqueue", now))
        await store.update(machine.apply(busy, "pick", now, AGENTS[0]["id"]))
    timings: dict[str, list[float]] = {
        k: [] for k in ("open", "position", "dispatch_accept", "cancel", "sweep", "console_list")
    }

    async def timed(name: str, coro: Any) -> Any:
        start = time.perf_counter()
        result = await coro
        timings[name].append((time.perf_counter() - start) * 1000)
        return result

    for i in range(30):
        conv = f"new{i}"
        tracker = Tracker(conv, {})
        tracker.extend(
            [
                ActionExecuted(name="action_listen"),
                UserUttered(
                    text="我的账单为什么多扣钱了",
                    parse_data=ParseResult(
                        text="我的账单为什么多扣钱了", intent=IntentScore("query_bill", 0.4)
                    ),
                ),
            ]
        )
        await timed("open", service.open(tracker, HandoffEvent(reason="fallback"), "webchat"))
        h = await store.active_for(conv)
        assert h is not None and h.state == State.QUEUED
        await timed("position", service.position(h))
        await timed("cancel", service.cancel(conv))
    agent = service.agents.get(AGENTS[1]["id"])
    assert agent is not None
    await store.save_presence(AgentPresence(agent.agent_id, online=True, idle_since=now - 100))
    for _ in range(20):
        start = time.perf_counter()
        await service.dispatch()
        mine = await store.find(states=[State.ASSIGNED], agent_id=agent.agent_id, limit=1)
        await service.accept(agent, mine[0].handoff_id)
        await service.end(agent, mine[0].handoff_id)
        timings["dispatch_accept"].append((time.perf_counter() - start) * 1000)
    sweeper = Sweeper(service)
    for _ in range(10):
        await timed("sweep", sweeper.sweep())
        await timed("console_list", store.active())
    await service.close()
    return {
        "waiting": waiting,
        "ms": {k: percentiles(v) for k, v in timings.items()},
    }


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="zhike-handoff-bench-") as name:
        tmp = Path(name)
        with server(tmp) as url:
            client_cpus()
            notify = asyncio.run(notification_latency(url))
        queue = asyncio.run(queue_operations(tmp))
    return {"notification": notify, "queue_1000": queue}


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--serve":
        serve(sys.argv[2])
    else:
        print(write_result("handoff", run()))
