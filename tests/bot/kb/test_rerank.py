from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.kb.analysis import Analyzer
from bot.kb.rerank import FEATURES, PARAMS_FILE, Candidates, Reranker, features, fit, load
from bot.kb.segment import Match


def test_shipped_parameters_load_and_rank_sensibly() -> None:
    model = load()
    assert PARAMS_FILE.exists() and model.features == list(FEATURES)
    assert 0.0 < model.thresholds["clarify"] < model.thresholds["answer"] < 1.0
    good = np.ones((1, len(FEATURES)))
    bad = np.zeros((1, len(FEATURES)))
    good[0, FEATURES.index("exact")] = 0.0
    assert model.logit(good)[0] > model.logit(bad)[0]


def test_text_features() -> None:
    query = Analyzer().analyze("信用卡怎么还款")
    n = 2
    zeros = np.zeros(n, dtype=np.float32)
    match = Match({v: zeros for v in ("word", "char", "pinyin")}, {}, {})
    match.matched = dict(match.score)
    match.mass = {v: np.ones(n, dtype=np.float32) for v in match.score}
    cands = Candidates(["a", "b"], ["q1", "q2"], ["信用卡怎么还款", "天气"], match)
    x = features(query, {"word": 1.0, "char": 1.0, "pinyin": 1.0}, cands)
    assert x.shape == (2, len(FEATURES))
    row = dict(zip(FEATURES, x[0], strict=True))
    assert row["exact"] == 1.0 and row["lcs_q"] == 1.0 and row["jaccard"] == 1.0
    assert dict(zip(FEATURES, x[1], strict=True))["jaccard"] == 0.0


def test_fit_roundtrip_and_feature_check(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.random((200, len(FEATURES)))
    y = (x[:, 0] > 0.5).astype(int)
    model = fit(x, y)
    assert model.coef[0] > 0
    path = tmp_path / "m.json"
    path.write_text(model.to_json(), encoding="utf-8")
    again = load(path)
    assert np.allclose(again.logit(x), model.logit(x))
    assert load(tmp_path / "absent.json").coef == Reranker.fallback().coef
    path.write_text(model.to_json().replace('"word_bm25"', '"other"'), encoding="utf-8")
    with pytest.raises(ValueError):
        load(path)
