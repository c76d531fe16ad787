from __future__ import annotations

import numpy as np

from bot.kb.calibrate import (
    Calibrator,
    expected_calibration_error,
    fit_isotonic,
    fit_platt,
    margins,
    reliability,
    threshold_for_precision,
)


def _data(n: int = 2000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    raw = rng.normal(size=n) * 2
    lead = np.abs(rng.normal(size=n))
    p = 1 / (1 + np.exp(-(raw + lead - 0.5)))
    return raw, lead, rng.random(n) < p


def test_platt_is_monotone_and_bounded() -> None:
    raw, lead, right = _data()
    cal = fit_platt(raw, right, lead)
    grid = np.linspace(-50, 50, 401)
    for m in (0.0, 1.0, 5.0, -2.0):
        p = cal(grid, np.full_like(grid, m))
        assert np.all((p >= 0) & (p <= 1))
        assert np.all(np.diff(p) >= 0)
    assert cal.a > 0 and cal.c > 0
    assert cal(np.array([1.0]), np.array([3.0]))[0] > cal(np.array([1.0]), np.array([0.0]))[0]


def test_isotonic_is_monotone_and_bounded() -> None:
    raw, _, right = _data()
    cal = fit_isotonic(raw, right)
    p = cal(np.linspace(-20, 20, 201))
    assert np.all((p >= 0) & (p <= 1)) and np.all(np.diff(p) >= 0)
    assert p[0] < 0.2 < 0.8 < p[-1]


def test_fitted_calibration_is_calibrated_on_its_distribution() -> None:
    raw, lead, right = _data(5000)
    assert expected_calibration_error(fit_platt(raw, right, lead)(raw, lead), right) < 0.05
    assert expected_calibration_error(Calibrator(a=0.0, b=8.0)(raw), right) > 0.3


def test_single_class_and_default() -> None:
    cal = fit_platt([0.1, 0.2], [True, True])
    assert cal([0.0])[0] > 0.9
    assert Calibrator()([0.0])[0] == 0.5


def test_margins() -> None:
    assert margins([3.0, 1.0, 0.5]).tolist() == [2.0, -2.0, -2.5]
    assert margins([1.0]).tolist() == [5.0]
    assert len(margins([])) == 0


def test_threshold_for_precision_and_reliability() -> None:
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    right = np.array([True, True, False, True, False])
    assert threshold_for_precision(p, right, 1.0) == 0.8
    assert threshold_for_precision(p, right, 0.75) == 0.6
    assert threshold_for_precision(p, np.zeros(5, bool), 0.5) == 1.0
    rows = reliability(p, right, bins=2)
    assert sum(r["n"] for r in rows) == 5
