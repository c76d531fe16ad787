"""Form validation actions (``rasa_sdk.forms.FormValidationAction``)."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from actions import demo_db
from actions.identity import prefill_phone_from_sender
from actions.normalize import extract_id_tail, extract_mobile, mask_phone, parse_amount, yuan

MAX_ID_ATTEMPTS = 3
MIN_RECHARGE, MAX_RECHARGE = 1.0, 2000.0

PLAN_ALIASES: dict[str, tuple[str, ...]] = {
    "5G基础套餐": ("5g基础", "基础套餐"),
    "5G畅享套餐": ("畅享",),
    "5G尊享套餐": ("尊享",),
    "冰激凌无限套餐": ("冰激凌", "冰淇淋", "无限"),
    "4G畅聊套餐": ("畅聊",),
    "4G流量王套餐": ("流量王",),
    "青春校园卡": ("校园", "学生"),
    "银发关爱套餐": ("银发", "老人", "老年"),
}
_NETWORK_GENERATION = re.compile(r"[45]\s*[Gg]")

COUNTRY_ALIASES: dict[str, str] = {
    "香港": "中国香港",
    "澳门": "中国澳门",
    "台湾": "中国台湾",
    "美國": "美国",
    "日本國": "日本",
    "南韩": "韩国",
    "大马": "马来西亚",
    "印尼": "印度尼西亚",
    "迪拜": "阿联酋",
    "英格兰": "英国",
    "澳洲": "澳大利亚",
}

DISTRICTS = [
    "朝阳区",
    "海淀区",
    "东城区",
    "西城区",
    "丰台区",
    "通州区",
    "昌平区",
    "浦东新区",
    "徐汇区",
    "静安区",
    "黄浦区",
    "闵行区",
    "杨浦区",
    "天河区",
    "越秀区",
    "海珠区",
    "白云区",
    "南山区",
    "福田区",
    "宝安区",
    "龙岗区",
    "西湖区",
    "滨江区",
    "余杭区",
    "武侯区",
    "锦江区",
    "高新区",
    "江汉区",
    "洪山区",
    "鼓楼区",
    "雁塔区",
    "渝中区",
]
_LEAD_IN = re.compile(r"^(?:我们?家?|家)?(?:住)?(?:在|是|位于)")
_GENERIC_DISTRICT = re.compile(r"[\u4e00-\u9fa5]{2,6}?(?:新区|区|县|市|镇)")


def canonical_plan(text: str | None) -> str | None:
    """Canonical plan name for a mention: full name, monthly fee (99元, 一百二十九) or nickname."""
    if not text:
        return None
    lowered = str(text).lower()
    for name in PLAN_ALIASES:
        if name.lower() in lowered:
            return name
    fee = parse_amount(_NETWORK_GENERATION.sub("", lowered))
    by_fee = [p.name for p in demo_db.list_plans() if fee is not None and p.monthly_fee == fee]
    if by_fee:
        return by_fee[0]
    for name, aliases in PLAN_ALIASES.items():
        if any(alias in lowered for alias in aliases):
            return name
    return None


def canonical_country(text: str | None) -> str | None:
    if not text:
        return None
    value = str(text).strip()
    value = COUNTRY_ALIASES.get(value, value)
    return value if demo_db.get_roaming_rate(value) else None


def split_district(text: str) -> tuple[str | None, str]:
    """(district, rest of the address) from a free-text answer."""
    text = _LEAD_IN.sub("", text.strip())
    for district in DISTRICTS:
        for form in (district, district.removesuffix("新区").removesuffix("区")):
            if form and form in text:
                return district, text.split(form, 1)[1].strip(" ，,。")
    match = _GENERIC_DISTRICT.search(text)
    if match:
        return match.group(0), text[match.end() :].strip(" ，,。")
    return None, ""


class PhoneSlotMixin:
    """``phone_number`` for forms: pre-filled from a known sender id, validated as a mobile."""

    require_known_customer = True

    async def extract_phone_number(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return prefill_phone_from_sender(tracker)

    def validate_phone_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        phone = extract_mobile(value)
        if phone is None:
            dispatcher.utter_message(response="utter_invalid_phone_number")
            return {"phone_number": None}
        if self.require_known_customer:
            customer = demo_db.get_customer(phone)
            if customer is None:
                dispatcher.utter_message(
                    text=f"抱歉，没有查到号码 {mask_phone(phone)} 的账户信息，请您核对后再说一次。"
                )
                return {"phone_number": None}
            return {"phone_number": phone, "customer_tier": customer.vip_level}
        return {"phone_number": phone}


class ValidateQueryForm(PhoneSlotMixin, FormValidationAction):
    def name(self) -> str:
        return "validate_query_form"


class ValidateRechargeForm(PhoneSlotMixin, FormValidationAction):
    def name(self) -> str:
        return "validate_recharge_form"

    def validate_amount(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        amount = parse_amount(value)
        if amount is None or not MIN_RECHARGE <= amount <= MAX_RECHARGE:
            dispatcher.utter_message(
                text=f"单次充值金额需要在 {yuan(MIN_RECHARGE)} 到 {yuan(MAX_RECHARGE)} 之间，"
                "请您重新说一下充值金额。"
            )
            return {"amount": None}
        return {"amount": round(amount, 2)}


class ValidateChangePlanForm(PhoneSlotMixin, FormValidationAction):
    def name(self) -> str:
        return "validate_change_plan_form"

    def validate_plan(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        plan = demo_db.get_plan(canonical_plan(value) or "")
        if plan is None:
            dispatcher.utter_message(response="utter_unknown_plan")
            return {"plan": None}
        customer = demo_db.get_customer(extract_mobile(tracker.get_slot("phone_number")) or "")
        if customer is not None and customer.plan.name == plan.name:
            dispatcher.utter_message(
                text=f"您当前使用的就是「{plan.name}」哦，换一个其他套餐看看？"
            )
            return {"plan": None}
        dispatcher.utter_message(text=f"「{plan.name}」{plan.description}。")
        return {"plan": plan.name}

    def validate_plan_confirmed(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {"plan_confirmed": value if isinstance(value, bool) else None}


class ValidateBroadbandRepairForm(PhoneSlotMixin, FormValidationAction):
    require_known_customer = False

    def name(self) -> str:
        return "validate_broadband_repair_form"

    def validate_district(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        district, rest = split_district(str(value or ""))
        if district is None:
            dispatcher.utter_message(response="utter_invalid_district")
            return {"district": None}
        result: dict[str, Any] = {"district": district}
        if len(rest) >= 4 and not tracker.get_slot("address"):
            result["address"] = rest
        return result

    def validate_address(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        address = str(value or "").strip()
        if len(address) < 4:
            dispatcher.utter_message(response="utter_invalid_address")
            return {"address": None}
        return {"address": address}

    def validate_fault_description(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        fault = str(value or "").strip()
        if len(fault) < 2:
            dispatcher.utter_message(response="utter_ask_fault_description")
            return {"fault_description": None}
        return {"fault_description": fault}


class ValidateReportLossForm(PhoneSlotMixin, FormValidationAction):
    """Phone number must exist; the ID-card tail gets ``MAX_ID_ATTEMPTS`` tries.

    After the last failed try the form is completed with ``identity_verified = False`` so that
    ``action_report_loss`` refuses politely instead of suspending the line.
    """

    def name(self) -> str:
        return "validate_report_loss_form"

    async def extract_phone_number(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        # Always ask which number to suspend: a lost phone is rarely the one calling.
        return {}

    def validate_id_tail(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        tail = extract_id_tail(value)
        customer = demo_db.get_customer(extract_mobile(tracker.get_slot("phone_number")) or "")
        if tail and customer and customer.id_tail.upper().endswith(tail):
            return {"id_tail": tail, "identity_verified": True, "id_check_attempts": 0.0}
        attempts = int(tracker.get_slot("id_check_attempts") or 0) + 1
        if attempts >= MAX_ID_ATTEMPTS:
            return {
                "id_tail": "未通过",
                "identity_verified": False,
                "id_check_attempts": float(attempts),
            }
        dispatcher.utter_message(
            text=f"抱歉，您提供的身份证信息与机主登记信息不一致，您还可以再试 "
            f"{MAX_ID_ATTEMPTS - attempts} 次。"
        )
        return {"id_tail": None, "id_check_attempts": float(attempts)}


class ValidateRoamingForm(FormValidationAction):
    def name(self) -> str:
        return "validate_roaming_form"

    def validate_country(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        country = canonical_country(value)
        if country is None:
            dispatcher.utter_message(response="utter_roaming_unavailable")
            return {"country": None}
        return {"country": country}
