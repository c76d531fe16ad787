"""Forms (Rasa's `FormAction`): activate, validate what the user gave, ask for the next slot."""

from __future__ import annotations

from bot.dialogue.actions import Action, ActionContext
from bot.dialogue.events import (
    ActionExecutionRejected,
    ActiveLoop,
    Event,
    SlotSet,
)
from bot.dialogue.tracker import ACTION_LISTEN
from bot.errors import ActionError
from bot.project.domain import REQUESTED_SLOT


class ActionRejected(Exception):
    """The action declines to run now (Rasa's ActionExecutionRejection)."""


class FormAction(Action):
    async def run(self, ctx: ActionContext) -> list[Event]:
        tracker = ctx.tracker
        events: list[Event] = []
        if tracker.active_loop != self.name:
            events.append(ActiveLoop(name=self.name))
            prefilled = [
                SlotSet(key=s, value=tracker.slots[s])
                for s in self.required_slots(ctx)
                if tracker.slots.get(s) is not None
            ]
            # as in Rasa 3, activation runs the form's validation action even with nothing
            # prefilled: its `extract_<slot>` methods may fill slots (e.g. from the sender id)
            if prefilled or f"validate_{self.name}" in ctx.domain.actions:
                validated = await self._validate(ctx, events, prefilled)
                events.extend(e for e in validated if not isinstance(e, ActionExecutionRejected))
        elif tracker.latest_action_name == ACTION_LISTEN:
            extracted = [
                SlotSet(key=e.key, value=e.value)
                for e in tracker.events_after_latest_user()
                if isinstance(e, SlotSet) and e.key != REQUESTED_SLOT
            ]
            validation = await self._validate(ctx, events, extracted)
            filled = any(isinstance(e, SlotSet) and e.key != REQUESTED_SLOT for e in validation)
            rejected = any(isinstance(e, ActionExecutionRejected) for e in validation)
            if rejected or (not filled and not tracker.loop_interrupted):
                raise ActionRejected(self.name)
            events.extend(validation)
        if any(isinstance(e, ActiveLoop) and e.name is None for e in events):
            return events
        return events + await self._next_step(ctx, events)

    async def _validate(
        self, ctx: ActionContext, pending: list[Event], candidates: list[SlotSet]
    ) -> list[Event]:
        """Run `validate_<form>` if the domain declares it; else accept the candidates."""
        validator = f"validate_{self.name}"
        if validator not in ctx.domain.actions:
            return list(candidates)
        try:
            return await ctx.call_custom(validator, [*pending, *candidates])
        except ActionError:
            return [
                ctx.failure_message(),
                ActiveLoop(name=None),
                SlotSet(key=REQUESTED_SLOT, value=None),
            ]

    def required_slots(self, ctx: ActionContext) -> list[str]:
        return list(ctx.domain.forms[self.name].required_slots)

    async def _next_step(self, ctx: ActionContext, pending: list[Event]) -> list[Event]:
        slots = dict(ctx.tracker.slots)
        requested_override: tuple[bool, str | None] = (False, None)
        for e in pending:
            if isinstance(e, SlotSet):
                slots[e.key] = e.value
                if e.key == REQUESTED_SLOT:
                    requested_override = (True, e.value)
        if requested_override[0]:
            nxt = requested_override[1]
        else:
            nxt = next((s for s in self.required_slots(ctx) if slots.get(s) is None), None)
        if nxt is None:
            return [ActiveLoop(name=None), SlotSet(key=REQUESTED_SLOT, value=None)]
        ask = await self._ask(ctx, nxt, pending)
        return [*ask, SlotSet(key=REQUESTED_SLOT, value=nxt)]

    async def _ask(self, ctx: ActionContext, slot: str, pending: list[Event]) -> list[Event]:
        for name in (f"action_ask_{self.name}_{slot}", f"action_ask_{slot}"):
            if name in ctx.domain.actions:
                try:
                    return await ctx.call_custom(name, pending)
                except ActionError:
                    return [ctx.failure_message()]
        for name in (f"utter_ask_{self.name}_{slot}", f"utter_ask_{slot}"):
            if name in ctx.domain.responses:
                return ctx.utter(name)
        return []
