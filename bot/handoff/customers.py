"""Who the customer is: a stable id, the profile from the business database, and the
attributes agents' ratings give them (the "difficult" flag).

The id is the phone number when the conversation knows it (a slot such as `phone_number`, or
the number the profile lookup returns for a WeChat/WeCom user the business bound to it), so
the same person is recognised on the phone, on WeChat and on the web; else channel + sender.
The profile comes from the project's `handoff.profile` function ("module:function"), called
with `{"phone", "sender_id", "channel", "slots"}` and returning `{"name", "phone",
"vip_level", "attributes": {label: value}}` or None.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from bot.dialogue.tracker import Tracker
from bot.handoff.ratings import DifficultRule
from bot.handoff.store import HandoffStore
from bot.handoff.types import Customer

log = logging.getLogger(__name__)

ProfileLookup = Callable[[Mapping[str, Any]], Mapping[str, Any] | None]
PHONE_SLOTS = ("phone_number", "phone", "mobile", "caller_number")
_PHONE = re.compile(r"^\+?(?:86)?(1[3-9]\d{9})$")


def load_lookup(spec: str | None) -> ProfileLookup | None:
    """`"actions.profile:customer_profile"` → that function (None when not configured)."""
    if not spec:
        return None
    module, _, name = spec.partition(":")
    try:
        found = getattr(importlib.import_module(module), name or "customer_profile")
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"handoff.profile: cannot load {spec!r}: {exc}") from exc
    if not callable(found):
        raise ValueError(f"handoff.profile: {spec!r} is not a function")
    lookup: ProfileLookup = found
    return lookup


def phone_of(tracker: Tracker) -> str | None:
    for name in PHONE_SLOTS:
        value = tracker.slots.get(name)
        match = _PHONE.match(re.sub(r"[\s-]", "", str(value))) if value else None
        if match:
            return match.group(1)
    return None


class CustomerDirectory:
    def __init__(
        self, store: HandoffStore, rule: DifficultRule, lookup: ProfileLookup | None = None
    ) -> None:
        self.store = store
        self.rule = rule
        self.lookup = lookup

    async def identify(self, tracker: Tracker, channel: str | None) -> Customer:
        phone = phone_of(tracker)
        profile = await self._profile(tracker, channel, phone)
        bound = _PHONE.match(_str(profile.get("phone")) or "") if profile and not phone else None
        phone = bound.group(1) if bound else phone  # e.g. a WeChat user bound to a number
        customer_id = f"phone:{phone}" if phone else f"{channel or 'unknown'}:{tracker.sender_id}"
        known = await self.store.customer(customer_id) or Customer(customer_id, phone=phone)
        if profile:
            known = replace(
                known,
                name=_str(profile.get("name")) or known.name,
                phone=_str(profile.get("phone")) or known.phone,
                vip_level=_str(profile.get("vip_level")) or known.vip_level,
                attributes={**known.attributes, **_labels(profile.get("attributes"))},
            )
        await self.store.save_customer(known)
        return known

    async def _profile(
        self, tracker: Tracker, channel: str | None, phone: str | None
    ) -> Mapping[str, Any] | None:
        if self.lookup is None:
            return None
        query = {
            "phone": phone,
            "sender_id": tracker.sender_id,
            "channel": channel,
            "slots": {k: v for k, v in tracker.slots.items() if v is not None},
        }
        try:
            return await asyncio.to_thread(self.lookup, query)
        except Exception:
            log.exception("customer profile lookup failed")
            return None

    @staticmethod
    def profile_lines(customer: Customer) -> dict[str, str]:
        """The profile as the agent console shows it (Chinese labels)."""
        lines = {"客户编号": customer.customer_id}
        for label, value in (
            ("姓名", customer.name),
            ("手机号", customer.phone),
            ("会员等级", customer.vip_level),
        ):
            if value:
                lines[label] = value
        lines.update(customer.attributes)
        if customer.difficult:
            lines["客户标记"] = "难应付客户（由坐席评价累计，优先专家组）"
        return lines

    async def rerate(self, customer_id: str, now: float) -> Customer:
        """Apply the difficult rule to the customer's recent ratings; the updated customer."""
        ratings = await self.store.ratings_for(customer_id, since=self.rule.since(now))
        customer = await self.store.customer(customer_id) or Customer(customer_id)
        customer = replace(customer, difficult=self.rule.is_difficult(ratings, now))
        await self.store.save_customer(customer)
        return customer


def _str(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _labels(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): str(v) for k, v in value.items() if v not in (None, "")}
