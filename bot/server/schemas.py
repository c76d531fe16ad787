"""Request and response bodies of the HTTP API (they are the OpenAPI contract)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.server.errors import ApiError


class ErrorBody(BaseModel):
    error: str = Field(description="Stable machine-readable code, e.g. `invalid_token`.")
    message_zh: str
    message_en: str
    details: list[dict[str, Any]] | None = None


_ERROR_TEXT = {
    400: "Bad request (e.g. broken JSON)",
    401: "Missing or invalid token",
    403: "The token's role may not do this",
    404: "Not found",
    409: "Conflict",
    413: "Body or message too large",
    415: "Content-Type must be application/json",
    422: "Invalid request",
    503: "Temporarily unavailable (store, busy conversation)",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the given error statuses."""
    return {c: {"model": ErrorBody, "description": _ERROR_TEXT[c]} for c in codes}


class Flexible(BaseModel):
    model_config = ConfigDict(extra="allow")


# ------------------------------------------------------------------- NLU
class ParseRequest(BaseModel):
    text: str = Field(description="The message to understand.")
    message_id: str | None = None


class IntentOut(BaseModel):
    name: str | None
    confidence: float


class ParseResponse(Flexible):
    text: str
    intent: IntentOut
    entities: list[dict[str, Any]]
    intent_ranking: list[IntentOut]
    response_selector: dict[str, Any] | None = None


# -------------------------------------------------------------- trackers
class TrackerResponse(Flexible):
    sender_id: str
    slots: dict[str, Any]
    latest_message: dict[str, Any]
    latest_event_time: float | None
    followup_action: str | None
    paused: bool
    events: list[dict[str, Any]] | None
    latest_input_channel: str | None
    active_loop: dict[str, Any]
    latest_action: dict[str, Any]
    latest_action_name: str | None


class UserMessageRequest(BaseModel):
    text: str
    sender: Literal["user"] = Field("user", description="Only user messages can be added.")
    parse_data: dict[str, Any] | None = Field(
        None, description="Accepted for Rasa compatibility; the text is always parsed."
    )


class TriggerIntentRequest(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="An intent of the domain.")
    entities: dict[str, Any] | None = None


class BotMessage(BaseModel):
    """One bot message in Rasa's REST channel shape."""

    recipient_id: str
    text: str | None = None
    buttons: list[dict[str, Any]] | None = None
    image: str | None = None
    custom: Any = None


class TriggerIntentResponse(BaseModel):
    tracker: TrackerResponse
    messages: list[BotMessage]


# ----------------------------------------------------------------- model
class ModelRequest(BaseModel):
    model_file: str | None = Field(
        None, description="A model file under the project or models folder; empty: retrain."
    )
    model_server: dict[str, Any] | None = Field(None, description="Not supported.")
    remote_storage: str | None = Field(None, description="Not supported.")


class StatusResponse(BaseModel):
    model_id: str | None
    model_file: str | None
    fingerprint: dict[str, Any]
    num_active_training_jobs: int
    language: str
    trained_at: float
    zhike_version: str
    uptime_seconds: float


class VersionResponse(BaseModel):
    version: str
    minimum_compatible_version: str
    rasa_compatible: str


# ---------------------------------------------------------------- health
class StoreHealth(BaseModel):
    reachable: bool
    error: str | None = None


class HealthResponse(BaseModel):
    status: Literal["ok", "unavailable"]
    live: bool
    ready: bool
    model_loaded: bool
    model_id: str | None
    store: StoreHealth
    active_turns: int


def too_long(limit: int) -> ApiError:
    return ApiError(
        413,
        "message_too_long",
        f"消息太长了，请控制在 {limit} 个字以内。",
        f"message too long (limit {limit} characters)",
    )
