from __future__ import annotations

import pickle

import numpy as np
import pytest

from bot.nlu.component import NLUMessage, TrainContext
from bot.nlu.features import Featurizer, boundary_ngrams, make_doc, marked_ngrams
from bot.nlu.intent import ZhikeIntentClassifier, fit_temperature, softmax
from bot.nlu.normalize import ZhikeNormalizer
from bot.nlu.tokenizer import JiebaTokenizer
from bot.nlu.types import NLUData, TrainingExample

ZH = {
    "greet": ["你好", "您好呀", "早上好", "嗨，在吗", "哈喽", "你好啊客服", "下午好", "在不在"],
    "check_balance": [
        "查一下余额",
        "我卡里还有多少钱",
        "帮我查询账户余额",
        "余额多少",
        "看看我还剩多少钱",
        "账户里有多少钱",
        "我想查余额",
        "查下我的余额",
    ],
    "book_ticket": [
        "我想订一张去北京的机票",
        "帮我订两张火车票",
        "订明天去上海的高铁",
        "买一张机票",
        "我要订票",
        "预订后天的航班",
        "帮我买去广州的票",
        "订一张三月五号的车票",
    ],
    "goodbye": [
        "再见",
        "拜拜",
        "好的谢谢再见",
        "没事了再见",
        "下次再聊",
        "先这样吧拜拜",
        "回头见",
        "谢谢拜拜",
    ],
}


def _data(groups: dict[str, list[str]], language: str = "zh") -> NLUData:
    return NLUData(
        examples=[TrainingExample(t, intent) for intent, texts in groups.items() for t in texts],
        language=language,
    )


def _parse(clf: ZhikeIntentClassifier, text: str, tok: JiebaTokenizer | None = None) -> NLUMessage:
    msg = NLUMessage(text)
    ZhikeNormalizer().process(msg)
    if tok is not None:
        tok.process(msg)
    clf.process(msg)
    return msg


@pytest.fixture(scope="module")
def trained() -> tuple[ZhikeIntentClassifier, JiebaTokenizer]:
    data, ctx = _data(ZH), TrainContext()
    tok = JiebaTokenizer()
    tok.train(data, ctx)
    clf = ZhikeIntentClassifier()
    clf.train(data, ctx)
    return clf, tok


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("您好", "greet"),
        ("帮我查查余额", "check_balance"),
        ("訂一張去深圳的機票", "book_ticket"),
        ("拜拜啦", "goodbye"),
    ],
)
def test_predicts_unseen_paraphrases(
    trained: tuple[ZhikeIntentClassifier, JiebaTokenizer], text: str, intent: str
) -> None:
    clf, tok = trained
    msg = _parse(clf, text, tok)
    assert msg.intent is not None and msg.intent.name == intent


def test_ranking_is_sorted_probability_distribution(
    trained: tuple[ZhikeIntentClassifier, JiebaTokenizer],
) -> None:
    clf, tok = trained
    msg = _parse(clf, "我想查余额", tok)
    confs = [r.confidence for r in msg.ranking]
    assert confs == sorted(confs, reverse=True)
    assert len(msg.ranking) == 4 and abs(sum(confs) - 1.0) < 1e-5
    assert msg.intent == msg.ranking[0]


def test_pickle_and_no_tokens_fallback(
    trained: tuple[ZhikeIntentClassifier, JiebaTokenizer],
) -> None:
    clf, _ = trained
    clone = pickle.loads(pickle.dumps(clf))
    msg = _parse(clone, "帮我订机票")  # no tokenizer ran: the classifier segments itself
    assert msg.intent is not None and msg.intent.name == "book_ticket"


def test_train_messages_api() -> None:
    msgs, intents = [], []
    tok = JiebaTokenizer()
    for intent, texts in ZH.items():
        for t in texts:
            m = NLUMessage(t)
            ZhikeNormalizer().process(m)
            tok.process(m)
            msgs.append(m)
            intents.append(intent)
    clf = ZhikeIntentClassifier()
    clf.train_messages(msgs, intents)
    assert clf.intents == sorted(ZH)
    assert _parse(clf, "余额还有多少", tok).intent.name == "check_balance"  # type: ignore[union-attr]


def test_tiny_project_two_intents_three_examples() -> None:
    data = _data({"yes": ["是的", "对", "好的"], "no": ["不是", "不对", "不要"]})
    clf = ZhikeIntentClassifier()
    clf.train(data, TrainContext())
    msg = _parse(clf, "好的呀")
    assert msg.intent is not None and msg.intent.name == "yes"
    assert len(msg.ranking) == 2 and 0.5 < msg.intent.confidence < 1.0


def test_single_intent_and_empty_project() -> None:
    clf = ZhikeIntentClassifier()
    clf.train(_data({"only": ["随便说点什么"]}), TrainContext())
    msg = _parse(clf, "完全不同的话")
    assert msg.intent is not None and (msg.intent.name, msg.intent.confidence) == ("only", 1.0)
    empty = ZhikeIntentClassifier()
    empty.train(NLUData(), TrainContext())
    assert _parse(empty, "你好").intent is None


def test_english() -> None:
    data = _data(
        {
            "greet": ["hello there", "hi", "good morning", "hey bot"],
            "bye": ["goodbye", "see you later", "bye bye", "talk to you later"],
        },
        language="en",
    )
    clf = ZhikeIntentClassifier(language="en")
    clf.train(data, TrainContext(language="en"))
    msg = NLUMessage("Hello!")
    ZhikeNormalizer(language="en").process(msg)
    clf.process(msg)
    assert msg.intent is not None and msg.intent.name == "greet"


def test_fit_temperature_recovers_scale() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3000, 4)) * 2.0
    labels = np.array([rng.choice(4, p=p) for p in softmax(logits, 1.0)])
    assert fit_temperature(logits * 3.0, labels) == pytest.approx(3.0, rel=0.15)


def test_marked_and_boundary_ngrams() -> None:
    assert marked_ngrams("查余额") == [
        *["^", "查", "余", "额", "$"],
        *["^查", "查余", "余额", "额$"],
        *["^查余", "查余额", "余额$"],
    ]
    assert marked_ngrams("") == []
    assert boundary_ngrams(["查", "余额"]) == [
        " 查",
        "查 ",
        " 查 ",
        " 余",
        "余额",
        "额 ",
        " 余额",
        "余额 ",
    ]


def test_raw_block_sees_the_customer_text_and_tf_is_sublinear() -> None:
    docs = [make_doc("订机票", ["订", "机票"], raw="訂機票"), make_doc("好好好", ["好好好"])]
    feat = Featurizer({"m": 1.0, "r": 1.0, "w": 0.5}, sublinear=True).fit(docs)
    assert "訂" in feat.vocab["r"] and "訂" not in feat.vocab["m"]
    idx, vals = feat.row(make_doc("好好好", ["好好好"]))
    assert len(idx) == len(set(idx.tolist()))
    for block, weight in feat.weights.items():  # each block L2-normalised to its weight
        cols = set(feat.vocab[block].values())
        mask = np.array([i in cols for i in idx.tolist()])
        assert float(np.sqrt((vals[mask] ** 2).sum())) == pytest.approx(weight, rel=1e-5)
    col = {int(i): float(v) for i, v in zip(idx, vals, strict=True)}
    hat, good = feat.vocab["m"]["^"], feat.vocab["m"]["好"]
    # "好" occurs three times, "^" once: term frequency 1 + ln 3, not 3
    ratio = (col[good] / feat.idf[good]) / (col[hat] / feat.idf[hat])
    assert ratio == pytest.approx(1.0 + np.log(3.0), rel=1e-5)


def test_classifier_uses_raw_text_when_its_block_is_chosen() -> None:
    data, ctx = _data(ZH), TrainContext()
    tok = JiebaTokenizer()
    tok.train(data, ctx)
    clf = ZhikeIntentClassifier({"blocks": {"m": 1.0, "r": 1.0, "b": 0.7, "w": 0.7}})
    clf.train(data, ctx)
    assert clf.featurizer is not None and list(clf.featurizer.weights) == ["m", "r", "b", "w"]
    msg = NLUMessage("訂票")
    ZhikeNormalizer().process(msg)
    tok.process(msg)
    plain = clf.scores(msg)
    msg.text = "订票"  # same normalised text and tokens, different raw text
    assert not np.allclose(plain, clf.scores(msg))


def test_unknown_block_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown feature blocks"):
        ZhikeIntentClassifier({"blocks": {"zz": 1.0}}).train(_data(ZH), TrainContext())
