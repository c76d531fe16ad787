"""Hot reload (`PUT /model`, a new file in models/) while conversations are running."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot import model as model_io
from bot.model import TrainedModel
from bot.server.app import create_app
from bot.server.live import LiveServer
from bot.server.settings import load_settings

NEW_GREETING = "您好，这里是新版模型为您服务！"
OLD_GREETINGS = {
    "您好，欢迎光临小知茶饮！请问今天想喝点什么？",
    "您好！我是小知，可以帮您点饮品，也可以解答门店的常见问题。",
}
CONVERSATIONS, TURNS = 16, 6


def greeter(model: TrainedModel) -> TrainedModel:
    """The same model with another greeting, a new fingerprint and a later file name."""
    other = copy.deepcopy(model)
    variant = other.domain.responses["utter_greet"][0]
    other.domain.responses["utter_greet"] = [dataclasses.replace(variant, text=NEW_GREETING)]
    other.fingerprint = "newgreeting0"
    other.trained_at = model.trained_at + 120
    return other


@pytest.fixture(scope="module")
def reload_server(
    server_project: Path, zh_model: TrainedModel, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, Path]]:
    root = tmp_path_factory.mktemp("reload") / "zh_mini"
    shutil.copytree(
        server_project, root, ignore=shutil.ignore_patterns(".zhike", "credentials.yml")
    )
    alternative = model_io.save(greeter(zh_model), root / "alt_models")
    settings = load_settings(
        root,
        env={},
        overrides={"model_poll_seconds": 0.1, "channels": ("rest",), "log_format": "text"},
    )
    with LiveServer(create_app(settings)) as server:
        yield server, alternative


async def converse(client: httpx.AsyncClient, conv: str) -> list[str]:
    texts = []
    for turn in range(TURNS):
        body = {"sender": conv, "message": "你好", "metadata": {"conv": conv, "turn": turn}}
        response = await client.post("/webhooks/rest/webhook", json=body)
        assert response.status_code == 200, response.text
        replies = response.json()
        assert replies and all(r["recipient_id"] == conv for r in replies)
        texts.append(replies[0]["text"])
    return texts


async def swap_during_traffic(url: str, model_file: Path) -> tuple[list[list[str]], int]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        talks = [asyncio.create_task(converse(client, f"swap-{i}")) for i in range(CONVERSATIONS)]
        await asyncio.sleep(0.05)
        swapped = await client.put("/model", json={"model_file": str(model_file)})
        return list(await asyncio.gather(*talks)), swapped.status_code


def test_put_model_during_concurrent_conversations(
    reload_server: tuple[LiveServer, Path],
) -> None:
    server, alternative = reload_server
    replies, status = asyncio.run(swap_during_traffic(server.url, alternative))
    assert status == 204
    assert all(len(r) == TURNS and all(r) for r in replies)
    seen = {text for texts in replies for text in texts}
    assert seen <= {*OLD_GREETINGS, NEW_GREETING} and seen & OLD_GREETINGS
    with httpx.Client(base_url=server.url) as client:
        for i in range(CONVERSATIONS):
            events = client.get(f"/conversations/swap-{i}/tracker").json()["events"]
            users = [e for e in events if e["event"] == "user"]
            assert [u["metadata"] for u in users] == [
                {"conv": f"swap-{i}", "turn": t} for t in range(TURNS)
            ]
            bots = [e for e in events if e["event"] == "bot"]
            assert len(bots) == TURNS  # one greeting per turn, none lost or duplicated
        assert client.get("/status").json()["model_file"] == str(alternative)
        fresh = client.post("/webhooks/rest/webhook", json={"sender": "after", "message": "你好"})
        assert fresh.json()[0]["text"] == NEW_GREETING


def test_put_model_errors(reload_server: tuple[LiveServer, Path]) -> None:
    server, alternative = reload_server
    with httpx.Client(base_url=server.url) as client:
        outside = client.put("/model", json={"model_file": "/etc/passwd"})
        assert outside.status_code == 400 and outside.json()["error"] == "model_path_not_allowed"
        missing = client.put("/model", json={"model_file": "models/none.zhike"})
        assert missing.status_code == 404 and missing.json()["error"] == "model_not_found"
        (alternative.parent / "junk.zhike").write_text("x")
        junk = client.put("/model", json={"model_file": "alt_models/junk.zhike"})
        assert junk.status_code == 400 and junk.json()["error"] == "invalid_model"
        remote = client.put("/model", json={"model_server": {"url": "http://x"}})
        assert remote.status_code == 400 and remote.json()["error"] == "unsupported"


def test_empty_put_retrains_from_the_project_and_watcher_picks_up_new_files(
    reload_server: tuple[LiveServer, Path],
) -> None:
    server, alternative = reload_server
    with httpx.Client(base_url=server.url, timeout=60) as client:
        assert client.put("/model").status_code == 204  # project unchanged: the model is reused
        status = client.get("/status").json()
        assert Path(status["model_file"]).parent.name == "models"
        # a finished `zhike train` (here: a newer file) is picked up without any request
        newer = Path(status["model_file"]).parent / alternative.name
        shutil.copy(alternative, newer.with_suffix(".tmp"))
        newer.with_suffix(".tmp").replace(newer)
        deadline = time.monotonic() + 10
        while client.get("/status").json()["model_file"] != str(newer):
            assert time.monotonic() < deadline, "the new model was not loaded"
            time.sleep(0.05)
        reply = client.post("/webhooks/rest/webhook", json={"sender": "w1", "message": "你好"})
        assert reply.json()[0]["text"] == NEW_GREETING
        newer.unlink()
