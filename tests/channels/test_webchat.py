"""The web chat channel over a real uvicorn server, a real WebSocket client and httpx."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from bot.dialogue.events import BotUttered, Handoff, UserUttered
from bot.engine import Engine
from bot.messages import Button, OutboundMessage
from bot.model import TrainedModel
from bot.server.holder import EngineHolder
from channels.webchat import (
    WebChatChannel,
    conversation_id,
    create_channel,
    history_messages,
    to_wire,
)

STATIC = Path(__file__).resolve().parents[2] / "bot" / "server" / "static"
GREET = {"type": "message", "payload": "/greet", "title": "你好"}


@dataclass
class Served:
    channel: WebChatChannel
    engine: Engine
    base: str

    @property
    def ws(self) -> str:
        return self.base.replace("http://", "ws://") + "/webchat/ws"


def build_app(channel: WebChatChannel) -> FastAPI:
    app = FastAPI()
    app.include_router(channel.router())
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_api_route("/", lambda: RedirectResponse("/static/index.html"), include_in_schema=False)
    return app


async def start(channel: WebChatChannel) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(build_app(channel), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    return server, task, f"http://127.0.0.1:{port}"


@pytest.fixture
async def served(
    zh_payload_model: TrainedModel, request: pytest.FixtureRequest
) -> AsyncIterator[Served]:
    limits: dict[str, int] = getattr(request, "param", {})
    engine = Engine(zh_payload_model)
    channel = WebChatChannel(EngineHolder(engine), **limits)
    server, task, base = await start(channel)
    yield Served(channel, engine, base)
    server.should_exit = True
    await asyncio.wait_for(task, 5)


def sid() -> str:
    return uuid.uuid4().hex


async def recv(ws: Any, skip: tuple[str, ...] = ("typing",)) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if frame["type"] not in skip:
            return frame


async def connect(served: Served, session: str) -> Any:
    ws = await websockets.connect(f"{served.ws}?session_id={session}")
    hello = await recv(ws)
    assert hello == {"type": "session", "session_id": session}
    return ws


async def test_typing_shows_only_for_a_turn_that_takes_a_while(served: Served) -> None:
    session = sid()
    async with await connect(served, session) as ws:
        await ws.send(json.dumps(GREET))
        assert (await recv(ws, skip=()))["type"] == "bot"  # answered at once: no indicator
        async with served.engine.locks.lock(conversation_id(session)):  # the turn waits here
            await ws.send(json.dumps(GREET))
            assert (await recv(ws, skip=()))["type"] == "typing"
        assert (await recv(ws, skip=()))["type"] == "bot"


async def test_conversation_with_buttons(served: Served) -> None:
    async with await connect(served, sid()) as ws:
        await ws.send(json.dumps(GREET))
        bot = await recv(ws)
        assert bot["type"] == "bot"
        assert bot["messages"][0]["kind"] == "text"
        assert "您好" in bot["messages"][0]["text"]
        await ws.send(json.dumps({"type": "message", "payload": '/order_drink{"drink": "奶茶"}'}))
        bot = await recv(ws)
        buttons = [m for m in bot["messages"] if m["kind"] == "buttons"]
        assert buttons and {b["title"] for b in buttons[0]["buttons"]} >= {"大杯", "中杯"}
        assert all(b["payload"].startswith("/inform") for b in buttons[0]["buttons"])


async def test_history_after_reconnect_shows_button_titles(served: Served) -> None:
    session = sid()
    async with await connect(served, session) as ws:
        await ws.send(json.dumps(GREET))
        await recv(ws)
    async with await connect(served, session) as ws:
        await ws.send(json.dumps({"type": "history"}))
        history = await recv(ws)
    assert history["type"] == "history"
    roles = [(m["role"], m["text"][:2]) for m in history["messages"]]
    assert roles[0] == ("user", "你好")  # the clicked title, not the payload
    assert roles[1][0] == "bot" and roles[1][1] == "您好"
    async with httpx.AsyncClient(base_url=served.base) as http:
        rest = (await http.get("/webchat/history", params={"session_id": session})).json()
    assert rest["messages"] == history["messages"]


async def test_rest_fallback_shares_the_conversation(served: Served) -> None:
    session = sid()
    async with httpx.AsyncClient(base_url=served.base) as http:
        reply = await http.post("/webchat/messages", json={"session_id": session, **GREET})
        assert reply.status_code == 200
        assert "您好" in reply.json()["messages"][0]["text"]
        bad = await http.get("/webchat/history", params={"session_id": "../etc"})
        assert bad.status_code == 422
    tracker = await served.engine.load_tracker(conversation_id(session))
    assert any(isinstance(e, UserUttered) and e.text == "/greet" for e in tracker.events)


@pytest.mark.parametrize("served", [{"max_message_chars": 50}], indirect=True)
async def test_size_limit_is_a_polite_message(served: Served) -> None:
    async with await connect(served, sid()) as ws:
        await ws.send(json.dumps({"type": "message", "text": "话" * 51}))
        frame = await recv(ws, skip=())
        assert frame["type"] == "bot" and frame["code"] == "message_too_long"
        assert "50" in frame["messages"][0]["text"]
        await ws.send("x" * 100_000)  # a huge frame is refused before it is parsed
        assert (await recv(ws, skip=()))["code"] == "message_too_long"
        await ws.send(json.dumps(GREET))
        assert "您好" in (await recv(ws))["messages"][0]["text"]
    async with httpx.AsyncClient(base_url=served.base) as http:
        reply = await http.post("/webchat/messages", json={"session_id": sid(), "text": "长" * 51})
    assert reply.status_code == 413 and reply.json()["code"] == "message_too_long"


@pytest.mark.parametrize("served", [{"rate_limit_per_minute": 3}], indirect=True)
async def test_rate_limit_per_session(served: Served) -> None:
    session = sid()
    async with await connect(served, session) as ws:
        codes = []
        for _ in range(4):
            await ws.send(json.dumps(GREET))
            codes.append((await recv(ws)).get("code"))
        assert codes == [None, None, None, "rate_limited"]
        for _ in range(10):  # history requests have their own, more generous, budget
            await ws.send(json.dumps({"type": "history"}))
            assert (await recv(ws))["type"] == "history"
        await ws.send(json.dumps({"type": "history"}))
        assert (await recv(ws))["code"] == "rate_limited"
        async with await connect(served, sid()) as other:  # other sessions are unaffected
            await other.send(json.dumps(GREET))
            assert (await recv(other)).get("code") is None
    async with httpx.AsyncClient(base_url=served.base) as http:
        reply = await http.post("/webchat/messages", json={"session_id": session, **GREET})
    assert reply.status_code == 429
    assert "稍等" in reply.json()["messages"][0]["text"]


async def test_garbage_frames_get_errors_and_the_socket_survives(served: Served) -> None:
    async with await connect(served, sid()) as ws:
        for garbage in ("{not json", "[1, 2]", '{"type": 3}', "null", '{"type": "dance"}'):
            await ws.send(garbage)
            frame = await recv(ws)
            assert frame["type"] == "error" and frame["message"]
        await ws.send(b"\xff\xfe binary")
        assert (await recv(ws))["code"] == "bad_frame"
        await ws.send(json.dumps({"type": "message", "text": "   "}))
        assert (await recv(ws))["code"] == "empty_message"
        await ws.send(json.dumps({"type": "ping"}))
        assert (await recv(ws))["type"] == "pong"
        await ws.send(json.dumps(GREET))
        assert (await recv(ws))["type"] == "bot"


async def test_endless_garbage_closes_only_that_socket(served: Served) -> None:
    async with await connect(served, sid()) as good, await connect(served, sid()) as bad:
        for _ in range(25):
            await bad.send("garbage")
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await recv(bad)
        await good.send(json.dumps(GREET))
        assert (await recv(good))["type"] == "bot"


async def test_invalid_session_id_is_refused(served: Served) -> None:
    async with websockets.connect(f"{served.ws}?session_id=bad%20id") as ws:
        assert (await recv(ws))["code"] == "bad_session"
        with pytest.raises(websockets.ConnectionClosed):
            await recv(ws)
    async with websockets.connect(served.ws) as ws:  # no id: the server makes one
        assert len((await recv(ws))["session_id"]) == 32


async def test_disconnect_mid_turn_finishes_the_turn_and_spares_others(served: Served) -> None:
    session = sid()
    gone = await connect(served, session)
    async with served.engine.locks.lock(conversation_id(session)):  # the turn waits here
        await gone.send(json.dumps(GREET))
        assert (await recv(gone, skip=()))["type"] == "typing"
        await gone.close()
        async with await connect(served, sid()) as other:
            await other.send(json.dumps(GREET))
            assert "您好" in (await recv(other))["messages"][0]["text"]
    for _ in range(100):  # the dropped client's turn still completes and is saved
        if any(m.role == "bot" for m in await served.channel.history(session)):
            break
        await asyncio.sleep(0.02)
    history = await served.channel.history(session)
    assert [m.role for m in history] == ["user", "bot"]


async def test_send_pushes_to_every_socket_of_the_conversation(served: Served) -> None:
    session = sid()
    async with await connect(served, session) as one, await connect(served, session) as two:
        assert served.channel.connected(conversation_id(session)) == 2
        card = {"type": "card", "title": "5G 畅享套餐", "url": "https://example.com/plan"}
        await served.channel.send(
            conversation_id(session),
            [
                OutboundMessage(kind="text", text="人工客服小王为您服务"),
                OutboundMessage("custom", metadata={"custom": card}),
            ],
        )
        for ws in (one, two):
            frame = await recv(ws)
            assert frame["messages"][0]["text"] == "人工客服小王为您服务"
            assert frame["messages"][1]["custom"] == card
    await served.channel.send("webchat-nobody", [OutboundMessage(kind="text", text="x")])


async def test_static_widget_is_served(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.base, follow_redirects=True) as http:
        page = await http.get("/")
        script = await http.get("/static/webchat.js")
    assert page.status_code == 200 and "webchat.js" in page.text
    assert script.status_code == 200 and "WebSocket" in script.text
    assert "http://" not in page.text.replace("http://www.w3.org", "")  # no CDN or fonts


def test_wire_shapes_for_rich_messages() -> None:
    buttons = OutboundMessage("buttons", "请选择", [Button("充50元", "/recharge", "1")])
    assert to_wire(buttons).model_dump(exclude_none=True)["buttons"] == [
        {"title": "充50元", "payload": "/recharge", "key": "1"}
    ]
    image = to_wire(OutboundMessage("image", url="https://example.com/a.png"))
    assert (image.kind, image.url) == ("image", "https://example.com/a.png")
    events = [
        UserUttered(text='/recharge{"amount": "50"}', metadata={"display_text": "充50元"}),
        BotUttered(text="好的", data={"image": "/static/a.png", "custom": {"type": "card"}}),
        Handoff(reason="fallback"),
    ]
    shown = [(m.role, m.kind, m.text or m.url) for m in history_messages(events)]
    assert shown[:3] == [
        ("user", "text", "充50元"),
        ("bot", "text", "好的"),
        ("bot", "image", "/static/a.png"),
    ]
    assert [m.kind for m in history_messages(events)][3:] == ["custom", "handoff"]
    assert len(history_messages(events * 100, limit=7)) == 7


def test_create_channel_reads_credentials_limits(zh_payload_model: TrainedModel) -> None:
    holder = EngineHolder(Engine(zh_payload_model))
    channel = create_channel(holder, None, {"max_message_chars": 500, "rate_limit_per_minute": 5})
    assert (channel.max_message_chars, channel.limiter.limit) == (500, 5)
    assert create_channel(holder).max_message_chars == 2000
    with pytest.raises(ValueError):
        create_channel(holder, None, {"rate_limit_per_minute": -1})
