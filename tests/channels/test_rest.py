"""Rasa's REST channel, over real HTTP against the real server."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot import model as model_io
from bot.messages import Button, OutboundMessage
from bot.model import TrainedModel
from bot.server.app import create_app
from bot.server.live import LiveServer
from bot.server.settings import load_settings
from channels.rest import render

WEBHOOK = "/webhooks/rest/webhook"


@pytest.fixture(scope="module")
def client(
    zh_root: Path, zh_model: TrainedModel, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    root = tmp_path_factory.mktemp("rest") / "zh_mini"
    shutil.copytree(zh_root, root)
    model_io.save(zh_model, root / "models")
    overrides = {"channels": ("rest",), "model_poll_seconds": 0, "log_format": "text"}
    settings = load_settings(root, env={}, overrides=overrides)
    with LiveServer(create_app(settings)) as server, httpx.Client(base_url=server.url) as c:
        yield c


def send(
    client: httpx.Client, sender: str, message: str, **extra: object
) -> list[dict[str, object]]:
    response = client.post(WEBHOOK, json={"sender": sender, "message": message, **extra})
    assert response.status_code == 200, response.text
    body: list[dict[str, object]] = response.json()
    return body


def test_reply_has_rasa_shape(client: httpx.Client) -> None:
    replies = send(client, "r1", "你好")
    assert len(replies) == 1 and set(replies[0]) == {"recipient_id", "text"}
    assert replies[0]["recipient_id"] == "r1" and "您好" in str(replies[0]["text"])


def test_buttons_and_clicking_a_payload(client: httpx.Client) -> None:
    assert send(client, "r2", "我要一杯奶茶")[0]["text"] == "请问您想点哪款饮品呢？"
    size = send(client, "r2", '/inform{"drink": "珍珠奶茶"}')
    assert size[0]["buttons"] == [
        {"title": "大杯", "payload": '/inform{"size": "大杯"}'},
        {"title": "中杯", "payload": '/inform{"size": "中杯"}'},
        {"title": "小杯", "payload": '/inform{"size": "小杯"}'},
    ]
    sweetness = send(client, "r2", str(size[0]["buttons"][0]["payload"]))  # type: ignore[index]
    assert "甜度" in str(sweetness[0]["text"])


def test_metadata_and_message_id_are_kept(client: httpx.Client) -> None:
    send(client, "r3", "你好", metadata={"页面": "首页"}, message_id="m-1")
    events = client.get("/conversations/r3/tracker").json()["events"]
    user = next(e for e in events if e["event"] == "user")
    assert user["metadata"] == {"页面": "首页"} and user["message_id"] == "m-1"
    assert user["input_channel"] == "rest"


def test_concurrent_senders_get_their_own_replies(client: httpx.Client) -> None:
    async def run() -> list[list[dict[str, object]]]:
        async with httpx.AsyncClient(base_url=str(client.base_url)) as c:
            calls = [
                c.post(WEBHOOK, json={"sender": f"p{i}", "message": "你好"}) for i in range(30)
            ]
            return [r.json() for r in await asyncio.gather(*calls)]

    for i, replies in enumerate(asyncio.run(run())):
        assert replies and all(r["recipient_id"] == f"p{i}" for r in replies)


def test_invalid_requests(client: httpx.Client) -> None:
    assert client.get("/webhooks/rest/").json() == {"status": "ok"}
    for body in ({"message": "你好"}, {"sender": "", "message": "你好"}, {"sender": "x"}):
        response = client.post(WEBHOOK, json=body)
        assert response.status_code == 422 and response.json()["error"] == "invalid_request"


def test_render_images_custom_and_handoff() -> None:
    messages = [
        OutboundMessage(kind="buttons", text="选一个", buttons=[Button("好", "/affirm", "1")]),
        OutboundMessage(kind="image", url="https://example.cn/a.png"),
        OutboundMessage(kind="custom", metadata={"custom": {"card": 1}}),
        OutboundMessage(kind="handoff", metadata={"reason": "fallback"}),
        OutboundMessage(kind="text"),
    ]
    assert render(messages, "u") == [
        {"recipient_id": "u", "text": "选一个", "buttons": [{"title": "好", "payload": "/affirm"}]},
        {"recipient_id": "u", "image": "https://example.cn/a.png"},
        {"recipient_id": "u", "custom": {"card": 1}},
        {"recipient_id": "u", "custom": {"type": "handoff", "reason": "fallback"}},
    ]
