from __future__ import annotations

import pytest

from bot.nlu.component import NLUMessage
from bot.nlu.normalize import ZhikeNormalizer, normalize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("一百二十块", "120块"),
        ("幺三八零零一三八零零零", "13800138000"),
        ("二零二五年三月", "2025年3月"),
        ("两千零五", "2005"),
        ("一点五公里", "1.5公里"),
        ("十一点见", "11点见"),
        ("一万一", "11000"),
        ("打电话给幺幺零", "打电话给110"),
    ],
)
def test_chinese_numerals_become_arabic(raw: str, expected: str) -> None:
    assert normalize(raw).text == expected


@pytest.mark.parametrize(
    "word",
    ["等一下", "一点儿", "统一", "万一下雨", "一样", "看一看", "星期一", "千万别", "唯一"],
)
def test_words_with_numerals_are_kept(word: str) -> None:
    assert normalize(word).text == word


def test_width_traditional_case_and_punctuation() -> None:
    assert normalize("ＡＢＣ１２３　ｘｙｚ！") == normalize("abc123 xyz!")
    assert normalize("我想訂一張機票？？？").text == "我想订1张机票?"


def test_fillers_removed_but_lone_affirmation_kept() -> None:
    assert normalize("嗯，那个我想查一下余额").text == "我想查一下余额"
    assert normalize("呃我想就是说查话费").text == "我想查话费"
    assert normalize("嗯").text == "嗯"


def test_whitespace_and_invisible_characters() -> None:
    assert normalize("  我 要\t订 票 ").text == "我要订票"
    assert normalize("hello   world\u200b\x00").text == "hello world"


def test_spans_point_back_to_original() -> None:
    raw = "嗯，我要一百二十块的"
    norm = normalize(raw)
    assert norm.text == "我要120块的"
    assert len(norm.spans) == len(norm.text)
    start, end = norm.to_original(2, 5)
    assert raw[start:end] == "一百二十"
    assert raw[slice(*norm.spans[0])] == "我"


@pytest.mark.parametrize(
    "raw",
    ["😀😀", "\ud800abc", "\x00\x01\x7f", "مرحبا 你好 Привет", "", "。。。", "一" * 1000],
)
def test_never_raises_and_spans_are_consistent(raw: str) -> None:
    norm = normalize(raw)
    assert len(norm.spans) == len(norm.text)
    assert all(0 <= s <= e <= len(raw) for s, e in norm.spans)


def test_large_input() -> None:
    raw = "訂一張機票 一百二十 嗯？？" * 7000  # ~100 kB
    norm = normalize(raw)
    assert "120" in norm.text and len(norm.spans) == len(norm.text)


def test_english_skips_chinese_steps() -> None:
    assert normalize("Hello　ＷＯＲＬＤ 一百 ok 臺", "en").text == "hello world 一百 ok 臺"


def test_component_sets_norm() -> None:
    msg = NLUMessage("我要兩張票")
    ZhikeNormalizer().process(msg)
    assert msg.normalized_text == "我要2张票"
