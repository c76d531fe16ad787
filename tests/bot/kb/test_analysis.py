from __future__ import annotations

from bot.kb.analysis import Analyzer, canonical_text, word_syllables


def test_traditional_and_full_width_fold_to_the_same_terms() -> None:
    analyzer = Analyzer()
    simplified = analyzer.analyze("信用卡怎么还款？")
    traditional = analyzer.analyze("信用卡怎麼還款？")
    full_width = analyzer.analyze("信用卡怎么还款?")
    assert simplified == traditional == full_width
    assert simplified.canon == "信用卡怎么还款"


def test_question_words_are_folded() -> None:
    analyzer = Analyzer()
    assert analyzer.analyze("如何开通花呗").canon == analyzer.analyze("怎么开通花呗").canon
    assert analyzer.analyze("为啥扣费").canon == "为什么扣费"
    assert Analyzer(question_words=False).analyze("如何开通").canon == "如何开通"


def test_synonyms_rewrite_variants_to_the_canonical_form() -> None:
    analyzer = Analyzer({"宽带": "网络", "WIFI": "无线网"})
    assert analyzer.analyze("宽带坏了").canon == "网络坏了"
    assert analyzer.analyze("wifi连不上").canon == "无线网连不上"


def test_views() -> None:
    analysis = Analyzer().analyze("花呗还款")
    assert "还款" in analysis.word
    assert analysis.char == ("花呗", "呗还", "还款")
    assert analysis.pinyin[0] == "hua_bei"
    assert Analyzer().analyze("好").char == ("好",)


def test_homophones_share_pinyin_terms() -> None:
    analyzer = Analyzer()
    assert analyzer.analyze("国际曼游").pinyin == analyzer.analyze("国际漫游").pinyin
    # lenient: zh/z, n/l and -ng/-n merge
    assert word_syllables("南京") == word_syllables("兰今")
    assert word_syllables("abc") == ("abc",)


def test_particles_are_not_word_terms_and_empty_text_is_empty() -> None:
    analysis = Analyzer().analyze("请问可以退款吗？")
    assert "吗" not in analysis.word and "请问" not in analysis.word
    empty = Analyzer().analyze("？？")
    assert empty.canon == "" and empty.word == () and empty.char == ()
    assert canonical_text("ＡＢＣ") == "abc"
