"""The difficult-customer rule over agents' ratings."""

from __future__ import annotations

from bot.handoff.ratings import DAY, DifficultRule, valid_score
from bot.handoff.types import Rating

NOW = 400 * DAY
RULE = DifficultRule()  # ≥ 4 from 2 agents within 180 days; ≤ 2 cancels one


def rate(agent: str, difficulty: int | None, days_ago: float, n: int = 0) -> Rating:
    return Rating(f"h{agent}{n}{days_ago}", "cust", agent, 3, difficulty, NOW - days_ago * DAY)


def test_two_different_agents_make_a_customer_difficult() -> None:
    assert RULE.is_difficult([rate("a1", 4, 10), rate("a2", 5, 3)], NOW)


def test_one_agent_alone_is_not_enough() -> None:
    assert not RULE.is_difficult([rate("a1", 5, 10, 1), rate("a1", 5, 3, 2)], NOW)
    assert not RULE.is_difficult([rate("a1", 5, 10)], NOW)


def test_min_agents_is_configurable() -> None:
    ratings = [rate("a1", 4, 1), rate("a2", 4, 2)]
    assert not DifficultRule(min_agents=3).is_difficult(ratings, NOW)
    assert DifficultRule(min_agents=3).is_difficult([*ratings, rate("a3", 5, 3)], NOW)
    assert DifficultRule(min_agents=1).is_difficult([rate("a1", 4, 1)], NOW)


def test_threshold() -> None:
    assert not RULE.is_difficult([rate("a1", 3, 1), rate("a2", 4, 2)], NOW)
    assert DifficultRule(min_difficulty=3).is_difficult([rate("a1", 3, 1), rate("a2", 4, 2)], NOW)


def test_window() -> None:
    old = [rate("a1", 5, 181), rate("a2", 5, 2)]
    assert not RULE.is_difficult(old, NOW)
    assert RULE.is_difficult([rate("a1", 5, 179), rate("a2", 5, 2)], NOW)
    assert DifficultRule(window_days=365).is_difficult(old, NOW)
    assert RULE.since(NOW) == NOW - 180 * DAY


def test_a_later_easy_rating_cancels_an_earlier_hard_one() -> None:
    hard = [rate("a1", 5, 30), rate("a2", 4, 20)]
    assert not RULE.is_difficult([*hard, rate("a3", 1, 10)], NOW)
    assert not RULE.is_difficult([*hard, rate("a3", 2, 10)], NOW)
    # 3 is neither hard nor easy
    assert RULE.is_difficult([*hard, rate("a3", 3, 10)], NOW)


def test_an_easy_rating_before_the_hard_ones_cancels_nothing() -> None:
    assert RULE.is_difficult([rate("a3", 1, 40), rate("a1", 5, 30), rate("a2", 4, 20)], NOW)


def test_easy_cancels_one_hard_rating_each() -> None:
    ratings = [rate("a1", 5, 30), rate("a2", 5, 25), rate("a3", 5, 20), rate("a4", 1, 10)]
    assert RULE.is_difficult(ratings, NOW)  # three hard, one cancelled: still two
    assert not RULE.is_difficult([*ratings, rate("a5", 2, 5)], NOW)


def test_a_new_hard_rating_after_the_easy_one_counts_again() -> None:
    ratings = [rate("a1", 5, 30), rate("a2", 1, 20), rate("a1", 5, 10, 2), rate("a3", 4, 5)]
    assert RULE.is_difficult(ratings, NOW)


def test_none_difficulty_is_ignored() -> None:
    assert not RULE.is_difficult([rate("a1", 5, 3), rate("a2", None, 2)], NOW)
    assert RULE.is_difficult([rate("a1", 5, 3), rate("a3", None, 2), rate("a2", 4, 1)], NOW)


def test_order_of_the_input_does_not_matter() -> None:
    ratings = [rate("a2", 5, 5), rate("a3", 1, 40), rate("a1", 5, 30)]
    assert RULE.is_difficult(ratings, NOW)  # the easy one came before both hard ones
    assert RULE.is_difficult(list(reversed(ratings)), NOW)
    later_easy = [rate("a2", 5, 5), rate("a3", 1, 10), rate("a1", 5, 30)]
    assert not RULE.is_difficult(later_easy, NOW)  # cancels a1's (older than it)
    assert not RULE.is_difficult(list(reversed(later_easy)), NOW)


def test_no_ratings() -> None:
    assert not RULE.is_difficult([], NOW)


def test_valid_score() -> None:
    assert all(valid_score(v) for v in (None, 1, 3, 5))
    assert not any(valid_score(v) for v in (0, 6, -1))
