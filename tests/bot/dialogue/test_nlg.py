from __future__ import annotations

from collections.abc import Callable

from bot.dialogue.actions import ActionContext, ResponseAction
from bot.dialogue.events import ActionExecuted, BotUttered, SessionStarted, UserUttered
from bot.dialogue.nlg import NLG, render_variant
from bot.dialogue.tracker import Tracker
from bot.project.domain import (
    DEFAULT_RESPONSES,
    Domain,
    ResponseButton,
    ResponseCondition,
    ResponseVariant,
)
from bot.project.loader import Project

MakeUser = Callable[..., UserUttered]


def texts_over(nlg: NLG, name: str, slots: dict[str, object], channel: str | None) -> set[str]:
    out = set()
    for _ in range(60):
        event = nlg.render(name, slots, channel)
        assert event is not None
        out.add(event.text or "")
    return out


def test_variants_are_picked_at_random_among_the_generic_ones(en_project: Project) -> None:
    nlg = NLG.create(en_project.domain, "en", seed=7)
    seen = texts_over(nlg, "utter_greet", {}, None)
    assert seen == {
        "Hello! I can book you a table. What would you like to do?",
        "Hi there, welcome to the booking desk. How can I help?",
    }  # the telegram variant is never used elsewhere


def test_channel_variant_wins_on_its_channel(en_project: Project) -> None:
    nlg = NLG.create(en_project.domain, "en", seed=7)
    assert texts_over(nlg, "utter_greet", {}, "telegram") == {
        "Hello! Say 'book a table' to get started."
    }


def test_conditional_variant_is_preferred_when_its_condition_holds(en_project: Project) -> None:
    nlg = NLG.create(en_project.domain, "en", seed=1)
    outdoor = texts_over(nlg, "utter_opening_hours", {"seating": "outdoor"}, None)
    assert outdoor == {"We are open every day from 11:00 to 23:00. The terrace closes at 21:00."}
    indoor = texts_over(nlg, "utter_opening_hours", {"seating": "indoor"}, None)
    assert indoor == {"We are open every day from 11:00 to 23:00."}


def test_condition_values_compare_loosely() -> None:
    variant = ResponseVariant(text="会员", conditions=[ResponseCondition("vip", True)])
    plain = ResponseVariant(text="普通")
    nlg = NLG.create(Domain(responses={"utter_x": [variant, plain]}), seed=0)
    assert texts_over(nlg, "utter_x", {"vip": "true"}, None) == {"会员"}
    assert texts_over(nlg, "utter_x", {"vip": False}, None) == {"普通"}
    count = ResponseVariant(text="三位", conditions=[ResponseCondition("n", "3")])
    nlg = NLG.create(Domain(responses={"utter_n": [count]}), seed=0)
    assert texts_over(nlg, "utter_n", {"n": 3}, None) == {"三位"}
    assert nlg.render("utter_n", {"n": 4}) is None  # no variant applies


def test_placeholders_are_filled_from_slots_and_extra_values(en_project: Project) -> None:
    nlg = NLG.create(en_project.domain, "en", seed=0)
    slots = {"cuisine": "greek", "party_size": 4.0, "seating": "bar", "occasion": "birthday"}
    event = nlg.render("utter_booking_summary", slots)
    assert event is not None
    assert event.text == "Booking greek for 4.0, seating: bar, occasion: birthday."
    assert event.metadata == {"utter_action": "utter_booking_summary"}
    confirmed = nlg.render("utter_booking_confirmed", {}, None, {"booking_ref": "ZK-0001"})
    assert confirmed is not None and confirmed.text == "Your table is booked. Reference: ZK-0001."


def test_unset_and_unknown_placeholders(zh_project: Project) -> None:
    nlg = NLG.create(zh_project.domain, seed=0)
    event = nlg.render("utter_order_summary", {"drink": "柠檬茶", "size": None})
    assert event is not None
    assert event.text == "好的，为您确认一下：柠檬茶，，{sweetness}。"


def test_buttons_and_their_placeholders() -> None:
    variant = ResponseVariant(
        text="{name}，请选择：",
        buttons=[
            ResponseButton("查{month}账单", '/query_bill{"month": "{month}"}'),
            ResponseButton("其他", "/other"),
        ],
        image="https://example.com/{month}.png",
        custom={"type": "card"},
    )
    event = render_variant(variant, {"name": "张先生", "month": "3月"}, "utter_menu")
    assert event.text == "张先生，请选择："
    assert event.data["buttons"] == [
        {"title": "查3月账单", "payload": '/query_bill{"month": "3月"}'},
        {"title": "其他", "payload": "/other"},
    ]
    assert event.data["image"] == "https://example.com/3月.png"
    assert event.data["custom"] == {"type": "card"}


def test_fixture_buttons_are_rendered(zh_project: Project) -> None:
    event = NLG.create(zh_project.domain, seed=0).render("utter_ask_size", {})
    assert event is not None
    assert [b["title"] for b in event.data["buttons"]] == ["大杯", "中杯", "小杯"]
    assert event.data["buttons"][0]["payload"] == '/inform{"size": "大杯"}'


def test_custom_payload_passes_through(en_project: Project) -> None:
    event = NLG.create(en_project.domain, "en").render("utter_location", {})
    assert event is not None
    assert event.data["custom"] == {"type": "location", "lat": 51.5072, "lon": -0.1276}


def test_built_in_defaults_per_language(zh_project: Project) -> None:
    zh = NLG.create(zh_project.domain, "zh")
    assert zh.has("utter_ask_rephrase") and not zh.has("utter_nope")
    rephrase = zh.render("utter_ask_rephrase", {})
    assert rephrase is not None and rephrase.text == DEFAULT_RESPONSES["zh"]["utter_ask_rephrase"]
    own = zh.render("utter_default", {})  # the project's own text beats the default
    assert (
        own is not None and own.text == "抱歉，我没有完全理解您的意思，能否换个说法再告诉我一次？"
    )
    en = NLG.create(Domain(), "en").render("utter_handoff", {})
    assert en is not None and en.text == DEFAULT_RESPONSES["en"]["utter_handoff"]
    assert NLG.create(Domain(), "fr").render("utter_default", {}) is not None  # falls back to en
    assert zh.render("utter_missing", {}) is None


# ------------------------------------------------------------------ retrieval: utter_faq
def faq_tracker(zh_project: Project, user: UserUttered) -> Tracker:
    return Tracker(
        "t",
        zh_project.domain.slots,
        [
            ActionExecuted(name="action_session_start"),
            SessionStarted(),
            ActionExecuted(name="action_listen"),
            user,
        ],
    )


async def test_utter_faq_picks_the_response_of_the_selected_key(
    zh_project: Project, make_user: MakeUser
) -> None:
    tracker = faq_tracker(zh_project, make_user("faq", retrieval={"faq": "faq/payment"}))
    ctx = ActionContext(tracker, zh_project.domain, NLG.create(zh_project.domain, seed=0))
    [event] = await ResponseAction("utter_faq").run(ctx)
    assert isinstance(event, BotUttered)
    assert event.text == "门店支持微信、支付宝和银行卡付款，暂不支持现金找零，敬请谅解。"
    assert event.metadata["utter_action"] == "utter_faq/payment"


async def test_utter_faq_without_a_selection_says_the_default(
    zh_project: Project, make_user: MakeUser
) -> None:
    tracker = faq_tracker(zh_project, make_user("faq"))
    ctx = ActionContext(tracker, zh_project.domain, NLG.create(zh_project.domain, seed=0))
    [event] = await ResponseAction("utter_faq").run(ctx)
    assert isinstance(event, BotUttered) and event.metadata["utter_action"] == "utter_default"


async def test_full_retrieval_action_name_renders_directly(
    zh_project: Project, make_user: MakeUser
) -> None:
    tracker = faq_tracker(zh_project, make_user("greet"))
    ctx = ActionContext(tracker, zh_project.domain, NLG.create(zh_project.domain, seed=0))
    [event] = await ResponseAction("utter_faq/delivery").run(ctx)
    assert isinstance(event, BotUttered) and "外卖配送" in (event.text or "")
