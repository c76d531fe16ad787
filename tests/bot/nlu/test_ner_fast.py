from __future__ import annotations

import pickle
from typing import cast

import numpy as np
import pytest
import spacy
from spacy.pipeline import Tagger
from thinc.api import NumpyOps, Relu, Softmax, chain

from bot.nlu.component import NLUMessage, TrainContext
from bot.nlu.ner import ZhikeNER
from bot.nlu.ner_fast import FastTagger, TokenCache, Window
from bot.nlu.types import Entity, NLUData, TrainingExample
from tests.bot.nlu.test_ner import city_data

PLANS = ["5G畅享套餐", "iPhone 15 Pro", "流量包30G", "无限流量卡", "Pro Max 99"]
PHONES = ["13800138000", "15912345678", "18688886666"]
TEMPLATES = [
    "给{phone}办理{plan}",
    "{plan}每月多少钱",
    "我在{city}想办{plan}",
    "{phone}的{plan}到期了吗",
]

TEXTS = [
    "查",  # one token
    "北",
    "5",
    "😀",
    "A",
    "给13800138000办理5G畅享套餐",
    "我在杭州想办iPhone 16 Pro Max",
    "😀😀查北京😀的天气",
    "喵呜啾咕叽",  # characters never seen in training
    "\x00\x01\u200b北京\x7f",
    "the quick brown fox jumps over the lazy dog 123",
    "12345678901234567890",
    "ＡＢＣ１２３，。！？",
    "   前后空格   ",
    "上海明天下雨吗" * 80,  # long text
    "流量包30G每月多少钱？帮我查查北京和深圳的天气，谢谢！",
]


def telecom_data() -> NLUData:
    examples = list(city_data().examples)
    cities = ["北京", "上海", "广州", "成都"]
    for i in range(24):
        plan, phone, city = PLANS[i % 5], PHONES[i % 3], cities[i % 4]
        text = TEMPLATES[i % 4].format(plan=plan, phone=phone, city=city)
        ents = []
        for entity, value in (("plan", plan), ("phone", phone), ("city", city)):
            if value in text:
                start = text.index(value)
                ents.append(Entity(entity, value, start, start + len(value)))
        examples.append(TrainingExample(text, "service", ents))
    return NLUData(examples=examples)


@pytest.fixture(scope="module")
def ner() -> ZhikeNER:
    model = ZhikeNER({"epochs": 8, "patience": 8, "max_train_seconds": 30})
    model.train(telecom_data(), TrainContext())
    return model


def thinc_probs(ner: ZhikeNER, text: str) -> tuple[np.ndarray, np.ndarray]:
    """(thinc's probabilities, the doc's feature array) as ZhikeNER.extract builds the doc."""
    doc = ner._doc(ner._sample(NLUMessage(text).normalized_text, [], set()))
    assert ner._fast is not None
    return ner._model().predict([doc])[0], ner._fast.features(doc)


def test_trained_model_compiles(ner: ZhikeNER) -> None:
    fast = ner._fast
    assert fast is not None
    assert fast.columns == ("NORM", "PREFIX", "SUFFIX", "SHAPE", "LEMMA")
    assert fast.n_labels == len(ner._tagger().labels)
    assert [type(step).__name__ for step in fast.steps] == ["TokenCache", "Padded", "Softmax"]


@pytest.mark.parametrize("cache_size", [0, 16384])
def test_probabilities_equal_thinc(ner: ZhikeNER, cache_size: int) -> None:
    fast = FastTagger.from_model(ner._model(), cache_size=cache_size)
    assert fast is not None
    texts = TEXTS + [ex.text for ex in telecom_data().examples[::3]]
    for text in texts:
        want, features = thinc_probs(ner, text)
        got = fast.predict(features)
        assert got.shape == want.shape and got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5, err_msg=text)
        assert np.array_equal(got.argmax(axis=1), want.argmax(axis=1)), text


def test_token_cache_is_transparent(ner: ZhikeNER) -> None:
    cached = FastTagger.from_model(ner._model(), cache_size=3)  # cleared again and again
    plain = FastTagger.from_model(ner._model(), cache_size=0)
    assert cached is not None and plain is not None
    assert isinstance(cached.steps[0], TokenCache)
    for text in TEXTS * 2:
        _, features = thinc_probs(ner, text)
        assert np.array_equal(cached.predict(features), plain.predict(features)), text
    assert len(cached.steps[0].memo) <= 3 + len(features)


def test_entities_identical_to_thinc(ner: ZhikeNER) -> None:
    slow = pickle.loads(pickle.dumps(ner))
    assert slow._fast is not None  # rebuilt on load
    slow._fast = None  # the thinc fallback
    texts = TEXTS + [ex.text for ex in telecom_data().examples]
    found = 0
    for text in texts:
        fast_ents, slow_ents = ner.extract(NLUMessage(text)), slow.extract(NLUMessage(text))
        assert [e.confidence for e in fast_ents] == pytest.approx(
            [e.confidence for e in slow_ents], abs=1e-5
        )
        key = [(e.entity, e.value, e.start, e.end, e.role, e.group) for e in fast_ents]
        assert key == [(e.entity, e.value, e.start, e.end, e.role, e.group) for e in slow_ents]
        found += len(key)
    assert found > 20


def test_fast_tagger_is_derived_not_pickled(ner: ZhikeNER) -> None:
    state = ner.__getstate__()
    assert set(state) == {"config", "language", "targets", "gazetteer", "stats", "model"}
    restored = pickle.loads(pickle.dumps(ner))
    assert restored._fast is not None and restored._fast is not ner._fast


def test_empty_doc(ner: ZhikeNER) -> None:
    assert ner._fast is not None
    empty = ner._fast.predict(np.zeros((0, 5), dtype=np.uint64))
    assert empty.shape == (0, len(ner._tagger().labels))


@pytest.mark.parametrize("size", [1, 2])
def test_window_matches_thinc_seq2col(size: int) -> None:
    X = np.arange(5 * 3, dtype=np.float32).reshape(5, 3) + 1
    np.testing.assert_array_equal(Window(size)(X), NumpyOps().seq2col(X, size))


def test_unknown_architectures_fall_back() -> None:
    assert FastTagger.from_model(chain(Relu(4, 3), Softmax(2, 4))) is None
    nlp = spacy.blank("en")
    tok2vec = {
        "@architectures": "spacy.Tok2Vec.v2",
        "embed": {
            "@architectures": "spacy.MultiHashEmbed.v2",
            "width": 16,
            "attrs": ["NORM"],
            "rows": [50],
            "include_static_vectors": False,
        },
        "encode": {
            "@architectures": "spacy.MishWindowEncoder.v2",
            "width": 16,
            "window_size": 1,
            "depth": 1,
        },
    }
    model = {"@architectures": "spacy.Tagger.v2", "nO": None, "tok2vec": tok2vec}
    tagger = cast(Tagger, nlp.add_pipe("tagger", config={"model": model}))
    tagger.add_label("X")
    nlp.initialize()
    assert FastTagger.from_model(tagger.model) is None


def test_english_and_char_models_compile() -> None:
    english = ZhikeNER({"epochs": 3}, language="en")
    texts = [f"weather in {c} today" for c in ["paris", "london", "tokyo"]]
    examples = [
        TrainingExample(t, "w", [Entity("city", t[11:-6], 11, len(t) - 6)]) for t in texts * 3
    ]
    english.train(NLUData(examples=examples, language="en"), TrainContext(language="en"))
    chars = ZhikeNER({"segmentation": "char", "epochs": 3, "gazetteer": False})
    chars.train(city_data(), TrainContext())
    assert chars._fast is not None
    assert chars._fast.columns == ("NORM", "PREFIX", "SUFFIX", "SHAPE")
    for model, text in ((english, "weather in rome today 😀 42"), (chars, "查广州的天气 ok")):
        want, features = thinc_probs(model, text)
        assert model._fast is not None
        np.testing.assert_allclose(model._fast.predict(features), want, rtol=0, atol=1e-5)
