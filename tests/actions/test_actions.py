"""Run every custom action with rasa_sdk's Tracker and CollectingDispatcher on a temp demo DB."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from action_helpers import make_tracker, responses, slots_set, texts
from rasa_sdk import Action
from rasa_sdk.executor import CollectingDispatcher

from actions import demo_db
from actions.account import (
    ActionQueryBalance,
    ActionQueryBill,
    ActionQueryDataUsage,
    ActionQueryMyPlan,
    ActionQueryPoints,
    ActionRestoreService,
    ActionResumeQuery,
)
from actions.dialogue import ActionStopForm
from actions.normalize import parse_month
from actions.services import (
    ActionCancelPlanChange,
    ActionCreateRepairOrder,
    ActionListPlans,
    ActionRecharge,
    ActionReportLoss,
    ActionRoamingLink,
    ActionSubmitPlanChange,
)

pytestmark = pytest.mark.usefixtures("seeded")

ZHANG = "13812345678"  # 张伟, 金卡, balance 86.50, 5G畅享套餐 (40GB), 12.40GB used
CHEN = "17722223333"  # 陈静, arrears -23.60
ZHOU = "13698765432"  # 周婷, reported lost


async def run(
    action: Action, slots: dict[str, Any] | None = None, **kwargs: Any
) -> tuple[CollectingDispatcher, list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, make_tracker(slots, **kwargs), {})
    return dispatcher, events


async def test_balance_from_phone_slot() -> None:
    dispatcher, events = await run(ActionQueryBalance(), {"phone_number": ZHANG})
    assert texts(dispatcher) == ["张伟您好，您的号码 138****5678 当前话费余额为 86.50元。"]
    assert slots_set(events) == {"pending_query": None, "customer_tier": "金卡"}


async def test_balance_identifies_customer_by_sender_id() -> None:
    dispatcher, events = await run(ActionQueryBalance(), sender_id=ZHANG)
    assert "86.50元" in texts(dispatcher)[0]
    assert slots_set(events)["phone_number"] == ZHANG


async def test_wechat_user_bound_to_a_number_is_not_asked() -> None:
    openid, phone = demo_db.DEMO_BINDINGS[0][1:]
    events = [{"event": "user", "text": "查话费", "input_channel": "wechat"}]
    dispatcher, slots = await run(ActionQueryBalance(), sender_id=openid, events=events)
    assert slots_set(slots)["phone_number"] == phone
    assert "320.00元" in texts(dispatcher)[0]  # 王芳's balance
    web = [{"event": "user", "text": "查话费", "input_channel": "webchat"}]
    dispatcher, _ = await run(ActionQueryBalance(), sender_id=openid, events=web)
    assert responses(dispatcher) == ["utter_customer_not_found"]  # bound on WeChat only


async def test_unknown_sender_is_not_guessed() -> None:
    dispatcher, events = await run(ActionQueryBalance(), sender_id="13000000000")
    assert responses(dispatcher) == ["utter_customer_not_found"]
    assert "phone_number" not in slots_set(events)


async def test_balance_in_arrears_offers_recharge_buttons() -> None:
    dispatcher, _ = await run(ActionQueryBalance(), {"phone_number": CHEN})
    message = dispatcher.messages[0]
    assert "已欠费 23.60元" in message["text"]
    assert message["buttons"][0]["payload"] == '/recharge{"amount": "50"}'


async def test_data_usage() -> None:
    dispatcher, _ = await run(ActionQueryDataUsage(), {"phone_number": ZHANG})
    assert texts(dispatcher) == ["您本月套餐内含国内通用流量 40GB，已使用 12.40GB，剩余 27.60GB。"]


async def test_bill_defaults_to_last_month_and_clears_month() -> None:
    dispatcher, events = await run(ActionQueryBill(), {"phone_number": ZHANG})
    month = parse_month("上个月")
    assert month is not None
    label = f"{int(month[:4])}年{int(month[5:])}月"
    assert texts(dispatcher) == [
        f"您{label}的账单合计 135.50元，其中套餐月费 129.00元，其他费用 6.50元，已缴清。"
    ]
    assert slots_set(events)["month"] is None


async def test_bill_of_current_month_is_not_issued_yet() -> None:
    dispatcher, _ = await run(ActionQueryBill(), {"phone_number": ZHANG, "month": "本月"})
    assert texts(dispatcher)[0].startswith("本月账单还没有出账")


async def test_bill_outside_the_last_three_months() -> None:
    old_month = f"{(date.today().month - 5 - 1) % 12 + 1}月"
    dispatcher, _ = await run(ActionQueryBill(), {"phone_number": ZHANG, "month": old_month})
    assert "暂未查到" in texts(dispatcher)[0]


async def test_points_and_current_plan() -> None:
    dispatcher, _ = await run(ActionQueryPoints(), {"phone_number": ZHANG})
    assert "5820 分" in texts(dispatcher)[0]
    dispatcher, _ = await run(ActionQueryMyPlan(), {"phone_number": ZHANG})
    assert "「5G畅享套餐」" in texts(dispatcher)[0]


async def test_resume_query_answers_the_pending_question() -> None:
    slots = {"phone_number": ZHANG, "pending_query": "data_usage"}
    dispatcher, events = await run(ActionResumeQuery(), slots)
    assert "剩余 27.60GB" in texts(dispatcher)[0]
    assert slots_set(events)["pending_query"] is None


async def test_restore_depends_on_line_status() -> None:
    dispatcher, _ = await run(ActionRestoreService(), {"phone_number": ZHANG})
    assert "无需办理复机" in texts(dispatcher)[0]
    dispatcher, _ = await run(ActionRestoreService(), {"phone_number": CHEN})
    assert "欠费 23.60元" in texts(dispatcher)[0]
    dispatcher, _ = await run(ActionRestoreService(), {"phone_number": ZHOU})
    assert "营业厅" in texts(dispatcher)[0]
    verified = {"phone_number": ZHOU, "identity_verified": True}
    dispatcher, _ = await run(ActionRestoreService(), verified)
    assert "解除挂失并复机" in texts(dispatcher)[0]
    customer = demo_db.get_customer(ZHOU)
    assert customer is not None and customer.status == "active"


async def test_recharge_records_order_and_reports_new_balance() -> None:
    dispatcher, events = await run(ActionRecharge(), {"phone_number": ZHANG, "amount": 50.0})
    text = texts(dispatcher)[0]
    assert "充值 50.00元，当前余额 136.50元" in text
    assert f"订单号 CZ{date.today():%Y%m%d}" in text
    assert slots_set(events)["amount"] is None


async def test_recharge_brings_line_out_of_arrears() -> None:
    dispatcher, _ = await run(ActionRecharge(), {"phone_number": CHEN, "amount": "30"})
    assert "当前余额 6.40元" in texts(dispatcher)[0]
    assert "已自动恢复使用" in texts(dispatcher)[0]
    customer = demo_db.get_customer(CHEN)
    assert customer is not None and customer.status == "active"


async def test_recharge_without_amount_fails_politely() -> None:
    dispatcher, _ = await run(ActionRecharge(), {"phone_number": ZHANG})
    assert responses(dispatcher) == ["utter_recharge_failed"]


async def test_list_plans_catalogue_and_single_plan() -> None:
    dispatcher, _ = await run(ActionListPlans())
    assert texts(dispatcher)[0].count("\n") == 9  # header + 8 plans + closing line
    dispatcher, _ = await run(ActionListPlans(), {"plan": "5G尊享套餐"})
    message = dispatcher.messages[0]
    assert message["text"].startswith("「5G尊享套餐」月费199元")
    assert message["buttons"][0]["payload"] == '/change_plan{"plan": "5G尊享套餐"}'


async def test_submit_and_cancel_plan_change() -> None:
    slots = {"phone_number": ZHANG, "plan": "5G尊享套餐", "plan_confirmed": True}
    dispatcher, events = await run(ActionSubmitPlanChange(), slots)
    assert "下月1日起变更为「5G尊享套餐」，月费 199.00元" in texts(dispatcher)[0]
    assert f"受理单号 TC{date.today():%Y%m%d}" in texts(dispatcher)[0]
    assert slots_set(events)["plan"] is None
    dispatcher, events = await run(ActionCancelPlanChange(), slots)
    assert responses(dispatcher) == ["utter_plan_change_cancelled"]
    assert slots_set(events) == {"plan": None, "plan_confirmed": None}


async def test_repair_order_is_stored_with_number() -> None:
    slots = {
        "phone_number": ZHANG,
        "city": "北京",
        "district": "朝阳区",
        "address": "建国路88号3单元502",
        "fault_description": "光猫红灯闪，完全上不了网",
    }
    dispatcher, events = await run(ActionCreateRepairOrder(), slots)
    assert f"工单号 GD{date.today():%Y%m%d}" in texts(dispatcher)[0]
    assert "北京朝阳区建国路88号3单元502" in texts(dispatcher)[0]
    assert demo_db.count_work_orders(ZHANG) == 1
    assert slots_set(events)["fault_description"] is None


async def test_repair_order_with_missing_slots_is_refused() -> None:
    dispatcher, _ = await run(ActionCreateRepairOrder(), {"phone_number": ZHANG})
    assert responses(dispatcher) == ["utter_repair_failed"]
    assert demo_db.count_work_orders(ZHANG) == 0


async def test_report_loss_needs_verified_identity() -> None:
    dispatcher, events = await run(ActionReportLoss(), {"phone_number": ZHANG})
    assert responses(dispatcher) == ["utter_identity_check_failed"]
    assert slots_set(events) == {"id_tail": None, "id_check_attempts": 0.0}
    customer = demo_db.get_customer(ZHANG)
    assert customer is not None and customer.status == "active"

    verified = {"phone_number": ZHANG, "identity_verified": True}
    dispatcher, _ = await run(ActionReportLoss(), verified)
    assert "已为您办理号码 138****5678 的挂失停机" in texts(dispatcher)[0]
    customer = demo_db.get_customer(ZHANG)
    assert customer is not None and customer.status == "lost"
    dispatcher, _ = await run(ActionReportLoss(), verified)
    assert "此前已经挂失" in texts(dispatcher)[0]


async def test_roaming_link() -> None:
    dispatcher, events = await run(ActionRoamingLink(), {"country": "日本"})
    message = dispatcher.messages[0]
    assert "https://h5.example-telecom.cn/roaming?country=JP" in message["text"]
    assert "25.00元/天" in message["text"]
    assert message["custom"]["url"].endswith("country=JP")
    assert slots_set(events) == {"country": None}
    dispatcher, _ = await run(ActionRoamingLink(), {"country": "火星"})
    assert responses(dispatcher) == ["utter_roaming_unavailable"]


def _on(channel: str) -> list[dict[str, Any]]:
    return [{"event": "user", "text": "日本", "input_channel": channel}]


JAPAN_LINK = "https://h5.example-telecom.cn/roaming?country=JP"
SMS_SENTENCE = "挂机后我们会把资费详情链接通过短信发到您的手机上。"


async def test_roaming_on_the_phone_queues_the_link_as_an_sms_after_the_call() -> None:
    metadata = {"caller": "+8613812345678", "call_id": "call-1"}
    slots = {"country": "日本", "session_started_metadata": metadata}
    dispatcher, events = await run(ActionRoamingLink(), slots, events=_on("voice"))
    [said] = texts(dispatcher)
    assert SMS_SENTENCE in said and "25.00元/天" in said
    assert "http" not in said and not dispatcher.messages[0]["custom"]
    sms = {"channel": "sms", "to": ZHANG, "text": "【小知】国际漫游资费详情：", "url": JAPAN_LINK}
    assert slots_set(events) == {"country": None, "after_call_notices": [sms]}


async def test_roaming_on_the_phone_appends_to_queued_notices_and_prefers_the_phone_slot() -> None:
    earlier = {"channel": "wechat", "text": "x", "url": None}
    slots = {
        "country": "韩国",
        "phone_number": CHEN,
        "after_call_notices": [earlier],
        "session_started_metadata": {"caller": ZHANG},
    }
    _, events = await run(ActionRoamingLink(), slots, events=_on("voice"))
    queued = slots_set(events)["after_call_notices"]
    assert queued[0] == earlier
    assert queued[1]["to"] == CHEN and queued[1]["url"].endswith("country=KR")


async def test_roaming_on_the_phone_without_a_mobile_number_promises_no_sms() -> None:
    slots = {"country": "日本", "session_started_metadata": {"caller": "anonymous"}}
    dispatcher, events = await run(ActionRoamingLink(), slots, events=_on("voice"))
    [said] = texts(dispatcher)
    assert SMS_SENTENCE not in said and "手机营业厅App" in said and "http" not in said
    assert slots_set(events) == {"country": None}


async def test_roaming_on_the_web_shows_the_link_and_queues_nothing() -> None:
    slots = {"country": "日本", "session_started_metadata": {"caller": ZHANG}}
    dispatcher, events = await run(ActionRoamingLink(), slots, events=_on("web"))
    [said] = texts(dispatcher)
    assert JAPAN_LINK in said and SMS_SENTENCE not in said
    assert dispatcher.messages[0]["custom"]["url"] == JAPAN_LINK
    assert slots_set(events) == {"country": None}


async def test_stop_form_forgets_the_abandoned_request() -> None:
    events = [
        {"event": "active_loop", "name": "broadband_repair_form"},
        {"event": "active_loop", "name": None},
    ]
    dispatcher, result = await run(ActionStopForm(), events=events)
    assert responses(dispatcher) == ["utter_form_stopped"]
    assert set(slots_set(result)) == {"city", "district", "address", "fault_description"}
