"""Web chat channel: a WebSocket with a small JSON protocol, plus a REST fallback.

Client → server frames (JSON text):
- `{"type": "message", "text": "…"}` or `{"type": "message", "payload": "/intent{…}", "title": "…"}`
  (a clicked quick reply; `title` is what the customer saw and is shown in the history);
- `{"type": "history"}` — the conversation so far; `{"type": "ping"}` → `{"type": "pong"}`.

Server → client frames:
- `{"type": "session", "session_id"}` once the socket is open;
- `{"type": "typing"}` when a turn is still running after `TYPING_AFTER_S` (most turns answer
  in milliseconds: an indicator flashing for them, announced by screen readers each time,
  would only be noise); `{"type": "bot", "messages": [...], "code"?}`;
- `{"type": "history", "messages": [...]}` (user and bot messages rebuilt from the tracker);
- `{"type": "error", "code", "message"}` for frames that cannot be understood.

A message that is too long or comes too fast is answered with a polite bot message (with a
`code`), never an error page. Each browser session is the conversation `webchat-<session_id>`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import APIRouter, Query, WebSocket
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from bot.dialogue.events import BotUttered, Event, Handoff, UserUttered
from bot.engine import TurnResult, outbound
from bot.messages import InboundMessage, OutboundMessage
from bot.server.holder import EngineHolder
from channels.ratelimit import RateLimiter

log = logging.getLogger(__name__)

CHANNEL = "webchat"
CONVERSATION_PREFIX = "webchat-"
SESSION_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"
HISTORY_LIMIT = 200  # messages returned by the history endpoints
MAX_BAD_FRAMES = 20  # garbage frames tolerated on one socket before it is closed
POLICY_VIOLATION = 1008
DEFAULT_MAX_CHARS = 2000
DEFAULT_RATE_PER_MINUTE = 30
TYPING_AFTER_S = 0.3
_SESSION_RE = re.compile(SESSION_PATTERN)

NOTICES: dict[str, str] = {
    "message_too_long": "您的消息有点长，请精简到 {limit} 个字以内再发送，谢谢您的理解。",
    "rate_limited": "您发送得有点快，请稍等片刻再继续，我们马上为您服务。",
    "empty_message": "请输入您想咨询的问题。",
    "bad_frame": "抱歉，没能识别这条消息，请重新发送。",
    "unknown_type": "抱歉，暂不支持这类消息，请直接输入文字或点击按钮。",
    "bad_session": "会话标识无效，请刷新页面后重试。",
    "too_many_bad_frames": "连接出现异常，已为您断开，请刷新页面后重试。",
    "internal_error": "抱歉，系统开小差了，请稍后再试。",
}


# ---------------------------------------------------------------- wire models
class WireButton(BaseModel):
    title: str
    payload: str
    key: str | None = None


class WireMessage(BaseModel):
    """One message in a channel-neutral shape the widget renders."""

    role: Literal["user", "bot"] = "bot"
    kind: str = Field(description="text | buttons | link | image | custom | handoff")
    text: str = ""
    buttons: list[WireButton] = Field(default_factory=list)
    url: str | None = None
    custom: Any = Field(default=None, description="a response's `custom` payload (cards …)")
    kb: dict[str, Any] | None = Field(
        default=None, description="a knowledge-base answer: {entry_id, score} (for thumbs up/down)"
    )
    agent: str | None = Field(default=None, description="the human agent's name (after a handoff)")
    timestamp: float | None = None


class MessageRequest(BaseModel):
    session_id: str = Field(pattern=SESSION_PATTERN, description="the browser's session id")
    text: str = ""
    payload: str | None = Field(default=None, description="a clicked button's payload")
    title: str | None = Field(default=None, description="the clicked button's title")
    message_id: str | None = Field(default=None, max_length=64)


class MessagesResponse(BaseModel):
    session_id: str
    messages: list[WireMessage]
    code: str | None = Field(default=None, description="message_too_long | rate_limited | …")


class HistoryResponse(BaseModel):
    session_id: str
    messages: list[WireMessage]


def to_wire(message: OutboundMessage, timestamp: float | None = None) -> WireMessage:
    custom = message.metadata.get("custom")
    if message.kind == "handoff":
        custom = {
            k: message.metadata.get(k)
            for k in ("reason", "handoff_id", "skill_group")
            if message.metadata.get(k) is not None
        }
    return WireMessage(
        kind=message.kind,
        text=message.text,
        buttons=[WireButton(title=b.title, payload=b.payload, key=b.key) for b in message.buttons],
        url=message.url,
        custom=custom,
        kb=message.metadata.get("kb"),
        agent=message.metadata.get("agent_name"),
        timestamp=timestamp,
    )


def _user_history(event: Event) -> list[WireMessage]:
    assert isinstance(event, UserUttered)
    shown = event.metadata.get("display_text") or event.text
    if not shown:
        return []
    return [WireMessage(role="user", kind="text", text=str(shown), timestamp=event.timestamp)]


def _bot_history(event: Event) -> list[WireMessage]:
    assert isinstance(event, BotUttered | Handoff)
    return [to_wire(m, event.timestamp) for m in outbound([event])]


_HISTORY: dict[type[Event], Callable[[Event], list[WireMessage]]] = {
    UserUttered: _user_history,
    BotUttered: _bot_history,
    Handoff: _bot_history,
}


def history_messages(events: list[Event], limit: int = HISTORY_LIMIT) -> list[WireMessage]:
    """The user and bot messages of a tracker, oldest first (the last `limit`)."""
    out: list[WireMessage] = []
    for event in events:
        render = _HISTORY.get(type(event))
        if render is not None:
            out.extend(render(event))
    return out[-limit:]


def dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(exclude_none=True, exclude_defaults=False)


def notice(code: str, **values: Any) -> WireMessage:
    return WireMessage(kind="text", text=NOTICES[code].format(**values), timestamp=time.time())


def conversation_id(session_id: str) -> str:
    return CONVERSATION_PREFIX + session_id


def valid_session(session_id: str) -> bool:
    return bool(_SESSION_RE.match(session_id))


# ---------------------------------------------------------------- turns
@dataclass(slots=True)
class ClientMessage:
    text: str = ""
    payload: str | None = None
    title: str | None = None
    message_id: str | None = None

    @property
    def content(self) -> str:
        return self.payload or self.text


@dataclass(slots=True)
class Outcome:
    """What a turn produced: bot messages (maybe a polite notice with a code) or an error."""

    messages: list[WireMessage] = field(default_factory=list)
    code: str | None = None
    status: int = 200
    error: bool = False

    def frame(self) -> dict[str, Any]:
        if self.error and self.code:
            return {"type": "error", "code": self.code, "message": NOTICES[self.code]}
        out: dict[str, Any] = {"type": "bot", "messages": [dump(m) for m in self.messages]}
        if self.code:
            out["code"] = self.code
        return out


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def parse_frame(raw: str) -> dict[str, Any] | None:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("type"), str) else None


def client_message(frame: dict[str, Any]) -> ClientMessage:
    return ClientMessage(
        text=_str_or_none(frame.get("text")) or "",
        payload=_str_or_none(frame.get("payload")) or None,
        title=_str_or_none(frame.get("title")),
        message_id=(_str_or_none(frame.get("id")) or "")[:64] or None,
    )


Handler = Callable[[WebSocket, str, dict[str, Any]], Awaitable[None]]


class WebChatChannel:
    """The web chat: `router()` is mounted by the server app; `send()` pushes to open sockets."""

    name = CHANNEL

    def __init__(
        self,
        holder: EngineHolder,
        *,
        max_message_chars: int = DEFAULT_MAX_CHARS,
        rate_limit_per_minute: int = DEFAULT_RATE_PER_MINUTE,
    ) -> None:
        self.holder = holder
        self.max_message_chars = max_message_chars
        self.limiter = RateLimiter(rate_limit_per_minute)
        self.history_limiter = RateLimiter(max(rate_limit_per_minute, 10))  # reloads, reconnects
        self._sockets: dict[str, set[WebSocket]] = {}
        self._turns: set[asyncio.Task[Any]] = set()
        self._handlers: dict[str, Handler] = {
            "message": self._on_message,
            "history": self._on_history,
            "ping": self._on_ping,
        }

    # ------------------------------------------------------------ contract
    def router(self) -> APIRouter:
        router = APIRouter(prefix="/webchat", tags=["webchat"])
        router.add_api_websocket_route("/ws", self._websocket)
        router.add_api_route(
            "/messages",
            self._post_message,
            methods=["POST"],
            response_model=MessagesResponse,
            response_model_exclude_none=True,
            summary="Send a message (REST fallback of the WebSocket)",
            responses={
                413: {"model": MessagesResponse, "description": "message too long"},
                422: {"model": MessagesResponse, "description": "empty or invalid message"},
                429: {"model": MessagesResponse, "description": "too many messages"},
                503: {"model": MessagesResponse, "description": "the turn failed"},
            },
        )
        router.add_api_route(
            "/history",
            self._get_history,
            methods=["GET"],
            response_model=HistoryResponse,
            response_model_exclude_none=True,
            summary="The conversation so far (user and bot messages)",
            responses={429: {"description": "too many history requests"}},
        )
        return router

    async def send(self, conversation_id: str, messages: list[OutboundMessage]) -> None:
        frame = {"type": "bot", "messages": [dump(to_wire(m, time.time())) for m in messages]}
        for socket in list(self._sockets.get(conversation_id, ())):
            await _send(socket, frame)

    def connected(self, conversation_id: str) -> int:
        return len(self._sockets.get(conversation_id, ()))

    # ------------------------------------------------------------ turns
    async def respond(self, session_id: str, message: ClientMessage) -> Outcome:
        """Checks (empty, size, rate) and then one engine turn; never raises."""
        return self.check(session_id, message) or await self.turn(session_id, message)

    def check(self, session_id: str, message: ClientMessage) -> Outcome | None:
        """An answer that replaces the turn (empty, too long, too fast), or None to go on."""
        content = message.content
        if not content.strip():
            return Outcome(code="empty_message", status=422, error=True)
        if max(len(content), len(message.title or "")) > self.max_message_chars:
            return self.too_long()
        if not self.limiter.allow(session_id):
            return Outcome([notice("rate_limited")], "rate_limited", 429)
        return None

    def too_long(self) -> Outcome:
        limit = self.max_message_chars
        return Outcome([notice("message_too_long", limit=limit)], "message_too_long", 413)

    async def turn(
        self,
        session_id: str,
        message: ClientMessage,
        typing: Callable[[], Awaitable[object]] | None = None,
    ) -> Outcome:
        """One engine turn in its own task, so a dropped client never cuts it short;
        `typing` is called when the turn is still running after `TYPING_AFTER_S`."""
        try:
            task = self._start_turn(session_id, message)
            if typing is not None:
                done, _ = await asyncio.wait({task}, timeout=TYPING_AFTER_S)
                if not done:
                    await typing()
            result = (await asyncio.shield(task)).messages
        except Exception:
            log.exception("webchat turn failed for %s", session_id)
            return Outcome([notice("internal_error")], "internal_error", 503)
        now = time.time()
        return Outcome([to_wire(m, now) for m in result])

    def _start_turn(self, session_id: str, message: ClientMessage) -> asyncio.Task[TurnResult]:
        inbound = InboundMessage(
            channel=CHANNEL,
            conversation_id=conversation_id(session_id),
            sender_id=session_id,
            text=message.text if not message.payload else (message.title or ""),
            payload=message.payload,
            message_id=message.message_id,
            metadata={"display_text": message.title} if message.payload and message.title else {},
        )
        task = asyncio.ensure_future(self.holder.engine.handle_turn(inbound))
        self._turns.add(task)
        task.add_done_callback(self._turns.discard)
        return task

    async def history(self, session_id: str) -> list[WireMessage]:
        tracker = await self.holder.engine.load_tracker(conversation_id(session_id), session_id)
        return history_messages(tracker.events)

    # ------------------------------------------------------------ REST
    async def _post_message(self, body: MessageRequest) -> Any:
        message = ClientMessage(body.text, body.payload, body.title, body.message_id)
        outcome = await self.respond(body.session_id, message)
        if outcome.error and outcome.code:
            outcome = Outcome([notice(outcome.code)], outcome.code, outcome.status)
        response = MessagesResponse(
            session_id=body.session_id, messages=outcome.messages, code=outcome.code
        )
        if outcome.status == 200:
            return response
        return JSONResponse(dump(response), status_code=outcome.status)

    async def _get_history(
        self, session_id: str = Query(pattern=SESSION_PATTERN, description="the session id")
    ) -> Any:
        if not self.history_limiter.allow(session_id):
            return JSONResponse(_error("rate_limited"), status_code=429)
        return HistoryResponse(session_id=session_id, messages=await self.history(session_id))

    # ------------------------------------------------------------ WebSocket
    async def _websocket(self, websocket: WebSocket, session_id: str = "") -> None:
        await websocket.accept()
        session_id = session_id or uuid.uuid4().hex
        if not valid_session(session_id):
            await _send(websocket, _error("bad_session"))
            await _close(websocket, POLICY_VIOLATION)
            return
        conv = conversation_id(session_id)
        self._sockets.setdefault(conv, set()).add(websocket)
        try:
            await _send(websocket, {"type": "session", "session_id": session_id})
            await self._serve(websocket, session_id)
        except Exception:
            log.exception("webchat socket for %s failed", session_id)
        finally:
            sockets = self._sockets.get(conv, set())
            sockets.discard(websocket)
            if not sockets:
                self._sockets.pop(conv, None)

    async def _serve(self, websocket: WebSocket, session_id: str) -> None:
        bad = 0
        while True:
            event = await websocket.receive()
            if event["type"] == "websocket.disconnect":
                return
            raw = _frame_text(event)
            if raw is not None and len(raw) > self.max_message_chars * 8 + 4096:
                await _send(websocket, self.too_long().frame())
                continue
            frame = parse_frame(raw) if raw is not None else None
            handler = self._handlers.get(str(frame.get("type"))) if frame else None
            if frame is not None and handler is not None:
                await handler(websocket, session_id, frame)
                continue
            bad += 1
            await _send(websocket, _error("unknown_type" if frame else "bad_frame"))
            if bad >= MAX_BAD_FRAMES:
                await _send(websocket, _error("too_many_bad_frames"))
                await _close(websocket, POLICY_VIOLATION)
                return

    async def _on_message(
        self, websocket: WebSocket, session_id: str, frame: dict[str, Any]
    ) -> None:
        message = client_message(frame)
        outcome = self.check(session_id, message)
        if outcome is None:
            outcome = await self.turn(
                session_id, message, lambda: _send(websocket, {"type": "typing"})
            )
        await _send(websocket, outcome.frame())

    async def _on_history(
        self, websocket: WebSocket, session_id: str, frame: dict[str, Any]
    ) -> None:
        if not self.history_limiter.allow(session_id):
            await _send(websocket, _error("rate_limited"))
            return
        try:
            messages = await self.history(session_id)
        except Exception:
            log.exception("webchat history failed for %s", session_id)
            await _send(websocket, _error("internal_error"))
            return
        await _send(websocket, {"type": "history", "messages": [dump(m) for m in messages]})

    async def _on_ping(self, websocket: WebSocket, session_id: str, frame: dict[str, Any]) -> None:
        await _send(websocket, {"type": "pong"})


def create_channel(
    holder: EngineHolder, settings: Any = None, config: Any = None
) -> WebChatChannel:
    """The server's factory: limits from `credentials.yml` (`webchat: {max_message_chars,
    rate_limit_per_minute}`), the message size never above the server's own limit."""
    config = dict(config or {})
    server_limit = int(getattr(settings, "max_message_chars", 0) or DEFAULT_MAX_CHARS)
    chars = int(config.get("max_message_chars") or min(DEFAULT_MAX_CHARS, server_limit))
    rate = int(config.get("rate_limit_per_minute") or DEFAULT_RATE_PER_MINUTE)
    if chars <= 0 or rate <= 0:
        raise ValueError("webchat: max_message_chars 与 rate_limit_per_minute 必须是正整数")
    return WebChatChannel(holder, max_message_chars=chars, rate_limit_per_minute=rate)


def _frame_text(event: Mapping[str, Any]) -> str | None:
    raw = event.get("text")
    if raw is None and isinstance(event.get("bytes"), bytes):
        raw = event["bytes"].decode("utf-8", errors="replace")
    return raw if isinstance(raw, str) else None


def _error(code: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": NOTICES[code]}


async def _send(websocket: WebSocket, frame: dict[str, Any]) -> bool:
    """Send a frame; a socket that went away is not an error."""
    try:
        await websocket.send_text(json.dumps(frame, ensure_ascii=False))
    except Exception:
        return False
    return True


async def _close(websocket: WebSocket, code: int) -> None:
    try:
        await websocket.close(code=code)
    except Exception:
        log.debug("webchat socket already closed")
