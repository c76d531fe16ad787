"""Dialogue helpers: leaving a form, and the affirmation step of the two-stage fallback."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

# Slots that belong to one request and are forgotten when the user abandons its form.
# phone_number is kept: it identifies the customer for the rest of the conversation.
FORM_SCRATCH_SLOTS: dict[str, tuple[str, ...]] = {
    "query_form": ("pending_query",),
    "recharge_form": ("amount",),
    "change_plan_form": ("plan", "plan_confirmed"),
    "broadband_repair_form": ("city", "district", "address", "fault_description"),
    "report_loss_form": ("id_tail", "id_check_attempts"),
    "roaming_form": ("country",),
}


def _last_active_loop(tracker: Tracker) -> str | None:
    for event in reversed(tracker.events):
        if event.get("event") == "active_loop" and event.get("name"):
            return str(event["name"])
    return None


class ActionStopForm(Action):
    """After ``action_deactivate_loop``: forget the abandoned request and say so."""

    def name(self) -> str:
        return "action_stop_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        dispatcher.utter_message(response="utter_form_stopped")
        slots = FORM_SCRATCH_SLOTS.get(_last_active_loop(tracker) or "", ())
        return [SlotSet(slot, None) for slot in slots]
