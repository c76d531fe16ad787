"""小知的自定义动作 / Custom actions of 小知.

This file uses the standard `rasa_sdk` API, so it runs both in Zhike (in-process by
default) and on a Rasa action server (`python -m rasa_sdk --actions actions`).
Replace `DEMO_ORDERS` with a call to your own order system.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

# Demo data: order id -> (product, status, detail). A real bot would query a database or API.
DEMO_ORDERS: dict[str, tuple[str, str, str]] = {
    "DD20240001": ("无线蓝牙耳机", "已发货", "顺丰快递 SF1234567890，预计明天送达"),
    "DD20240002": ("保温杯（500ml）", "待发货", "仓库正在打包，预计 24 小时内发出"),
    "DD20240003": ("纯棉T恤 两件装", "已签收", "已于 3 月 12 日由本人签收"),
}


def normalize_order_id(raw: Any) -> str:
    """Upper-case and drop spaces, so that `dd 2024 0001` matches `DD20240001`."""
    return "".join(str(raw or "").split()).upper()


class ActionQueryOrder(Action):
    """Look up the order in `order_id` and tell the customer its status."""

    def name(self) -> str:
        return "action_query_order"

    def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> list[EventType]:
        order_id = normalize_order_id(tracker.get_slot("order_id"))
        order = DEMO_ORDERS.get(order_id)
        if order is None:
            dispatcher.utter_message(
                text=f"抱歉，没有查到订单 {order_id or '（空）'}。请您核对一下订单号，"
                "它以 DD 开头、后面是 8 位数字；如需帮助，也可以回复“转人工”。"
            )
        else:
            product, status, detail = order
            dispatcher.utter_message(
                text=f"您好，您的订单 {order_id}（{product}）当前状态：{status}，{detail}。"
            )
        # Clear the slot so that the next query asks for a new order id.
        return [SlotSet("order_id", None)]
