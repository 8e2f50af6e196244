"""CBPE on synthetic data with known truth: a model whose probabilities are distorted but
whose ranking is right, calibrated on a holdout, then windows under covariate shift."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.config.schema import ESTIMATED as CONFIG_ESTIMATED
from shipyard.metrics import compute_metrics
from shipyard.monitoring.cbpe import ESTIMATED, Calibration, calibrate, estimate

BINARY = ESTIMATED["binary_classification"]


def _binary(n: int, a: float, b: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """True P(y=1|x) ~ Beta(a, b) (the shift moves it); the model says p**3 (overconfident
    in the negatives, ranking intact)."""
    rng = np.random.default_rng(seed)
    truth = rng.beta(a, b, n)
    y = rng.random(n) < truth
    said = truth**3
    return np.column_stack([1 - said, said]), y


def test_the_config_lists_what_the_estimator_estimates() -> None:
    assert CONFIG_ESTIMATED == ESTIMATED


def test_calibration_repairs_distorted_probabilities_and_round_trips() -> None:
    proba, y = _binary(20_000, 1, 1, seed=0)
    cal = calibrate(proba, y, [False, True], source="holdout")
    assert cal.method == "isotonic"
    assert cal.ece_before > 0.2 and cal.ece_after < 0.02
    mid = cal.apply(np.array([[0.875, 0.125]]))  # said 0.125 = 0.5**3: truly 0.5
    assert abs(mid[0, 1] - 0.5) < 0.05 and abs(mid.sum() - 1) < 1e-12
    assert Calibration.from_dict(cal.as_dict()) == cal


def test_a_calibrated_model_keeps_its_own_probabilities() -> None:
    rng = np.random.default_rng(1)
    p = rng.random(5000)
    y = rng.random(5000) < p
    cal = calibrate(np.column_stack([1 - p, p]), y, [0, 1], source="holdout")
    assert cal.method.startswith("none")
    assert np.allclose(cal.apply(np.array([[0.3, 0.7]])), [[0.3, 0.7]])


@pytest.mark.parametrize(("a", "b"), [(1, 1), (2, 1), (1, 2), (3, 1)])
def test_estimates_are_near_the_realized_metrics_under_covariate_shift(a: float, b: float) -> None:
    holdout, y_holdout = _binary(20_000, 1, 1, seed=0)
    cal = calibrate(holdout, y_holdout, [False, True], source="holdout")
    proba, y = _binary(5000, a, b, seed=10 + a + b)
    predicted = proba[:, 1] >= 0.5
    found = estimate(proba, predicted, cal, BINARY)
    realized = compute_metrics("binary_classification", BINARY, y, predicted, proba, [False, True])
    assert [e.metric for e in found.estimates] == BINARY and found.rows == 5000
    for e in found.estimates:
        assert abs(e.value - realized[e.metric]) < 0.03, (e, realized[e.metric])
        assert e.low <= e.value <= e.high and e.high - e.low < 0.1


def test_the_interval_covers_the_realized_metric_at_about_its_level() -> None:
    """A calibrated model: over 25 windows the 95% interval misses the realized figure rarely."""
    rng = np.random.default_rng(7)
    p = rng.random(2000)
    cal = calibrate(np.column_stack([1 - p, p]), rng.random(2000) < p, [0, 1], source="h")
    misses = 0
    for _ in range(25):
        q = rng.beta(2, 1, 2000)
        y = (rng.random(2000) < q).astype(int)
        proba = np.column_stack([1 - q, q])
        predicted = (q >= 0.5).astype(int)
        found = estimate(proba, predicted, cal, ["accuracy", "roc_auc"], draws=100)
        real = compute_metrics(
            "binary_classification", ["accuracy", "roc_auc"], y, predicted, proba, [0, 1]
        )
        misses += sum(not (e.low <= real[e.metric] <= e.high) for e in found.estimates)
    assert misses <= 7  # 50 readings at 95%: about 2.5 expected


def test_multiclass_accuracy_and_macro_scores() -> None:
    rng = np.random.default_rng(3)

    def draw(n: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
        logits = rng.normal(0, 1.5, (n, 3))
        logits[:, 0] += shift
        truth = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        y = (rng.random((n, 1)) > truth.cumsum(axis=1)).sum(axis=1)
        said = truth**2 / (truth**2).sum(axis=1, keepdims=True)  # overconfident
        return said, y

    cal = calibrate(*draw(10_000, 0.0), [0, 1, 2], source="holdout")
    proba, y = draw(5000, 1.0)
    predicted = proba.argmax(axis=1)
    metrics = ESTIMATED["multiclass_classification"]
    found = estimate(proba, predicted, cal, metrics)
    realized = compute_metrics("multiclass_classification", metrics, y, predicted, proba, [0, 1, 2])
    for e in found.estimates:
        assert abs(e.value - realized[e.metric]) < 0.03, (e, realized[e.metric])


def test_too_few_answers_do_not_alert_and_none_estimate_nothing() -> None:
    proba, y = _binary(2000, 1, 1, seed=0)
    cal = calibrate(proba, y, [False, True], source="holdout")
    few = estimate(proba[:10], proba[:10, 1] >= 0.5, cal, BINARY, min_rows=30)
    assert not few.enough and "alert from 30" in few.note
    none = estimate(np.empty((0, 2)), [], cal, BINARY)
    assert none.rows == 0 and none.estimates == []


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.floats(0, 1), min_size=2, max_size=60),
    st.lists(st.booleans(), min_size=2, max_size=60),
)
def test_calibrated_probabilities_stay_probabilities(scores: list[float], hits: list[bool]) -> None:
    n = min(len(scores), len(hits))
    p = np.asarray(scores[:n])
    cal = calibrate(np.column_stack([1 - p, p]), np.asarray(hits[:n]), [False, True], source="h")
    out = cal.apply(np.column_stack([1 - p, p]))
    assert np.all((out >= 0) & (out <= 1)) and np.allclose(out.sum(axis=1), 1)
    found = estimate(np.column_stack([1 - p, p]), p >= 0.5, cal, BINARY, draws=20)
    assert all(0 <= e.value <= 1 for e in found.estimates)
