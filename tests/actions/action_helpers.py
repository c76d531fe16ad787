"""Building rasa_sdk trackers for action tests."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher


def make_tracker(
    slots: dict[str, Any] | None = None,
    *,
    sender_id: str = "web-user-1",
    intent: str = "inform",
    text: str = "",
    events: list[dict[str, Any]] | None = None,
    active_loop: str | None = None,
    intent_ranking: list[dict[str, Any]] | None = None,
) -> Tracker:
    latest = {
        "intent": {"name": intent, "confidence": 0.9},
        "entities": [],
        "text": text,
        "intent_ranking": intent_ranking or [{"name": intent, "confidence": 0.9}],
    }
    return Tracker(
        sender_id,
        dict(slots or {}),
        latest,
        list(events or []),
        False,
        None,
        {"name": active_loop} if active_loop else {},
        "action_listen",
    )


def slot_events(**slots: Any) -> list[dict[str, Any]]:
    """SlotSet events as the form appends them before calling its validation action."""
    return [{"event": "slot", "name": k, "value": v} for k, v in slots.items()]


def texts(dispatcher: CollectingDispatcher) -> list[str]:
    return [m.get("text") or "" for m in dispatcher.messages]


def responses(dispatcher: CollectingDispatcher) -> list[str]:
    return [m.get("response") or "" for m in dispatcher.messages]


def slots_set(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
