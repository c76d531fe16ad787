from __future__ import annotations

import pickle

from bot.nlu.component import NLUMessage, TrainContext
from bot.nlu.tokenizer import JiebaTokenizer, WhitespaceTokenizer, user_words
from bot.nlu.types import Entity, NLUData, TrainingExample


def _data() -> NLUData:
    return NLUData(
        examples=[TrainingExample("我想去乌鲁木齐市", "go", [Entity("city", "乌鲁木齐市", 3, 8)])],
        synonyms={"魔都": "上海"},
        lookups={"dish": ["宫保鸡丁饭"]},
    )


def test_offsets_match_text() -> None:
    tok = JiebaTokenizer()
    text = "我想订明天去北京的机票 ok"
    tokens = tok.tokenize(text)
    assert tokens and all(text[t.start : t.end] == t.text for t in tokens)
    assert all(not t.text.isspace() for t in tokens)


def test_user_dictionary_keeps_words_whole() -> None:
    tok = JiebaTokenizer()
    ctx = TrainContext(extra_words={"知客小助手"})
    tok.train(_data(), ctx)
    assert ctx.artifacts["tokenizer"] is tok
    words = [t.text for t in tok.tokenize("知客小助手帮我点宫保鸡丁饭送到乌鲁木齐市")]
    assert {"知客小助手", "宫保鸡丁饭", "乌鲁木齐市"} <= set(words)


def test_private_instance_does_not_touch_global_jieba() -> None:
    import jieba

    tok = JiebaTokenizer()
    tok.train(_data(), TrainContext())
    tok.tokenize("x")
    assert tok.segmenter is not jieba.dt
    assert "宫保鸡丁饭" not in jieba.lcut("宫保鸡丁饭")


def test_pickle_round_trip_rebuilds_lazily() -> None:
    tok = JiebaTokenizer()
    tok.train(_data(), TrainContext())
    tok.tokenize("warm up")
    blob = pickle.dumps(tok)
    assert len(blob) < 10_000
    clone = pickle.loads(blob)
    assert [t.text for t in clone.tokenize("去乌鲁木齐市")] == ["去", "乌鲁木齐市"]


def test_user_words_are_normalised() -> None:
    data = NLUData(lookups={"city": ["臺北", "ＡＢ"]})
    assert user_words(data) == ["ab", "台北"]


def test_process_and_intent_split() -> None:
    msg = NLUMessage(
        "订票",
    )
    tok = JiebaTokenizer({"intent_tokenization_flag": True, "intent_split_symbol": "+"})
    tok.process(msg)
    assert "".join(t.text for t in msg.tokens) == "订票"
    assert tok.tokenize_intent("greet+ask") == ["greet", "ask"]
    assert JiebaTokenizer().tokenize_intent("greet+ask") == ["greet+ask"]


def test_whitespace_tokenizer() -> None:
    text = "Hello, world! (it's) 3.5 ok?"
    tokens = WhitespaceTokenizer().tokenize(text)
    assert [t.text for t in tokens] == ["Hello", "world", "it's", "3.5", "ok"]
    assert all(text[t.start : t.end] == t.text for t in tokens)
