"""Who the customer is: the phone number (slot, or bound to a WeChat user) across channels."""

from __future__ import annotations

from typing import Any

from bot.handoff.config import handoff_settings
from bot.handoff.customers import CustomerDirectory
from bot.handoff.store import HandoffStore

from .test_service import SECTION, tracker

BOUND = {"o-wang": {"name": "王芳", "phone": "13912345678", "vip_level": "钻石"}}


def lookup(query: dict[str, Any]) -> dict[str, Any] | None:
    return BOUND.get(query["sender_id"]) if query["channel"] == "wechat" else None


async def test_a_bound_wechat_user_is_the_phone_customer() -> None:
    store = HandoffStore(":memory:")
    directory = CustomerDirectory(store, handoff_settings(SECTION).difficult, lookup)
    on_wechat = await directory.identify(tracker("o-wang"), "wechat")
    assert on_wechat.customer_id == "phone:13912345678" and on_wechat.vip_level == "钻石"
    on_phone = await directory.identify(tracker("call-1", phone="13912345678"), "voice")
    assert on_phone.customer_id == on_wechat.customer_id  # one customer on both channels
    stranger = await directory.identify(tracker("o-new"), "wechat")
    assert stranger.customer_id == "wechat:o-new" and stranger.phone is None
    await store.close()
