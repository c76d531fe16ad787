"""Form validation actions, run through rasa_sdk's FormValidationAction machinery."""

from __future__ import annotations

from typing import Any

import pytest
from action_helpers import make_tracker, slot_events, slots_set, texts
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction

from actions.forms import (
    ValidateBroadbandRepairForm,
    ValidateChangePlanForm,
    ValidateQueryForm,
    ValidateRechargeForm,
    ValidateReportLossForm,
    ValidateRoamingForm,
)

pytestmark = pytest.mark.usefixtures("seeded")

ZHANG = "13812345678"  # 张伟, ID tail 123456, on 5G畅享套餐
WANG = "13912345678"  # 王芳, ID tail 20001X


async def validate(
    action: FormValidationAction,
    domain: dict[str, Any],
    candidates: dict[str, Any],
    slots: dict[str, Any] | None = None,
    sender_id: str = "web-user-1",
) -> tuple[CollectingDispatcher, dict[str, Any]]:
    form = action.name().removeprefix("validate_")
    all_slots = {**(slots or {}), **candidates}
    tracker = make_tracker(
        all_slots, sender_id=sender_id, events=slot_events(**candidates), active_loop=form
    )
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, domain)
    return dispatcher, slots_set(events)


async def test_spoken_phone_number_is_normalised(domain: dict[str, Any]) -> None:
    _, result = await validate(
        ValidateQueryForm(), domain, {"phone_number": "幺三八 幺二三四 五六七八"}
    )
    assert result["phone_number"] == ZHANG
    assert result["customer_tier"] == "金卡"


async def test_unknown_phone_number_is_asked_again(domain: dict[str, Any]) -> None:
    dispatcher, result = await validate(
        ValidateQueryForm(), domain, {"phone_number": "13000000000"}
    )
    assert result["phone_number"] is None
    assert "没有查到号码 130****0000" in texts(dispatcher)[0]


async def test_known_sender_prefills_phone_number(domain: dict[str, Any]) -> None:
    _, result = await validate(ValidateRechargeForm(), domain, {}, sender_id=ZHANG)
    assert result["phone_number"] == ZHANG


async def test_report_loss_never_prefills_from_sender(domain: dict[str, Any]) -> None:
    _, result = await validate(ValidateReportLossForm(), domain, {}, sender_id=ZHANG)
    assert "phone_number" not in result


async def test_amount_in_chinese_and_out_of_range(domain: dict[str, Any]) -> None:
    _, result = await validate(ValidateRechargeForm(), domain, {"amount": "两百块"})
    assert result["amount"] == 200.0
    dispatcher, result = await validate(ValidateRechargeForm(), domain, {"amount": "5000"})
    assert result["amount"] is None
    assert "1.00元 到 2000.00元" in texts(dispatcher)[0]


async def test_plan_by_price_and_same_plan_rejected(domain: dict[str, Any]) -> None:
    dispatcher, result = await validate(
        ValidateChangePlanForm(), domain, {"plan": "199的"}, {"phone_number": ZHANG}
    )
    assert result["plan"] == "5G尊享套餐"
    assert texts(dispatcher)[0].startswith("「5G尊享套餐」月费199元")
    dispatcher, result = await validate(
        ValidateChangePlanForm(), domain, {"plan": "5G畅享套餐"}, {"phone_number": ZHANG}
    )
    assert result["plan"] is None
    assert "您当前使用的就是「5G畅享套餐」" in texts(dispatcher)[0]


async def test_plan_confirmation_keeps_bool(domain: dict[str, Any]) -> None:
    slots = {"phone_number": ZHANG, "plan": "5G尊享套餐"}
    _, result = await validate(ValidateChangePlanForm(), domain, {"plan_confirmed": False}, slots)
    assert result["plan_confirmed"] is False


async def test_district_answer_also_fills_address(domain: dict[str, Any]) -> None:
    _, result = await validate(
        ValidateBroadbandRepairForm(), domain, {"district": "我家在朝阳区建国路88号3单元"}
    )
    assert result["district"] == "朝阳区"
    assert result["address"] == "建国路88号3单元"
    dispatcher, result = await validate(
        ValidateBroadbandRepairForm(), domain, {"district": "不知道"}
    )
    assert result["district"] is None
    assert dispatcher.messages[0]["response"] == "utter_invalid_district"


async def test_id_tail_matches_case_insensitively(domain: dict[str, Any]) -> None:
    _, result = await validate(
        ValidateReportLossForm(), domain, {"id_tail": "后四位001x"}, {"phone_number": WANG}
    )
    assert result["id_tail"] == "001X"
    assert result["identity_verified"] is True


async def test_three_wrong_id_tails_end_with_refusal(domain: dict[str, Any]) -> None:
    slots: dict[str, Any] = {"phone_number": ZHANG, "id_check_attempts": 0.0}
    for attempt in (1, 2):
        dispatcher, result = await validate(
            ValidateReportLossForm(), domain, {"id_tail": "9999"}, slots
        )
        assert result["id_tail"] is None
        assert result["id_check_attempts"] == float(attempt)
        assert f"还可以再试 {3 - attempt} 次" in texts(dispatcher)[0]
        slots["id_check_attempts"] = result["id_check_attempts"]
    _, result = await validate(ValidateReportLossForm(), domain, {"id_tail": "9999"}, slots)
    assert result["identity_verified"] is False
    assert result["id_tail"] == "未通过"


async def test_country_alias_and_unsupported(domain: dict[str, Any]) -> None:
    _, result = await validate(ValidateRoamingForm(), domain, {"country": "香港"})
    assert result["country"] == "中国香港"
    dispatcher, result = await validate(ValidateRoamingForm(), domain, {"country": "火星"})
    assert result["country"] is None
    assert dispatcher.messages[0]["response"] == "utter_roaming_unavailable"
