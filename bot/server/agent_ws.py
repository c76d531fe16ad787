"""The agent console's live channel: `/api/agent/ws`.

The first frame must be `{"type": "auth", "token"}` (a session token from the login; tokens in
URLs end up in logs). Then the server pushes every change the agent may see (`handoff`,
`line`, `resync`) and answers `ping`. The agent is online while a console socket is open.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from bot.handoff import views
from bot.handoff.agents import AuthError
from bot.handoff.bus import ConsoleEvent, Subscription
from bot.handoff.service import HandoffService
from bot.handoff.types import Agent

log = logging.getLogger(__name__)
AUTH_SECONDS = 10.0
POLICY_VIOLATION = 1008


async def console_socket(websocket: WebSocket) -> None:
    await websocket.accept()
    service: HandoffService | None = websocket.app.state.zhike.handoff
    agent = await _authenticate(websocket, service) if service is not None else None
    if service is None or agent is None:
        with contextlib.suppress(Exception):
            await websocket.close(code=POLICY_VIOLATION)
        return
    sub = service.bus.subscribe(agent)
    await service.set_online(agent.agent_id, True)
    try:
        await _send(websocket, {"type": "ready", "agent": views.agent_info(agent)})
        await _pump(websocket, service, sub)
    finally:
        service.bus.unsubscribe(sub)
        if not service.bus.online(agent.agent_id):
            await service.set_online(agent.agent_id, False)


async def _authenticate(websocket: WebSocket, service: HandoffService) -> Agent | None:
    try:
        raw = await asyncio.wait_for(websocket.receive_text(), AUTH_SECONDS)
        frame = json.loads(raw)
        token = (
            frame.get("token") if isinstance(frame, dict) and frame.get("type") == "auth" else None
        )
        return await service.agents.resolve(str(token) if token else None, service.clock())
    except AuthError as exc:
        await _send(websocket, {"type": "error", "code": exc.code, "message": exc.zh})
    except (TimeoutError, ValueError, WebSocketDisconnect, RuntimeError):
        await _send(
            websocket, {"type": "error", "code": "unauthorized", "message": "请先登录坐席工作台。"}
        )
    return None


async def _pump(websocket: WebSocket, service: HandoffService, sub: Subscription) -> None:
    """Forward bus events to the socket while reading pings, until the socket closes."""
    reader = asyncio.create_task(_read(websocket))
    try:
        while not reader.done():
            getter = asyncio.create_task(sub.queue.get())
            done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                break
            frame = await _frame(service, sub, getter.result())
            if sub.overflowed:
                sub.overflowed, frame = False, {"type": "resync"}
            if frame is not None and not await _send(websocket, frame):
                break
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader


async def _read(websocket: WebSocket) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") and '"ping"' in message["text"]:
            await _send(websocket, {"type": "pong"})


async def _frame(
    service: HandoffService, sub: Subscription, event: ConsoleEvent
) -> dict[str, Any] | None:
    show = views.may_see_pii(sub.agent, service.settings.pii_roles)
    h = event.handoff
    if event.kind == "line" and event.line is not None and h is not None:
        if h.agent_id != sub.agent.agent_id and sub.agent.role != "supervisor":
            return None  # only the agent in the chat (and supervisors) see its lines
        return {"type": "line", "handoff_id": h.handoff_id, "line": views.line(event.line, show)}
    if event.kind == "handoff" and h is not None:
        position = await service.position(h)
        return {"type": "handoff", "handoff": views.item(h, service.clock(), position, not show)}
    return {"type": event.kind}


async def _send(websocket: WebSocket, frame: dict[str, Any]) -> bool:
    try:
        await websocket.send_text(json.dumps(frame, ensure_ascii=False))
    except Exception:
        return False
    return True
