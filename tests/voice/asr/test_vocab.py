"""voice.asr.vocab on the reference project at the repository root, and on a tiny project."""

from __future__ import annotations

from pathlib import Path

import pytest

from voice.asr.base import clean_text
from voice.asr.vocab import LIMIT, STOPWORDS, PhraseCorrector, domain_phrases

ROOT = Path(__file__).parents[3]


@pytest.fixture(scope="module")
def phrases() -> list[str]:
    return domain_phrases(ROOT)


def test_reference_project_key_terms_come_first(phrases: list[str]) -> None:
    for word in ("话费", "流量", "宽带", "套餐", "漫游", "充值", "报修"):
        assert word in phrases[:100], word
    assert "5G畅享套餐" in phrases  # a lookup / synonym value
    assert "超套" in phrases  # a KB tag (kb/faq.yml)


def test_phrases_are_clean_unique_and_bounded(phrases: list[str]) -> None:
    assert 100 < len(phrases) <= LIMIT
    assert len({p.casefold() for p in phrases}) == len(phrases)
    assert not STOPWORDS & set(phrases)
    assert all(clean_text(p) == p and len(p) >= 2 for p in phrases)
    assert not any(p.isdigit() for p in phrases)  # phone numbers from examples stay out


def test_limit_keeps_the_best(phrases: list[str]) -> None:
    assert domain_phrases(ROOT, limit=20) == phrases[:20]


def test_tiny_project_with_traditional_text_and_kb(tmp_path: Path) -> None:
    (tmp_path / "domain.yml").write_text('version: "3.1"\nintents: [ask]\n', encoding="utf-8")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "nlu.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: ask\n  examples: |\n'
        "    - 查詢寬頻費用\n    - 宽带费用多少\n    - 怎么交宽带费用\n"
        "- lookup: plan\n  examples: |\n    - 冰激凌套餐\n",
        encoding="utf-8",
    )
    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / "faq.yml").write_text(
        'version: "1"\nfaq:\n  - id: a\n    question: 光猫亮红灯怎么办？\n'
        "    answer: 请重启光猫。\n    tags: [光猫]\n",
        encoding="utf-8",
    )
    found = domain_phrases(tmp_path)
    assert {"冰激凌套餐", "光猫", "费用", "宽带"} <= set(found)
    assert found.index("冰激凌套餐") < found.index("费用")  # names before plain words
    assert "怎么" not in found and all(clean_text(p) == p for p in found)


def test_corrector_fixes_tone_slips_on_domain_words(phrases: list[str]) -> None:
    correct = PhraseCorrector(phrases).correct
    assert correct("我想查一下花费") == "我想查一下话费"
    assert correct("款待坏了帮我保修") == "宽带坏了帮我报修"
    assert correct("查一下鱼饿") == "查一下余额"


@pytest.mark.parametrize(
    "text",
    ["帮我查一下好吗", "重置密码", "我的手机号是13812345678", "无限流量用到多少会降速", "你好"],
)
def test_corrector_leaves_common_words_and_word_boundaries_alone(
    phrases: list[str], text: str
) -> None:
    assert PhraseCorrector(phrases).correct(text) == text
