"""Rasa's REST channel: `POST /webhooks/rest/webhook` with `{"sender", "message", "metadata"}`
answers with the bot's messages as `[{"recipient_id", "text", "buttons", "image", "custom"}]`.

The sender id is the conversation id, as in Rasa. A hand-over to a human is rendered as
`{"custom": {"type": "handoff", "reason": …}}`, since the REST shape has no other place for it.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from bot.messages import InboundMessage, OutboundMessage
from bot.nlu.pipeline import sanitize
from bot.server.holder import EngineHolder
from bot.server.rasa_api import json_content
from bot.server.schemas import BotMessage, error_responses, too_long

log = logging.getLogger(__name__)
DEFAULT_MAX_CHARS = 5_000


class RestRequest(BaseModel):
    sender: str = Field(
        min_length=1, max_length=255, description="Sender id; also the conversation id."
    )
    message: str = Field(description="The user's text, or a button payload such as `/greet`.")
    metadata: dict[str, Any] | None = None
    message_id: str | None = Field(None, max_length=255)


class RestStatus(BaseModel):
    status: str


def render(messages: list[OutboundMessage], recipient_id: str) -> list[dict[str, Any]]:
    out = []
    for message in messages:
        if message.kind == "handoff":
            custom = {"type": "handoff", **{k: v for k, v in message.metadata.items() if v}}
            out.append({"recipient_id": recipient_id, "custom": custom})
            continue
        item = message.to_rasa_dict(recipient_id)
        if len(item) > 1:  # something besides the recipient
            out.append(item)
    return out


class RestChannel:
    name = "rest"

    def __init__(self, holder: EngineHolder, max_message_chars: int = DEFAULT_MAX_CHARS) -> None:
        self.holder = holder
        self.max_message_chars = max_message_chars

    async def receive(self, body: RestRequest) -> list[dict[str, Any]]:
        if len(body.message) > self.max_message_chars:
            raise too_long(self.max_message_chars)
        text = sanitize(body.message)
        message = InboundMessage(
            channel=self.name,
            conversation_id=body.sender,
            sender_id=body.sender,
            text=text,
            message_id=body.message_id,
            metadata=dict(body.metadata or {}),
        )
        result = await self.holder.engine.handle_turn(message)
        return render(result.messages, body.sender)

    def router(self) -> APIRouter:
        router = APIRouter(tags=["Channel: REST"])

        @router.get("/webhooks/rest/", response_model=RestStatus, summary="REST channel health")
        async def rest_health() -> RestStatus:
            return RestStatus(status="ok")

        @router.post(
            "/webhooks/rest/webhook",
            response_model=list[BotMessage],
            response_model_exclude_none=True,
            responses=error_responses(400, 413, 415, 422, 503),
            summary="Send a user message, get the bot's replies (Rasa REST channel)",
        )
        async def webhook(
            body: RestRequest, _: Annotated[None, Depends(json_content)]
        ) -> list[dict[str, Any]]:
            return await self.receive(body)

        return router

    async def send(self, conversation_id: str, messages: list[OutboundMessage]) -> None:
        """REST clients only get replies to their own requests; there is nowhere to push."""
        log.warning("REST channel cannot push %d message(s) to %s", len(messages), conversation_id)
