"""Slice intervals: each metric over weighted resamples equals scikit-learn on the rows drawn;
Wilson intervals hold the share; an interval holds the metric it is an interval of."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.evaluation.intervals import WEIGHTED, Rows, interval, wilson
from shipyard.metrics import compute_metrics


def rows_for(task: str, n: int, seed: int) -> Rows:
    rng = np.random.default_rng(seed)
    if task == "regression":
        truth = rng.normal(10, 3, n)
        return Rows(task, truth, truth + rng.normal(0, 1, n), None, None)
    k = 2 if task == "binary_classification" else 3
    truth = np.array(["abc"[i] for i in rng.integers(0, k, n)])
    proba = rng.dirichlet(np.ones(k), n)
    proba[: n // 5] = proba[0]  # ties in the scores
    predicted = np.array(["abc"[i] for i in proba.argmax(axis=1)])
    return Rows(task, truth, predicted, proba, list("abc"[:k]))


CASES = [
    ("binary_classification", m)
    for m in ("roc_auc", "f1", "balanced_accuracy", "log_loss", "brier")
] + [("multiclass_classification", m) for m in ("f1_macro", "balanced_accuracy", "log_loss")]
CASES += [("regression", m) for m in ("rmse", "mae", "mape", "r2")]


@pytest.mark.parametrize(("task", "metric"), CASES)
@settings(max_examples=6, deadline=None)
@given(n=st.integers(20, 120), seed=st.integers(0, 10_000))
def test_a_weighted_resample_is_the_metric_on_the_rows_drawn(
    task: str, metric: str, n: int, seed: int
) -> None:
    rows = rows_for(task, n, seed)
    rng = np.random.default_rng(seed + 1)
    counts = rng.multinomial(n, np.full(n, 1 / n), size=3)
    found = WEIGHTED[metric](rows, counts.astype(float))
    for weights, value in zip(counts, found, strict=True):
        pick = np.repeat(np.arange(n), weights)
        proba = None if rows.proba is None else rows.proba[pick]
        expected = compute_metrics(
            task, [metric], rows.truth[pick], rows.predicted[pick], proba, rows.classes
        )
        if metric in expected:
            assert value == pytest.approx(
                expected[metric], abs=2e-6
            )  # metrics are rounded to 6 places


@pytest.mark.parametrize(
    ("task", "metric"),
    [
        *CASES,
        ("binary_classification", "accuracy"),
        ("binary_classification", "precision"),
        ("binary_classification", "pr_auc"),
    ],
)
def test_the_interval_holds_the_metric(task: str, metric: str) -> None:
    rows = rows_for(task, 200, 7)
    value = compute_metrics(task, [metric], rows.truth, rows.predicted, rows.proba, rows.classes)[
        metric
    ]
    found = interval(rows, metric)
    assert found.low is not None and found.high is not None
    assert found.low <= value <= found.high
    assert found.method == ("Wilson score" if metric in ("accuracy", "precision") else found.method)


@given(st.integers(0, 500), st.integers(1, 500))
def test_wilson_holds_the_share_and_stays_in_zero_to_one(hits: int, trials: int) -> None:
    hits = min(hits, trials)
    low, high = wilson(hits, trials) or (None, None)
    assert low is not None and high is not None
    assert 0 <= low <= hits / trials + 1e-12 and hits / trials - 1e-12 <= high <= 1


def test_wilson_matches_the_textbook_figure() -> None:
    # Newcombe (1998), table I: 81 of 263 -> 0.2553 to 0.3662
    assert wilson(81, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)
