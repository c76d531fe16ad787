"""Who is the customer? One rule for every action of the reference bot.

Resolution order:

1. Slot ``phone_number`` - filled from the ``phone_number`` entity anywhere in the conversation,
   or by a form that asked for it.
2. The conversation's sender id, when it is a mainland mobile number known to the demo DB
   (a logged-in app user), the caller id the phone channel puts in the session metadata
   (`caller`), or a WeChat openid / WeCom
   external_userid the business bound to a phone number (``channel_bindings``). Nothing is
   asked then.
3. Otherwise the customer is unknown and the bot asks.

How this is wired in the dialogue (plain Rasa 3.x):

* Account queries (balance, data, bill, points, current plan, restore) always start the small
  ``query_form`` (required slot: ``phone_number``). Its validation action pre-fills the slot
  from a known sender id (``extract_phone_number``), so when the customer is known the form
  completes on activation and a rule runs ``action_query_<what>`` straight away. Otherwise the
  form asks; slot ``pending_query`` (a ``from_intent`` mapping) remembers what was asked, and
  after submission ``action_resume_query`` answers it.
* Forms that need the customer (recharge, change plan, broadband repair) list ``phone_number``
  as a required slot with the same sender-id pre-fill, so a known caller is never asked.
* ``report_loss_form`` always asks which number to suspend (the lost phone is rarely the one
  calling) and then checks the ID-card tail.

Actions never raise for an unknown customer: they answer politely instead.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet

from actions import demo_db
from actions.normalize import extract_mobile


def sender_phone(tracker: Tracker) -> str | None:
    """The caller's number (the sender id, or the phone channel's `caller` in the session
    metadata) or the number bound to a WeChat user, when it is a known customer's."""
    metadata = tracker.get_slot("session_started_metadata") or {}
    caller = metadata.get("caller") if isinstance(metadata, dict) else None
    for candidate in (str(tracker.sender_id), str(caller or "")):
        phone = extract_mobile(candidate)
        if phone and phone == candidate.strip() and demo_db.get_customer(phone):
            return phone
    bound = demo_db.bound_phone(tracker.get_latest_input_channel(), str(tracker.sender_id))
    return bound if bound and demo_db.get_customer(bound) else None


def resolve_customer(tracker: Tracker) -> demo_db.Customer | None:
    """Customer from slot ``phone_number``, else from the sender id, else None."""
    phone = extract_mobile(tracker.get_slot("phone_number")) or sender_phone(tracker)
    return demo_db.get_customer(phone) if phone else None


def identity_events(tracker: Tracker, customer: demo_db.Customer) -> list[EventType]:
    """Remember the resolved customer in slots (phone number and VIP tier)."""
    events: list[EventType] = []
    if tracker.get_slot("phone_number") != customer.phone:
        events.append(SlotSet("phone_number", customer.phone))
    if tracker.get_slot("customer_tier") != customer.vip_level:
        events.append(SlotSet("customer_tier", customer.vip_level))
    return events


def prefill_phone_from_sender(tracker: Tracker) -> dict[str, Any]:
    """For ``extract_phone_number`` in form validation actions: use a known sender id."""
    if tracker.get_slot("phone_number"):
        return {}
    phone = sender_phone(tracker)
    return {"phone_number": phone} if phone else {}
