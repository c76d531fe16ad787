from __future__ import annotations

import pytest

from bot.dialogue.events import BotUttered, UserUttered
from bot.dialogue.menus import keys, last_buttons, menu_choice, number_of
from bot.dialogue.tracker import Tracker

PLAN = [{"title": "查话费", "payload": "/query_bill"}, {"title": "办套餐", "payload": "/plan"}]
SURVEY = [{"title": f"{n} 分", "payload": f'/survey{{"score": {n}}}'} for n in (5, 4, 3, 2, 1)]


def tracker(*events: object) -> Tracker:
    return Tracker("c", {}, list(events))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "number"),
    [("1", 1), ("２", 2), ("二", 2), ("第2个", 2), ("选 3", 3), ("10", 10), (" 1。", 1)],
)
def test_numbers_customers_type(text: str, number: int) -> None:
    assert number_of(text) == number


@pytest.mark.parametrize("text", ["", "13800138000", "1和2", "查话费", "123", "一下"])
def test_not_a_menu_choice(text: str) -> None:
    assert number_of(text) is None


def test_position_or_own_number() -> None:
    assert keys(PLAN) == [1, 2]
    assert keys(SURVEY) == [5, 4, 3, 2, 1]
    assert keys([{"title": "1月"}, {"title": "2月"}]) == [1, 2]  # "1月" is a month, not a label


def test_choice_from_the_latest_bot_message_with_buttons() -> None:
    t = tracker(
        UserUttered(text="你好"),
        BotUttered(text="请选择", data={"buttons": PLAN}),
        BotUttered(text="…"),
    )
    assert last_buttons(t) == PLAN
    assert menu_choice(t, "2") == "/plan"
    assert menu_choice(t, "3") is None  # out of range: plain text


def test_survey_numbers_are_scores_not_positions() -> None:
    t = tracker(UserUttered(text="好"), BotUttered(text="请打分", data={"buttons": SURVEY}))
    assert menu_choice(t, "1") == '/survey{"score": 1}'


def test_menu_expires_once_the_customer_spoke() -> None:
    t = tracker(BotUttered(text="请选择", data={"buttons": PLAN}), UserUttered(text="查话费"))
    assert menu_choice(t, "1") is None
