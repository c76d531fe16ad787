"""Account queries: balance, data usage, bill, points, current plan, restore service.

Each query is a small handler ``(customer, tracker) -> Reply`` kept in a registry, so the same
code answers when the customer was already known (``action_query_*``, right after
``query_form`` completed on activation) and after the phone number had to be asked
(``action_resume_query``, which reads slot ``pending_query``; see ``actions.identity``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import demo_db
from actions.identity import identity_events, resolve_customer
from actions.normalize import mask_phone, month_label, parse_month, yuan

RECHARGE_BUTTONS = [
    {"title": "充50元", "payload": '/recharge{"amount": "50"}'},
    {"title": "充100元", "payload": '/recharge{"amount": "100"}'},
    {"title": "充200元", "payload": '/recharge{"amount": "200"}'},
]
LOW_BALANCE = 20.0


@dataclass
class Reply:
    text: str
    buttons: list[dict[str, Any]] = field(default_factory=list)
    events: list[EventType] = field(default_factory=list)


def _balance(customer: demo_db.Customer, tracker: Tracker) -> Reply:
    phone = mask_phone(customer.phone)
    if customer.balance < 0:
        return Reply(
            f"{customer.name}您好，您的号码 {phone} 目前已欠费 {yuan(-customer.balance)}，"
            "号码处于欠费停机状态。充值到账后会自动为您复机，需要现在充值吗？",
            RECHARGE_BUTTONS,
        )
    text = f"{customer.name}您好，您的号码 {phone} 当前话费余额为 {yuan(customer.balance)}。"
    if customer.balance < LOW_BALANCE:
        return Reply(text + "余额不太多了，需要帮您充值吗？", RECHARGE_BUTTONS)
    return Reply(text)


def _data_usage(customer: demo_db.Customer, tracker: Tracker) -> Reply:
    total, used = customer.plan.data_gb, customer.data_used_gb
    head = f"您本月套餐内含国内通用流量 {total:g}GB，已使用 {used:.2f}GB，"
    if used > total:
        return Reply(
            head + f"已超出 {used - total:.2f}GB。建议您办理流量包或升级套餐，更划算哦。",
            [{"title": "看看有哪些套餐", "payload": "/query_plans"}],
        )
    return Reply(head + f"剩余 {total - used:.2f}GB。")


def _bill(customer: demo_db.Customer, tracker: Tracker) -> Reply:
    today = date.today()
    month = parse_month(tracker.get_slot("month"), today) or parse_month("上个月", today)
    assert month is not None
    reset: list[EventType] = [SlotSet("month", None)]
    if month == parse_month("本月", today):
        return Reply(
            f"本月账单还没有出账哦，出账后可再来查询。您的套餐月费为 "
            f"{yuan(customer.plan.monthly_fee)}，目前余额 {yuan(customer.balance)}。",
            events=reset,
        )
    bill = demo_db.get_bill(customer.phone, month)
    if bill is None:
        return Reply(
            f"抱歉，暂未查到{month_label(month)}的账单。目前支持查询最近三个月的账单，"
            "更早的账单可以在营业厅或 App 中查询。",
            events=reset,
        )
    paid = "已缴清" if bill.paid else "尚未缴清，请您及时充值"
    return Reply(
        f"您{month_label(month)}的账单合计 {yuan(bill.total)}，其中套餐月费 "
        f"{yuan(bill.plan_fee)}，其他费用 {yuan(bill.extra_fee)}，{paid}。",
        events=reset,
    )


def _points(customer: demo_db.Customer, tracker: Tracker) -> Reply:
    return Reply(
        f"您当前的可用积分为 {customer.points} 分（{customer.vip_level}会员），"
        "可以在 App 的「积分商城」兑换话费、流量包和生活权益。"
    )


def _my_plan(customer: demo_db.Customer, tracker: Tracker) -> Reply:
    plan = customer.plan
    return Reply(
        f"您当前使用的是「{plan.name}」：{plan.description}。如需变更，可以说“换套餐”。",
        [{"title": "我要换套餐", "payload": "/change_plan"}],
    )


def _restore(customer: demo_db.Customer, tracker: Tracker) -> Reply:
    phone = mask_phone(customer.phone)
    if customer.status == "active":
        return Reply(f"您的号码 {phone} 目前状态正常，可以正常使用，无需办理复机哦。")
    if customer.status == "arrears":
        if customer.balance < 0:
            return Reply(
                f"您的号码 {phone} 因欠费停机，目前欠费 {yuan(-customer.balance)}。"
                "充值补足欠费后系统会自动为您复机，需要现在充值吗？",
                RECHARGE_BUTTONS,
            )
        order_no = demo_db.set_status(customer.phone, "active")
        return Reply(f"已为您的号码 {phone} 办理复机，受理单号 {order_no}，稍后即可正常使用。")
    if tracker.get_slot("identity_verified") is True:
        order_no = demo_db.set_status(customer.phone, "active")
        return Reply(
            f"身份已核验，已为您的号码 {phone} 解除挂失并复机，受理单号 {order_no}。"
            "如手机卡也一并丢失，请携带身份证到营业厅补办新卡。"
        )
    return Reply(
        f"您的号码 {phone} 目前处于挂失状态。为保障您的账户安全，挂失号码复机需要核验机主身份，"
        "请您携带机主有效身份证件到就近营业厅办理，如手机卡丢失也可同时补卡。"
    )


Handler = Callable[[demo_db.Customer, Tracker], Reply]

QUERY_HANDLERS: dict[str, Handler] = {
    "balance": _balance,
    "data_usage": _data_usage,
    "bill": _bill,
    "points": _points,
    "my_plan": _my_plan,
    "restore": _restore,
}


def answer(
    key: str, customer: demo_db.Customer, tracker: Tracker, dispatcher: CollectingDispatcher
) -> list[EventType]:
    """Run the handler ``key`` and send its reply; returns its events."""
    reply = QUERY_HANDLERS[key](customer, tracker)
    dispatcher.utter_message(text=reply.text, buttons=reply.buttons or None)
    return identity_events(tracker, customer) + reply.events


class AccountQueryAction(Action, ABC):
    """Answers one account query once ``query_form`` has identified the customer."""

    @abstractmethod
    def query_key(self) -> str:
        """Key of the handler in ``QUERY_HANDLERS``."""

    def name(self) -> str:
        return f"action_query_{self.query_key()}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        customer = resolve_customer(tracker)
        if customer is None:
            dispatcher.utter_message(response="utter_customer_not_found")
            return [SlotSet("pending_query", None)]
        return [
            SlotSet("pending_query", None),
            *answer(self.query_key(), customer, tracker, dispatcher),
        ]


class ActionQueryBalance(AccountQueryAction):
    def query_key(self) -> str:
        return "balance"


class ActionQueryDataUsage(AccountQueryAction):
    def query_key(self) -> str:
        return "data_usage"


class ActionQueryBill(AccountQueryAction):
    def query_key(self) -> str:
        return "bill"


class ActionQueryPoints(AccountQueryAction):
    def query_key(self) -> str:
        return "points"


class ActionQueryMyPlan(AccountQueryAction):
    def query_key(self) -> str:
        return "my_plan"


class ActionRestoreService(AccountQueryAction):
    def query_key(self) -> str:
        return "restore"

    def name(self) -> str:
        return "action_restore_service"


class ActionResumeQuery(Action):
    """After ``query_form``: answer the query that was waiting for the phone number."""

    def name(self) -> str:
        return "action_resume_query"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        key = tracker.get_slot("pending_query")
        customer = resolve_customer(tracker)
        if customer is None:
            dispatcher.utter_message(response="utter_customer_not_found")
            return [SlotSet("pending_query", None)]
        if key not in QUERY_HANDLERS:
            dispatcher.utter_message(response="utter_identity_confirmed")
            return [SlotSet("pending_query", None), *identity_events(tracker, customer)]
        return [SlotSet("pending_query", None), *answer(key, customer, tracker, dispatcher)]
