from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from bot.handoff.sentiment import (
    DATA,
    DEFAULT,
    DEFAULT_THRESHOLD,
    Example,
    Sentiment,
    SentimentDetector,
    SparseRows,
    canonical,
    fit_logistic,
    lexicon_cues,
    lexicon_score,
    load_examples,
    logistic_objective,
    train,
)

EVAL = Path(__file__).resolve().parents[3] / "bench" / "data" / "sentiment_eval.jsonl"

ANGRY = [
    "你们这帮骗子，又乱扣我话费",
    "我要投诉！",
    "再不给我退费我就打12300投诉",
    "我要去工信部告你们",
    "这网速简直垃圾，气死我了",
    "什么破宽带，三天两头断网",
    "退钱！！！",
    "说了八百遍了你们听不懂吗？？？",
    "真是太“好”了，一个月断网五次",
    "你们这服务太差了，我受够了",
    "騙子公司，亂扣費",
    "我要找媒体曝光你们",
]
CALM = [
    "帮我查一下话费",
    "流量还剩多少",
    "宽带怎么续费",
    "我想换个套餐",
    "话费怎么这么多",
    "垃圾短信怎么拦截",
    "诈骗电话怎么举报",
    "我想查一下投诉进度",
    "我不是要投诉，就问问",
    "谢谢，问题解决了",
    "網速有點慢，幫我看看",
    "在吗",
]


@pytest.mark.parametrize("text", ANGRY)
def test_angry_messages_escalate(text: str) -> None:
    assert DEFAULT.is_escalation(text), (text, DEFAULT.score(text))


@pytest.mark.parametrize("text", CALM)
def test_calm_messages_do_not_escalate(text: str) -> None:
    assert not DEFAULT.is_escalation(text), (text, DEFAULT.score(text))


def test_score_is_a_probability_with_cues() -> None:
    angry = DEFAULT.score("我要投诉你们，垃圾！！！")
    calm = DEFAULT.score("查话费")
    assert 0.0 <= calm.anger < DEFAULT_THRESHOLD < angry.anger <= 1.0
    assert {"投诉", "垃圾", "！！！"} <= set(angry.cues)
    assert calm.cues == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        angry.anger = 0.0  # type: ignore[misc]


def test_empty_text_scores_zero() -> None:
    assert DEFAULT.score("") == Sentiment(0.0, ())
    assert DEFAULT.score("   ") == Sentiment(0.0, ())
    assert not DEFAULT.is_escalation("")


def test_thresholds() -> None:
    text = "网速有点慢"
    anger = DEFAULT.score(text).anger
    assert DEFAULT.is_escalation(text, threshold=anger)
    assert not DEFAULT.is_escalation(text, threshold=min(1.0, anger + 0.01))
    assert SentimentDetector(threshold=0.0).is_escalation(text)
    assert not SentimentDetector(threshold=1.01).is_escalation("我要投诉，气死了！！！")
    assert DEFAULT.threshold == DEFAULT_THRESHOLD


def test_lexicon_skips_negated_complaints_and_fraud_by_others() -> None:
    assert [c.category for c in lexicon_cues("我要投诉")] == ["complaint"]
    assert lexicon_cues("我不是要投诉") == ()
    assert lexicon_cues("我不生气") == ()
    assert lexicon_cues("有人冒充你们客服骗钱") == ()
    assert lexicon_cues("垃圾短信太多") == ()
    assert [c.category for c in lexicon_cues("这么慢？？")] == ["emphasis"]


def test_lexicon_score_is_a_noisy_or_over_categories() -> None:
    one = lexicon_score(lexicon_cues("垃圾"))
    two = lexicon_score(lexicon_cues("垃圾，我要投诉"))
    same_category_twice = lexicon_score(lexicon_cues("垃圾废物"))
    assert lexicon_score(()) == 0.0
    assert 0.5 < one < two < 1.0
    assert same_category_twice == one


def test_canonical_folds_script_width_and_numerals() -> None:
    assert canonical("轉接ＡＢＣ，第三次") == "转接abc,第3次"


def test_training_data_is_labelled_balanced_and_apart_from_the_evaluation() -> None:
    training = load_examples(DATA)
    assert len(training) >= 400
    assert {e.label for e in training} == {0, 1}
    assert 0.4 < sum(e.label for e in training) / len(training) < 0.6
    assert len({e.text for e in training}) == len(training)
    evaluation = {json.loads(line)["text"] for line in EVAL.read_text("utf-8").splitlines()}
    assert len(evaluation) >= 150
    assert not evaluation & {e.text for e in training}


def test_fit_reaches_the_optimum_of_the_objective() -> None:
    rng = np.random.default_rng(0)
    n, d = 60, 8
    dense = rng.normal(size=(n, d)) * (rng.random((n, d)) < 0.5)
    y = (dense @ rng.normal(size=d) + 0.3 * rng.normal(size=n) > 0).astype(int)
    rows, cols = np.nonzero(dense)
    x = SparseRows(rows, cols, dense[rows, cols], n, d)
    coef, bias = fit_logistic(x, y, c=1.0)
    _, grad = logistic_objective(x, y, 1.0, np.append(coef, bias))
    assert np.abs(grad).max() < 1e-3
    assert ((dense @ coef + bias > 0) == (y == 1)).mean() > 0.85


def test_lexicon_only_and_chars_only_models() -> None:
    examples = [Example("垃圾骗子", 1), Example("我要投诉", 1), Example("查话费", 0)] * 3
    examples += [Example("办宽带", 0), Example("流量多少", 0)]
    chars_only = train(examples, lexicon=False)
    lexicon_only = train(examples, chars=False)
    assert not any(k.startswith("lex:") for k in chars_only.weights)
    assert all(k.startswith("lex:") for k in lexicon_only.weights)
    canon = canonical("骗子")
    assert lexicon_only.probability(canon, lexicon_cues("骗子")) > 0.5
    assert lexicon_only.probability(canonical("你好"), ()) < 0.5
