"""The demo business DB and the value normalisation used by the actions."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from actions import demo_db
from actions.normalize import (
    extract_id_tail,
    extract_mobile,
    mask_phone,
    parse_amount,
    parse_month,
    yuan,
)


def test_database_is_created_from_seed_on_first_use(demo_db_path: Path) -> None:
    assert not demo_db_path.exists()
    assert len(demo_db.list_plans()) == 8
    assert demo_db_path.exists()
    customer = demo_db.get_customer("13812345678")
    assert customer is not None and customer.plan.name == "5G畅享套餐"
    assert demo_db.get_roaming_rate("日本") is not None
    assert demo_db.get_customer("10000000000") is None


def test_user_input_is_not_interpreted_as_sql(seeded: Path) -> None:
    assert demo_db.get_customer("13812345678' OR '1'='1") is None
    assert demo_db.get_plan("x'; DROP TABLE plans; --") is None
    assert len(demo_db.list_plans()) == 8


def test_three_months_of_bills(seeded: Path) -> None:
    today = date.today()
    months = [parse_month(m, today) for m in ("上个月", "上上个月")]
    for month in months:
        assert month is not None
        assert demo_db.get_bill("13812345678", month) is not None
    assert demo_db.get_bill("13812345678", parse_month("本月", today) or "") is None


def test_spoken_numbers() -> None:
    assert extract_mobile("我的号码是幺三八 幺二三四 五六七八") == "13812345678"
    assert extract_mobile("138-1234-5678") == "13812345678"
    assert extract_mobile("12345") is None
    assert extract_id_tail("后六位是幺零二零三叉") == "10203X"
    assert [parse_amount(t) for t in ("两百", "一百五", "50.5元", "充一百块", "0")] == [
        200.0,
        150.0,
        50.5,
        100.0,
        None,
    ]


def test_months_relative_to_today() -> None:
    today = date(2025, 2, 10)
    assert parse_month("上个月", today) == "2025-01"
    assert parse_month("上上个月", today) == "2024-12"
    assert parse_month("这个月的", today) == "2025-02"
    assert parse_month("三月份", today) == "2024-03"
    assert parse_month("2月", today) == "2025-02"
    assert parse_month("随便", today) is None


def test_formatting() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert yuan(5) == "5.00元"


def test_wechat_user_bound_to_a_phone_number_is_that_customer(seeded: Path) -> None:
    from actions import demo_db
    from actions.profile import customer_profile

    openid = "oWeChatUserBoundLater000000001"
    assert demo_db.bound_phone("wechat", openid) is None
    demo_db.bind("wechat", openid, "15012345678")
    assert demo_db.bound_phone("wechat", openid) == "15012345678"
    assert demo_db.bound_phone("wecom", openid) is None  # bindings are per channel
    profile = customer_profile({"phone": None, "sender_id": openid, "channel": "wechat"})
    assert profile is not None and profile["name"] == "李娜"
    assert customer_profile({"phone": None, "sender_id": "o-unbound", "channel": "wechat"}) is None


def test_bindings_table_is_added_to_an_older_database(seeded: Path) -> None:
    import sqlite3

    from actions import demo_db

    with sqlite3.connect(seeded) as conn:
        conn.execute("DROP TABLE channel_bindings")
    openid, phone = demo_db.DEMO_BINDINGS[0][1:]
    assert demo_db.bound_phone("wechat", openid) == phone
