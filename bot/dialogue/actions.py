"""Actions: responses, Rasa's built-in actions, forms and custom actions, one registry."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.dialogue.custom_actions import ActionRunner
from bot.dialogue.events import (
    ActiveLoop,
    BotUttered,
    Event,
    Handoff,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
    event_from_dict,
)
from bot.dialogue.nlg import NLG
from bot.dialogue.tracker import Tracker
from bot.errors import ActionError
from bot.project.domain import REQUESTED_SLOT, SESSION_STARTED_METADATA, Domain

log = logging.getLogger(__name__)

ACTION_FAILED_ZH = (
    "抱歉，系统暂时出了点小问题，请您稍后再试；如需帮助，也可以回复“转人工”联系人工客服。"
)
ACTION_FAILED_EN = "Sorry, something went wrong on our side. Please try again in a moment."


@dataclass(slots=True)
class ActionContext:
    """What an action may use: explicit, nothing global."""

    tracker: Tracker
    domain: Domain
    nlg: NLG
    runner: ActionRunner | None = None
    channel: str | None = None
    language: str = "zh"
    extras: dict[str, Any] = field(default_factory=dict)

    def utter(self, name: str, **values: Any) -> list[Event]:
        event = self.nlg.render(name, self.tracker.slots, self.channel, values)
        return [event] if event is not None else []

    def failure_message(self) -> BotUttered:
        return BotUttered(
            text=ACTION_FAILED_ZH if self.language == "zh" else ACTION_FAILED_EN,
            metadata={"error": True},
        )

    async def call_custom(self, name: str, pending: list[Event] | None = None) -> list[Event]:
        """Run a custom action (raises ActionError); `pending` events are shown to it first."""
        if self.runner is None:
            raise ActionError(f"no action runner configured for {name!r}")
        tracker = self.tracker
        if pending:
            tracker = tracker.fork(pending)
        call = {
            "next_action": name,
            "sender_id": tracker.sender_id,
            "tracker": tracker.to_rasa_dict(),
            "domain": self.domain.as_rasa_dict(),
            "version": "3.6.0",
        }
        result = await self.runner.run(call)
        events: list[Event] = [self._bot_event(r) for r in result.responses]
        events.extend(event_from_dict(e) for e in result.events if isinstance(e, dict))
        return events

    def _bot_event(self, response: dict[str, Any]) -> BotUttered:
        name = response.get("response") or response.get("template")
        kwargs = {k: v for k, v in response.items() if k not in _MESSAGE_KEYS}
        event = (
            self.nlg.render(str(name), self.tracker.slots, self.channel, kwargs) if name else None
        )
        event = event or BotUttered()
        if response.get("text"):
            event.text = str(response["text"])
        for key in ("buttons", "image", "custom", "attachment", "elements", "quick_replies"):
            if response.get(key):
                event.data[key] = response[key]
        return event


_MESSAGE_KEYS = {
    "text",
    "buttons",
    "image",
    "custom",
    "attachment",
    "elements",
    "quick_replies",
    "response",
    "template",
    "recipient_id",
    "json_message",
}


class Action(ABC):
    def __init__(self, name: str) -> None:
        self.name = name

    @abstractmethod
    async def run(self, ctx: ActionContext) -> list[Event]: ...


class ResponseAction(Action):
    async def run(self, ctx: ActionContext) -> list[Event]:
        name = self.name
        base = name[len("utter_") :]
        if ctx.domain.is_retrieval_intent(base) and "/" not in base:
            latest = ctx.tracker.latest_message
            chosen = latest.parse_data.retrieval.get(base) if latest and latest.parse_data else None
            if chosen is None:
                return ctx.utter("utter_default")
            name = f"utter_{chosen.name}"
        return ctx.utter(name)


class CustomAction(Action):
    async def run(self, ctx: ActionContext) -> list[Event]:
        try:
            return await ctx.call_custom(self.name)
        except ActionError as exc:
            log.error("custom action failed: %s", exc)
            return [ctx.failure_message()]


class ListenAction(Action):
    async def run(self, ctx: ActionContext) -> list[Event]:
        return []


class RestartAction(Action):
    async def run(self, ctx: ActionContext) -> list[Event]:
        return [*ctx.utter("utter_restart"), Restarted()]


class SessionStartAction(Action):
    async def run(self, ctx: ActionContext) -> list[Event]:
        events: list[Event] = [SessionStarted()]
        if ctx.domain.session_config.carry_over_slots:
            events.extend(
                SlotSet(key=k, value=v)
                for k, v in ctx.tracker.slots.items()
                if v is not None
                and v != ctx.domain.slots[k].initial_value
                and k != REQUESTED_SLOT
                and k in ctx.domain.slots
            )
        metadata = ctx.extras.get("session_metadata")
        if metadata:
            events.append(SlotSet(key=SESSION_STARTED_METADATA, value=metadata))
        return events


class DefaultFallbackAction(Action):
    async def run(self, ctx: ActionContext) -> list[Event]:
        return [*ctx.utter("utter_default"), UserUtteranceReverted()]


class DeactivateLoopAction(Action):
    async def run(self, ctx: ActionContext) -> list[Event]:
        return [ActiveLoop(name=None), SlotSet(key=REQUESTED_SLOT, value=None)]


class BackAction(Action):
    async def run(self, ctx: ActionContext) -> list[Event]:
        return [*ctx.utter("utter_back"), UserUtteranceReverted(), UserUtteranceReverted()]


class AskRephraseAction(Action):
    async def run(self, ctx: ActionContext) -> list[Event]:
        return ctx.utter("utter_ask_rephrase")


class NoOpAction(Action):
    async def run(self, ctx: ActionContext) -> list[Event]:
        return []


class HandoffAction(Action):
    """Zhike: hand the conversation to a human (recorded as a `handoff` event)."""

    async def run(self, ctx: ActionContext) -> list[Event]:
        reason = str(ctx.extras.get("handoff_reason") or _handoff_reason(ctx.tracker))
        if ctx.extras.get("handoff_service"):  # the service tells the customer (queue, ticket)
            return [Handoff(reason=reason)]
        return [*ctx.utter("utter_handoff"), Handoff(reason=reason)]


HUMAN_INTENTS = {"request_human", "human_handoff", "handoff", "transfer_to_human", "talk_to_human"}
COMPLAINT_INTENTS = {"complaint", "complain"}


def _handoff_reason(tracker: Tracker) -> str:
    """Why a rule or story asked for a human: the customer's recent intents tell."""
    recent = [e.intent_name for e in tracker.session_events() if isinstance(e, UserUttered)][-3:]
    for intent in reversed(recent):
        if intent in HUMAN_INTENTS:
            return "customer_request"
        if intent in COMPLAINT_INTENTS:
            return "complaint"
    return "rule"


def builtin_actions() -> dict[str, Callable[[str], Action]]:
    from bot.dialogue.fallback import AskAffirmationAction, TwoStageFallbackAction

    return {
        "action_listen": ListenAction,
        "action_restart": RestartAction,
        "action_session_start": SessionStartAction,
        "action_default_fallback": DefaultFallbackAction,
        "action_deactivate_loop": DeactivateLoopAction,
        "action_deactivate_form": DeactivateLoopAction,
        "action_back": BackAction,
        "action_default_ask_rephrase": AskRephraseAction,
        "action_default_ask_affirmation": AskAffirmationAction,
        "action_two_stage_fallback": TwoStageFallbackAction,
        "action_revert_fallback_events": NoOpAction,
        "action_unlikely_intent": NoOpAction,
        "action_send_text": NoOpAction,
        "action_extract_slots": NoOpAction,
        "action_handoff": HandoffAction,
    }


def resolve_action(name: str, domain: Domain, runner: ActionRunner | None) -> Action:
    """Find the action called `name`: built-in, form, custom (if registered) or response."""
    from bot.dialogue.forms import FormAction

    builtins = builtin_actions()
    if name in builtins and not (
        runner is not None and name in domain.actions and runner.knows(name)
    ):
        return builtins[name](name)
    if name in domain.forms:
        return FormAction(name)
    if name in domain.actions and not name.startswith("utter_"):
        return CustomAction(name)
    if name.startswith("utter_"):
        return ResponseAction(name)
    return CustomAction(name)
