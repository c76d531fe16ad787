"""Two-stage fallback (Rasa's `action_two_stage_fallback`), as a loop.

1. The bot did not understand: it offers the most likely intents as buttons
   (“您是想问以下哪个问题？”) plus “都不是”.
2. The customer picks one: the original message is replaced by the clarified intent and the
   conversation goes on as if it had been understood. “都不是”: the bot asks to rephrase.
3. A rephrase that is understood goes on the same way; one that is not ends the loop with a
   handoff to a human (`{"event": "handoff", "reason": "fallback"}`).
"""

from __future__ import annotations

from bot.dialogue.actions import Action, ActionContext, HandoffAction
from bot.dialogue.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    Event,
    UserUtteranceReverted,
    UserUttered,
)
from bot.dialogue.tracker import ACTION_LISTEN
from bot.nlu.types import IntentScore, ParseResult
from bot.project.domain import DEFAULT_INTENTS

NAME = "action_two_stage_fallback"
NOT_UNDERSTOOD = {"nlu_fallback", "out_of_scope", "deny"}
NONE_OF_THESE = {"zh": "都不是", "en": "None of these"}
MAX_CHOICES = 3


def affirmation_buttons(ctx: ActionContext) -> list[dict[str, str]]:
    """Top intents of the latest message as buttons (labelled by a typical example)."""
    latest = ctx.tracker.latest_message
    ranking = latest.parse_data.ranking if latest and latest.parse_data else []
    labels: dict[str, str] = ctx.extras.get("intent_labels", {})
    buttons = []
    for score in ranking:
        if score.name in DEFAULT_INTENTS or score.name in NOT_UNDERSTOOD:
            continue
        buttons.append({"title": labels.get(score.name, score.name), "payload": f"/{score.name}"})
        if len(buttons) == MAX_CHOICES:
            break
    buttons.append(
        {"title": NONE_OF_THESE.get(ctx.language, "None of these"), "payload": "/out_of_scope"}
    )
    return buttons


class AskAffirmationAction(Action):
    async def run(self, ctx: ActionContext) -> list[Event]:
        event = ctx.nlg.render("utter_ask_affirmation", ctx.tracker.slots, ctx.channel)
        event = event or BotUttered(text="")
        event.data["buttons"] = affirmation_buttons(ctx)
        event.metadata["stage"] = "affirm"
        return [event]


def _loop_history(ctx: ActionContext) -> tuple[list[UserUttered], list[str]]:
    """User messages and stages since the loop started (the first user message included)."""
    users: list[UserUttered] = []
    stages: list[str] = []
    events = ctx.tracker.session_events()
    start = max(
        (i for i, e in enumerate(events) if isinstance(e, ActiveLoop) and e.name == NAME),
        default=None,
    )
    if start is None:
        return users, stages
    first = max((i for i in range(start) if isinstance(events[i], UserUttered)), default=start)
    for event in events[first:]:
        if isinstance(event, UserUttered):
            users.append(event)
        elif isinstance(event, BotUttered) and event.metadata.get("stage"):
            stages.append(str(event.metadata["stage"]))
    return users, stages


def _clarified(ctx: ActionContext, users: list[UserUttered]) -> list[Event]:
    """Undo the fallback turns and replay the message with the intent now known."""
    latest = users[-1]
    original = users[0]
    parse = latest.parse_data or ParseResult(text=latest.text or "", intent=IntentScore("", 1.0))
    clarified_intent = IntentScore(parse.intent.name, 1.0)
    text = original.text if latest.text and latest.text.startswith("/") else latest.text
    new_parse = ParseResult(
        text=text or "",
        intent=clarified_intent,
        ranking=[clarified_intent],
        entities=list(parse.entities),
        retrieval=dict(parse.retrieval),
    )
    reverts: list[Event] = [UserUtteranceReverted() for _ in users]
    replay = UserUttered(
        text=text,
        parse_data=new_parse,
        input_channel=latest.input_channel,
        metadata={"clarified_from": original.text},
    )
    return [ActiveLoop(name=None), *reverts, ActionExecuted(name=ACTION_LISTEN), replay]


class TwoStageFallbackAction(Action):
    async def run(self, ctx: ActionContext) -> list[Event]:
        if ctx.tracker.active_loop != NAME:
            from bot.dialogue.actions import resolve_action

            ask = resolve_action("action_default_ask_affirmation", ctx.domain, ctx.runner)
            return [ActiveLoop(name=NAME), *await ask.run(ctx)]
        users, stages = _loop_history(ctx)
        intent = ctx.tracker.latest_intent or "nlu_fallback"
        if intent not in NOT_UNDERSTOOD and len(users) > 1:
            return _clarified(ctx, users)
        if "rephrase" not in stages:
            event = ctx.nlg.render("utter_ask_rephrase", ctx.tracker.slots, ctx.channel)
            event = event or BotUttered(text="")
            event.metadata["stage"] = "rephrase"
            return [event]
        ctx.extras.setdefault("handoff_reason", "fallback")
        return [ActiveLoop(name=None), *await HandoffAction("action_handoff").run(ctx)]
