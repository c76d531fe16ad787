"""Reference-bot benchmark: training, model load, resident memory, in-process turn latency,
and what the generalising memoization buys on paths no story shows.

The serving half runs in a fresh child process that only loads the model (as a worker
does), so its memory figure is a worker's, not the trainer's. Writes bench/results/bot.json.
Budgets: train ≤ 10 s; load ≤ 2 s; worker RSS ≤ 300 MB; in-process text turn p99 ≤ 10 ms.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, peak_rss_mb, percentiles, pin_one_core, rss_mb, write_result

MESSAGES = [
    "你好",
    "我想查一下话费",
    "13812345678",
    "帮我查下流量",
    "上个月账单多少",
    "我要充值",
    "50块",
    "有哪些套餐",
    "我要换套餐",
    "5G畅享套餐",
    "是的",
    "谢谢",
    "宽带坏了帮我报修",
    "不办了",
    "我要去日本，开通国际漫游",
    "发票怎么开",
    "转人工",
    "你是机器人吗",
    "再见",
    "查化费",
    "幺三八幺二三四五六七八",
    "😀😀",
    "",
    "x" * 5000,
    "天气怎么样",
    "我要投诉",
]


async def _turns(engine: Any, conversations: int, rounds: int) -> list[float]:
    from bot.messages import InboundMessage

    rng = random.Random(7)
    latencies: list[float] = []
    for r in range(rounds):
        for c in range(conversations):
            message = InboundMessage("bench", f"c{c}", text=rng.choice(MESSAGES), sender_id=f"c{c}")
            t = time.perf_counter()
            await engine.handle(message)
            if r:  # the first round starts sessions; steady state is what we budget
                latencies.append((time.perf_counter() - t) * 1000)
    return latencies


def serve(model_path: Path) -> dict[str, Any]:
    """Child process: load the model like a worker, run turns, report latency and memory."""
    from bot import model as model_io
    from bot.engine import Engine, create_runner

    pin_one_core()
    t = time.perf_counter()
    model = model_io.load(model_path)
    load_seconds = time.perf_counter() - t
    engine = Engine(model, runner=create_runner(ROOT, None))
    engine.parse("你好")
    latencies = asyncio.run(_turns(engine, conversations=50, rounds=8))
    return {
        "model_load_seconds": round(load_seconds, 3),
        "turns": len(latencies),
        "turn_latency_ms": percentiles(latencies),
        "rss_mb": rss_mb(),
        "peak_rss_mb": peak_rss_mb(),
    }


def _unseen_paths(model: Any) -> dict[str, Any]:
    """Each test story played after another one: with and without augmented memoization."""
    from bot.project.loader import load_project
    from bot.project.stories import StoryBlock
    from bot.runtime import open_knowledge_base
    from bot.testing.story_replay import StoryReplayer, find_test_story_files, load_test_stories

    stories, _ = load_test_stories(find_test_story_files(ROOT))
    chained = [
        StoryBlock(f"{a.name} + {b.name}", [*a.steps, *b.steps], location=b.location)
        for a, b in zip(stories, stories[1:] + stories[:1], strict=True)
    ]
    memo = model.policies.memo
    results = {}
    kb = open_knowledge_base(ROOT, load_project(ROOT, validate=False))  # the KB stories
    for label, augmented in (("augmented", True), ("plain", False)):
        memo.augmented = augmented
        results[label] = {
            "single": StoryReplayer(model, kb).run(stories).passed,
            "chained": StoryReplayer(model, kb).run(chained).passed,
        }
    memo.augmented = True
    if kb is not None:
        kb.close()
    return {"stories": len(stories), **results}


def run() -> dict[str, Any]:
    from bot import model as model_io
    from bot.project.loader import load_project

    pin_one_core()
    t = time.perf_counter()
    trained = model_io.train(load_project(ROOT, strict=False))
    train_seconds = time.perf_counter() - t
    generalisation = _unseen_paths(trained)
    with tempfile.TemporaryDirectory() as tmp:
        path = model_io.save(trained, Path(tmp))
        env = {**os.environ, "ZHIKE_DEMO_DB": str(Path(tmp) / "demo.db")}
        child = subprocess.run(
            [sys.executable, "-m", "bench.bot_bench", "--serve", str(path)],
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
        )
        size_mb = path.stat().st_size / 1e6
    return {
        "train_seconds": round(train_seconds, 2),
        "model_size_mb": round(size_mb, 1),
        **json.loads(child.stdout.strip().splitlines()[-1]),
        "test_stories": generalisation,
    }


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        print(json.dumps(serve(Path(sys.argv[2]))))
    else:
        print(write_result("bot", run()))
