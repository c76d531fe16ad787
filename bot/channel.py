"""The channel contract: a channel adapts one medium (web chat, WeChat, phone …) to the engine.

A channel owns its inbound endpoints (`router()`), turns what arrives into
`InboundMessage`s, hands them to the engine through an `EngineHolder`, and renders the
`OutboundMessage`s it gets back in its medium's own way. Messages that do not answer an
inbound request (an agent's reply, a proactive notice) go out through `send()`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from bot.messages import OutboundMessage

if TYPE_CHECKING:
    from fastapi import APIRouter


class Channel(Protocol):
    name: str

    def router(self) -> APIRouter:
        """The channel's inbound HTTP/WebSocket endpoints."""
        ...

    async def send(self, conversation_id: str, messages: list[OutboundMessage]) -> None:
        """Deliver messages to a conversation outside a request/response cycle."""
        ...
