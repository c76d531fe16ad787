"""`extract`: dimensions, overlap resolution, offsets, robustness and speed."""

from __future__ import annotations

import random
import time
from datetime import datetime

import pytest

from bot.nlu.duckling import ALL_DIMENSIONS, extract

NOW = datetime(2026, 3, 4, 10, 30)


def spans(text: str, dims: set[str] | None = None, language: str = "zh") -> list[tuple]:
    return [(e.entity, text[e.start : e.end]) for e in extract(text, dims, language, NOW)]


def test_mixed_sentence() -> None:
    text = "我想明天下午3点预约，手机13800138000，预算五十块，大概三天，邮箱a@qq.com"
    assert spans(text) == [
        ("time", "明天下午3点"),
        ("phone-number", "13800138000"),
        ("amount-of-money", "五十块"),
        ("duration", "三天"),
        ("email", "a@qq.com"),
    ]


def test_longest_span_wins_across_dimensions() -> None:
    assert spans("三天后") == [("time", "三天后")]
    assert spans("五十块") == [("amount-of-money", "五十块")]
    assert spans("3 days", language="en") == [("duration", "3 days")]


def test_dimensions_filter_resolves_among_requested_only() -> None:
    assert spans("五十块", {"number"}) == [("number", "五十")]
    assert spans("明天下午3点", {"number"}) == [("number", "3")]
    assert spans("五十块", {"time"}) == []
    assert spans("五十块", {"no-such-dimension"}) == []
    assert spans("五十块", set()) == []


def test_entities_are_rasa_shaped() -> None:
    (entity,) = extract("明天", None, "zh", NOW)
    d = entity.to_dict()
    assert d["entity"] == "time"
    assert d["extractor"] == "DucklingEntityExtractor"
    assert (d["start"], d["end"], d["confidence_entity"]) == (0, 2, 1.0)
    assert d["additional_info"]["grain"] == "day"


def test_offsets_point_into_the_original_text() -> None:
    text = "🙂🙂 明天\u3000下午三点 ok"
    (entity,) = extract(text, {"time"}, "zh", NOW)
    assert text[entity.start : entity.end] == "明天\u3000下午三点"


def test_locale_style_language_is_accepted() -> None:
    assert spans("tomorrow", language="en_US") == [("time", "tomorrow")]
    assert spans("明天", language="zh_CN") == [("time", "明天")]


def test_default_now_is_used_when_not_given() -> None:
    (entity,) = extract("今天")
    assert entity.value.endswith("T00:00:00.000+08:00")


@pytest.mark.parametrize(
    "text",
    ["", " ", "\x00\x01\x02", "🙂" * 50, "\ud800", "一" * 5000, "1" * 5000, "@" * 1000, "a@" * 1000,
     "点点点点", "号号号", "第第第", "$$$", "¥", "+86", "周周周周", "年年年月月月", "1.2.3.4.5",
     "12:99", "25:00", "13月45号", "2月30号", "0月0号", "晚上25点", "下午99点", "9999年99月"],
)  # fmt: skip
def test_never_raises(text: str) -> None:
    for language in ("zh", "en"):
        for e in extract(text, None, language, NOW):
            assert 0 <= e.start < e.end <= len(text)


def test_non_string_input_returns_nothing() -> None:
    assert extract(None) == []  # type: ignore[arg-type]


def test_all_dimensions_listed() -> None:
    assert {"number", "time", "amount-of-money", "phone-number", "email", "duration"} <= set(
        ALL_DIMENSIONS
    )


def test_large_input_is_fast() -> None:
    random.seed(7)
    words = ["明天下午3点", "五十块", "13800138000", "三天", "你好", "请问", "一下", "🙂", "\x07",
             "next monday", "$20", "a@b.com", "一百二十三", "的", "我们", "订单"]  # fmt: skip
    text = "".join(random.choice(words) for _ in range(40_000))[:100_000]
    start = time.process_time()  # CPU time: robust on a busy test machine
    found = extract(text, None, "zh", NOW)
    elapsed = time.process_time() - start
    assert len(found) > 5000
    assert elapsed < 2.0  # about 0.5 s of CPU for ~10k entities in 100 kB
