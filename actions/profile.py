"""The customer profile the agent console shows on a handoff (`handoff.profile` in endpoints.yml).

Called by the handoff service with `{"phone", "sender_id", "channel", "slots"}`; returns the
customer as the business database knows them, or None when the conversation has no phone
number yet (or the number is not a customer). A WeChat/WeCom user the business bound to a phone
number is that customer on every channel.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actions.demo_db import bound_phone, get_customer

STATUS = {"active": "正常", "arrears": "欠费停机", "suspended": "停机保号", "lost": "挂失"}


def customer_profile(query: Mapping[str, Any]) -> dict[str, Any] | None:
    phone = query.get("phone") or bound_phone(query.get("channel"), str(query.get("sender_id")))
    customer = get_customer(str(phone)) if phone else None
    if customer is None:
        return None
    return {
        "name": customer.name,
        "phone": customer.phone,
        "vip_level": customer.vip_level,
        "attributes": {
            "城市": customer.city,
            "当前套餐": customer.plan.name,
            "账户余额": f"{customer.balance:.2f} 元",
            "本月已用流量": f"{customer.data_used_gb:g} GB",
            "账户状态": STATUS.get(customer.status, customer.status),
            "身份证后四位": customer.id_tail,
        },
    }
