"""Every entry of the metric table passes the same checks.

For each metric and each task it declares: a finite value on small valid data; a
perfect prediction scores better than a random one in the direction the entry
declares; and the value depends on probabilities exactly when the entry says it
needs them. The project file's lists (``METRICS``, ``LOWER_IS_BETTER``) are pinned
to the table.
"""

from __future__ import annotations

import math
from typing import Any, get_args

import numpy as np
import pytest

from shipyard.config.schema import LOWER_IS_BETTER, METRICS, Task
from shipyard.metrics import BINARY, METRIC_SPECS, MULTICLASS, compute_metrics, default_metrics

CASES = [(name, task) for name, spec in METRIC_SPECS.items() for task in spec.tasks]
LABELS = {
    "binary_classification": [0, 1],
    "multiclass_classification": ["a", "b", "c"],
}


def _truth(task: str, n: int = 300) -> np.ndarray:
    rng = np.random.default_rng(1)
    if task == "regression":
        return rng.uniform(1.0, 10.0, size=n)  # positive: MAPE is defined
    labels = LABELS[task]
    return np.array([labels[i % len(labels)] for i in range(n)])


def _perfect(task: str, y: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    if task == "regression":
        return y.copy(), None
    labels = LABELS[task]
    proba = np.array([[0.98 if c == v else 0.02 / (len(labels) - 1) for c in labels] for v in y])
    return y.copy(), proba


def _random(task: str, y: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    rng = np.random.default_rng(2)
    if task == "regression":
        return rng.uniform(1.0, 10.0, size=len(y)), None
    labels = LABELS[task]
    predicted = np.array([labels[i] for i in rng.integers(0, len(labels), size=len(y))])
    return predicted, rng.dirichlet(np.ones(len(labels)), size=len(y))


def _value(
    name: str, task: str, y: np.ndarray, predicted: np.ndarray, proba: np.ndarray | None
) -> float | None:
    classes: list[Any] | None = LABELS.get(task)
    return compute_metrics(task, [name], y, predicted, proba, classes).get(name)


def test_the_project_file_lists_follow_the_table() -> None:
    assert set(METRICS) == set(get_args(Task))
    for task in get_args(Task):
        assert METRICS[task] == default_metrics(task), task
    assert {n for n, s in METRIC_SPECS.items() if not s.higher_is_better} == LOWER_IS_BETTER
    assert all(name == spec.name for name, spec in METRIC_SPECS.items())
    assert all(spec.tasks for spec in METRIC_SPECS.values())


@pytest.mark.parametrize(("name", "task"), CASES)
def test_a_finite_value_on_small_valid_data(name: str, task: str) -> None:
    y = _truth(task, n=20)
    predicted, proba = _random(task, y)
    value = _value(name, task, y, predicted, proba)
    assert value is not None and math.isfinite(value)


@pytest.mark.parametrize(("name", "task"), CASES)
def test_a_perfect_prediction_beats_a_random_one_the_declared_way(name: str, task: str) -> None:
    y = _truth(task)
    perfect = _value(name, task, y, *_perfect(task, y))
    chance = _value(name, task, y, *_random(task, y))
    assert perfect is not None and chance is not None
    if METRIC_SPECS[name].higher_is_better:
        assert perfect > chance
    else:
        assert perfect < chance


@pytest.mark.parametrize(("name", "task"), CASES)
def test_the_value_depends_on_probabilities_exactly_when_declared(name: str, task: str) -> None:
    y = _truth(task)
    right, right_proba = _perfect(task, y)
    wrong, wrong_proba = _random(task, y)
    if METRIC_SPECS[name].needs_proba:
        assert _value(name, task, y, right, None) is None  # left out, not a crash
        assert _value(name, task, y, wrong, right_proba) == _value(
            name, task, y, right, right_proba
        )
    else:
        assert _value(name, task, y, right, None) == _value(name, task, y, right, wrong_proba)
        assert _value(name, task, y, wrong, right_proba) != _value(
            name, task, y, right, right_proba
        )


def test_unknown_metrics_and_probability_metrics_of_another_task_are_left_out() -> None:
    y = _truth("multiclass_classification")
    predicted, proba = _perfect("multiclass_classification", y)
    values = compute_metrics(
        "multiclass_classification", ["bogus", "roc_auc", "accuracy"], y, predicted, proba
    )
    assert list(values) == ["accuracy"]


def test_a_metric_left_out_says_why() -> None:
    """A label the model never saw (a rare one that fell only into the holdout) or a model
    without probabilities: the metric is left out, and the reason is kept, not lost."""
    skipped: dict[str, str] = {}
    computed = compute_metrics(
        MULTICLASS,
        ["accuracy", "log_loss"],
        np.array(["a", "b", "rare", "a"]),
        np.array(["a", "b", "a", "a"]),
        np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.9, 0.1]]),
        ["a", "b"],
        skipped=skipped,
    )
    assert computed == {"accuracy": 0.75}
    assert skipped == {
        "log_loss": "the rows scored have label(s) 'rare' the model has no class for "
        "(not in its training rows)"
    }
    skipped.clear()
    compute_metrics(BINARY, ["f1", "roc_auc"], np.array([0, 1]), np.array([0, 1]), skipped=skipped)
    assert skipped == {"roc_auc": "the model gives no probabilities (no predict_proba)"}
