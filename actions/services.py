"""Business actions that run after a form is submitted, plus the plan catalogue."""

from __future__ import annotations

from urllib.parse import urlencode

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import demo_db
from actions.identity import identity_events, resolve_customer
from actions.normalize import extract_mobile, mask_phone, parse_amount, yuan

ROAMING_H5 = "https://h5.example-telecom.cn/roaming"
ROAMING_SMS_TEXT = "【小知】国际漫游资费详情："
VOICE_CHANNEL = "voice"
NOTICES_SLOT = "after_call_notices"  # sent by the phone channel at hang-up (bot/notify.py)


def _reset(*slots: str) -> list[EventType]:
    return [SlotSet(slot, None) for slot in slots]


class ActionRecharge(Action):
    """Submit of ``recharge_form``: record a recharge order and report the new balance."""

    def name(self) -> str:
        return "action_recharge"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        customer = resolve_customer(tracker)
        amount = parse_amount(tracker.get_slot("amount"))
        if customer is None or amount is None:
            dispatcher.utter_message(response="utter_recharge_failed")
            return _reset("amount")
        order_no, balance = demo_db.recharge(customer.phone, amount)
        text = (
            f"充值成功！已为 {mask_phone(customer.phone)} 充值 {yuan(amount)}，"
            f"当前余额 {yuan(balance)}，订单号 {order_no}。"
        )
        if customer.status == "arrears" and balance >= 0:
            text += "您的号码已自动恢复使用。"
        dispatcher.utter_message(text=text)
        return [*_reset("amount"), *identity_events(tracker, customer)]


class ActionListPlans(Action):
    """Plan catalogue; with a ``plan`` slot, the details of that one plan."""

    def name(self) -> str:
        return "action_list_plans"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        name = tracker.get_slot("plan")
        plan = demo_db.get_plan(name) if name else None
        if plan is not None:
            dispatcher.utter_message(
                text=f"「{plan.name}」{plan.description}。需要为您办理吗？",
                buttons=[
                    {
                        "title": "办理这个套餐",
                        "payload": '/change_plan{"plan": "' + plan.name + '"}',
                    },
                    {"title": "看看其他套餐", "payload": "/query_plans"},
                ],
            )
            return []
        lines = [f"{i}. {p.name}：{p.description}" for i, p in enumerate(demo_db.list_plans(), 1)]
        dispatcher.utter_message(
            text="目前可以办理的套餐有：\n"
            + "\n".join(lines)
            + "\n想办理哪一个，直接告诉我就可以。",
            buttons=[{"title": "我要换套餐", "payload": "/change_plan"}],
        )
        return [SlotSet("plan", None)] if name else []


class ActionSubmitPlanChange(Action):
    """``change_plan_form`` confirmed: record a plan change effective next month."""

    def name(self) -> str:
        return "action_submit_plan_change"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        customer = resolve_customer(tracker)
        plan = demo_db.get_plan(tracker.get_slot("plan") or "")
        reset = _reset("plan", "plan_confirmed")
        if customer is None or plan is None:
            dispatcher.utter_message(response="utter_plan_change_failed")
            return reset
        order_no = demo_db.create_plan_change(customer.phone, plan)
        dispatcher.utter_message(
            text=(
                f"已为您提交套餐变更：{mask_phone(customer.phone)} 将于下月1日起变更为"
                f"「{plan.name}」，月费 {yuan(plan.monthly_fee)}。受理单号 {order_no}，"
                "办理结果稍后会以短信通知您。"
            )
        )
        return [*reset, *identity_events(tracker, customer)]


class ActionCancelPlanChange(Action):
    """``change_plan_form`` answered with "no": nothing is changed."""

    def name(self) -> str:
        return "action_cancel_plan_change"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        dispatcher.utter_message(response="utter_plan_change_cancelled")
        return _reset("plan", "plan_confirmed")


class ActionCreateRepairOrder(Action):
    """Submit of ``broadband_repair_form``: create a work order and give its number."""

    def name(self) -> str:
        return "action_create_repair_order"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        phone = extract_mobile(tracker.get_slot("phone_number"))
        district = tracker.get_slot("district")
        address = tracker.get_slot("address")
        fault = tracker.get_slot("fault_description")
        reset = _reset("city", "district", "address", "fault_description")
        if not (phone and district and address and fault):
            dispatcher.utter_message(response="utter_repair_failed")
            return reset
        city = tracker.get_slot("city") or ""
        wo_no = demo_db.create_work_order(phone, f"{city}{district}", address, fault)
        dispatcher.utter_message(
            text=(
                f"已为您登记宽带故障报修，工单号 {wo_no}。装维师傅会在24小时内联系您"
                f"（{mask_phone(phone)}），上门地址：{city}{district}{address}。请保持电话畅通，"
                "给您带来不便非常抱歉！"
            )
        )
        return reset


class ActionReportLoss(Action):
    """Submit of ``report_loss_form``: suspend the line once the ID check passed."""

    def name(self) -> str:
        return "action_report_loss"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        reset: list[EventType] = [SlotSet("id_tail", None), SlotSet("id_check_attempts", 0.0)]
        customer = resolve_customer(tracker)
        if customer is None or tracker.get_slot("identity_verified") is not True:
            dispatcher.utter_message(response="utter_identity_check_failed")
            return reset
        phone = mask_phone(customer.phone)
        if customer.status == "lost":
            dispatcher.utter_message(text=f"号码 {phone} 此前已经挂失，目前处于停机保护状态。")
            return reset
        order_no = demo_db.set_status(customer.phone, "lost")
        dispatcher.utter_message(
            text=(
                f"已为您办理号码 {phone} 的挂失停机，受理单号 {order_no}。挂失后该号码将暂停"
                "通话、短信和上网，避免被他人盗用。找回手机后可以随时说“复机”，"
                "或携带身份证到营业厅补卡。"
            )
        )
        return reset


class ActionRoamingLink(Action):
    """Submit of ``roaming_form``: price of the day pass and the H5 link to switch it on."""

    def name(self) -> str:
        return "action_roaming_link"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        rate = demo_db.get_roaming_rate(tracker.get_slot("country") or "")
        if rate is None:
            dispatcher.utter_message(response="utter_roaming_unavailable")
            return _reset("country")
        link = f"{ROAMING_H5}?{urlencode({'country': rate.code})}"
        offer = (
            f"「{rate.country}」的国际漫游日包为 {yuan(rate.daily_fee)}/天，"
            f"每天含 {rate.daily_gb:g}GB 高速流量，按使用天数收费。"
        )
        tip = "建议出发前开通，到达后记得打开手机的“数据漫游”开关。"
        if tracker.get_latest_input_channel() == VOICE_CHANNEL:  # a link cannot be read out
            return _link_after_call(dispatcher, tracker, (offer, tip), link)
        dispatcher.utter_message(
            text=f"{offer}点击链接即可开通：{link}。{tip}",
            json_message={"type": "link", "url": link, "country": rate.country},
        )
        return _reset("country")


def _link_after_call(
    dispatcher: CollectingDispatcher, tracker: Tracker, says: tuple[str, str], link: str
) -> list[EventType]:
    """On the phone: queue the link as an SMS sent after the call (bot/notify.py), or point
    to the app when there is no mobile number to text."""
    offer, tip = says
    phone = _sms_number(tracker)
    if phone is None:
        dispatcher.utter_message(text=f"{offer}您可以在手机营业厅App搜索“国际漫游”开通。{tip}")
        return _reset("country")
    dispatcher.utter_message(text=f"{offer}挂机后我们会把资费详情链接通过短信发到您的手机上。{tip}")
    notice = {"channel": "sms", "to": phone, "text": ROAMING_SMS_TEXT, "url": link}
    queued = list(tracker.get_slot(NOTICES_SLOT) or [])
    return [*_reset("country"), SlotSet(NOTICES_SLOT, [*queued, notice])]


def _sms_number(tracker: Tracker) -> str | None:
    """The mobile to text after the call: slot ``phone_number``, else the phone channel's
    caller id (session metadata ``caller``)."""
    metadata = tracker.get_slot("session_started_metadata") or {}
    caller = metadata.get("caller") if isinstance(metadata, dict) else None
    for candidate in (tracker.get_slot("phone_number"), caller):
        phone = extract_mobile(str(candidate or "").strip().removeprefix("+86"))
        if phone:
            return phone
    return None
