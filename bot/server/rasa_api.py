"""Rasa-compatible HTTP API: parse, trackers, messages, trigger_intent, status, version, model.

Differences from Rasa, on purpose: an unknown conversation id gives 404 (Rasa returns an empty
tracker); errors use the server's one error shape; `PUT /model` only loads model files that
live in the project or models folder, and with no `model_file` retrains from the project.
"""

from __future__ import annotations

import json
import time
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response

import bot
from bot.dialogue.events import Restarted
from bot.dialogue.tracker import Tracker, applied_events
from bot.messages import InboundMessage
from bot.nlu.pipeline import sanitize
from bot.server.auth import Principal, require_roles
from bot.server.errors import ApiError
from bot.server.schemas import (
    ModelRequest,
    ParseRequest,
    ParseResponse,
    StatusResponse,
    TrackerResponse,
    TriggerIntentRequest,
    TriggerIntentResponse,
    UserMessageRequest,
    VersionResponse,
    error_responses,
    too_long,
)
from bot.server.state import ServerState

API_CHANNEL = "api"
MIN_COMPATIBLE = "0.1.0"
ConversationId = Annotated[
    str, Path(min_length=1, max_length=255, description="Conversation (sender) id.")
]


class IncludeEvents(StrEnum):
    ALL = "ALL"
    APPLIED = "APPLIED"
    AFTER_RESTART = "AFTER_RESTART"
    NONE = "NONE"


def state_of(request: Request) -> ServerState:
    state: ServerState = request.app.state.zhike
    return state


async def json_content(request: Request) -> None:
    """Bodies must be JSON (or untyped); anything else is a 415."""
    declared = request.headers.get("content-type")
    if declared is None or request.headers.get("content-length") == "0":
        return
    media = declared.split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise ApiError(
            415,
            "unsupported_media_type",
            "请求内容必须是 JSON（Content-Type: application/json）。",
            f"Content-Type must be application/json, got {media or 'nothing'}",
        )


State = Annotated[ServerState, Depends(state_of)]
JSON_BODY = [Depends(json_content)]
AUTH = (401, 403)
BODY = (400, 413, 415, 422)

router = APIRouter(tags=["Rasa-compatible API"])


@router.get("/version", response_model=VersionResponse, summary="Server version")
async def version() -> VersionResponse:
    return VersionResponse(
        version=bot.__version__, minimum_compatible_version=MIN_COMPATIBLE, rasa_compatible="3.x"
    )


@router.get(
    "/status",
    response_model=StatusResponse,
    responses=error_responses(*AUTH),
    summary="Loaded model and training jobs",
)
async def status(
    state: State, _: Annotated[Principal, Depends(require_roles("status"))]
) -> StatusResponse:
    model = state.holder.engine.model
    return StatusResponse(
        model_id=model.fingerprint or None,
        model_file=str(state.model_path) if state.model_path else None,
        fingerprint={"model": model.fingerprint, "trained_at": model.trained_at},
        num_active_training_jobs=state.training_jobs,
        language=model.language,
        trained_at=model.trained_at,
        zhike_version=model.zhike_version,
        uptime_seconds=round(time.time() - state.started_at, 3),
    )


@router.post(
    "/model/parse",
    response_model=ParseResponse,
    responses=error_responses(*AUTH, *BODY),
    dependencies=JSON_BODY,
    summary="Understand a message (intent, entities) without changing any conversation",
)
async def parse(
    body: ParseRequest,
    state: State,
    _: Annotated[Principal, Depends(require_roles("parse"))],
) -> dict[str, Any]:
    _check_length(body.text, state)
    result = state.holder.engine.parse(sanitize(body.text)).to_dict()
    return result


@router.get(
    "/conversations/{conversation_id}/tracker",
    response_model=TrackerResponse,
    responses=error_responses(*AUTH, 404, 422),
    summary="A conversation's tracker (Rasa tracker JSON)",
)
async def get_tracker(
    conversation_id: ConversationId,
    state: State,
    _: Annotated[Principal, Depends(require_roles("tracker_read"))],
    include_events: Annotated[IncludeEvents, Query()] = IncludeEvents.ALL,
) -> dict[str, Any]:
    engine = state.holder.engine
    if await engine.trackers.info(conversation_id) is None:
        raise _unknown(conversation_id)
    tracker = await engine.load_tracker(conversation_id)
    return tracker_json(tracker, include_events)


@router.post(
    "/conversations/{conversation_id}/messages",
    response_model=TrackerResponse,
    responses=error_responses(*AUTH, *BODY, 503),
    dependencies=JSON_BODY,
    summary="Add a user message to a conversation without running the bot",
)
async def add_message(
    conversation_id: ConversationId,
    body: UserMessageRequest,
    state: State,
    _: Annotated[Principal, Depends(require_roles("tracker_write"))],
) -> dict[str, Any]:
    _check_length(body.text, state)
    message = InboundMessage(
        channel=API_CHANNEL, conversation_id=conversation_id, sender_id=conversation_id,
        text=sanitize(body.text),
    )  # fmt: skip
    tracker = await state.holder.engine.log_message(message)
    return tracker_json(tracker, IncludeEvents.ALL)


@router.post(
    "/conversations/{conversation_id}/trigger_intent",
    response_model=TriggerIntentResponse,
    response_model_exclude_none=True,
    responses=error_responses(*AUTH, *BODY, 404, 503),
    dependencies=JSON_BODY,
    summary="Run the bot as if the user had sent this intent (and entities)",
)
async def trigger_intent(
    conversation_id: ConversationId,
    body: TriggerIntentRequest,
    state: State,
    _: Annotated[Principal, Depends(require_roles("tracker_write"))],
    output_channel: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    engine = state.holder.engine
    if body.name not in engine.model.domain.intents:
        raise ApiError(
            404,
            "intent_not_found",
            f"意图 {body.name} 不在领域文件中。",
            f"intent {body.name!r} is not in the domain",
        )
    entities = json.dumps(body.entities, ensure_ascii=False) if body.entities else ""
    message = InboundMessage(
        channel=API_CHANNEL, conversation_id=conversation_id, sender_id=conversation_id,
        payload=sanitize(f"/{body.name}{entities}"),
    )  # fmt: skip
    result = await engine.handle_turn(message)
    tracker = await engine.load_tracker(conversation_id)
    return {
        "tracker": tracker_json(tracker, IncludeEvents.ALL),
        "messages": [m.to_rasa_dict(conversation_id) for m in result.messages],
    }


@router.put(
    "/model",
    status_code=204,
    response_class=Response,
    responses=error_responses(*AUTH, *BODY, 404),
    dependencies=JSON_BODY,
    summary="Load another model, or retrain from the project (hot reload, no dropped turns)",
)
async def replace_model(
    state: State,
    _: Annotated[Principal, Depends(require_roles("model_write"))],
    body: Annotated[ModelRequest | None, Body()] = None,
) -> Response:
    if body is not None and (body.model_server or body.remote_storage):
        raise ApiError(
            400,
            "unsupported",
            "暂不支持从模型服务器或远程存储加载模型。",
            "model_server and remote_storage are not supported",
        )
    if body is not None and body.model_file:
        await state.load_file(state.resolve_model_file(body.model_file))
    else:
        await state.retrain()
    return Response(status_code=204)


# --------------------------------------------------------------- helpers
def _check_length(text: str, state: ServerState) -> None:
    if len(text) > state.settings.max_message_chars:
        raise too_long(state.settings.max_message_chars)


def _unknown(conversation_id: str) -> ApiError:
    return ApiError(
        404,
        "conversation_not_found",
        "找不到该会话。",
        f"no conversation with id {conversation_id!r}",
    )


def tracker_json(tracker: Tracker, include: IncludeEvents) -> dict[str, Any]:
    out = tracker.to_rasa_dict()
    if include is IncludeEvents.NONE:
        out["events"] = None
    elif include is IncludeEvents.APPLIED:
        out["events"] = [e.to_dict() for e in applied_events(tracker.events)]
    elif include is IncludeEvents.AFTER_RESTART:
        starts = [i for i, e in enumerate(tracker.events) if isinstance(e, Restarted)]
        tail = tracker.events[starts[-1] :] if starts else tracker.events
        out["events"] = [e.to_dict() for e in tail]
    return out
