"""Metrics by task, computed with scikit-learn from labels, predictions and probabilities.

Shared by training (holdout metrics) and evaluation (metrics, slices, gates), and
the curves the evaluation report plots.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shipyard.config.schema import METRICS


def default_metrics(task: str) -> list[str]:
    """The metrics reported for ``task`` when the project file names none."""
    return list(METRICS[task])


def compute_metrics(
    task: str,
    names: list[str],
    y_true: Any,
    y_pred: Any,
    proba: np.ndarray | None = None,
    classes: list[Any] | None = None,
) -> dict[str, float]:
    """Each metric in ``names`` (those that cannot be computed, e.g. ROC AUC on one class, are left out)."""
    from sklearn import metrics as m

    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    results: dict[str, float] = {}
    for name in names:
        try:
            value = _metric(m, task, name, y_true, y_pred, proba, classes)
        except ValueError:
            continue  # e.g. only one class in the holdout
        if value is not None and np.isfinite(value):
            results[name] = round(float(value), 6)
    return results


def _metric(
    m: Any, task: str, name: str, y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None,
    classes: list[Any] | None,
) -> float | None:  # fmt: skip
    if name == "mape":
        return float(m.mean_absolute_percentage_error(y_true, y_pred))
    if name == "rmse":
        return float(np.sqrt(m.mean_squared_error(y_true, y_pred)))
    if name == "mae":
        return float(m.mean_absolute_error(y_true, y_pred))
    if name == "r2":
        return float(m.r2_score(y_true, y_pred))
    if name == "accuracy":
        return float(m.accuracy_score(y_true, y_pred))
    if name == "balanced_accuracy":
        return float(m.balanced_accuracy_score(y_true, y_pred))
    positive = positive_label(classes, y_true)
    if name in ("precision", "recall", "f1"):
        scorer = {"precision": m.precision_score, "recall": m.recall_score, "f1": m.f1_score}[name]
        return float(scorer(y_true, y_pred, pos_label=positive, zero_division=0))
    if name == "f1_macro":
        return float(m.f1_score(y_true, y_pred, average="macro", zero_division=0))
    if proba is None:
        return None
    labels = classes if classes is not None else sorted(set(y_true.tolist()))
    if name == "log_loss":
        return float(m.log_loss(y_true, proba, labels=labels))
    if name == "ece":
        return expected_calibration_error(y_true, proba, labels)
    score = positive_score(proba, labels, positive)
    if name == "roc_auc" and task == "binary_classification":
        return float(m.roc_auc_score(y_true == positive, score))
    if name == "pr_auc" and task == "binary_classification":
        return float(m.average_precision_score(y_true == positive, score))
    if name == "brier" and task == "binary_classification":
        return float(m.brier_score_loss(y_true == positive, score))
    return None


def positive_score(proba: np.ndarray, labels: list[Any], positive: Any) -> np.ndarray:
    """The probability of the positive class (the last column when the labels do not say)."""
    column = list(labels).index(positive) if positive in list(labels) else proba.shape[1] - 1
    return np.asarray(proba[:, column])


def expected_calibration_error(
    y_true: np.ndarray, proba: np.ndarray, labels: list[Any], bins: int = 10
) -> float:
    """ECE: the gap between confidence and accuracy, averaged over equal-width confidence bins."""
    confidence = proba.max(axis=1)
    predicted = np.asarray(labels)[proba.argmax(axis=1)]
    correct = predicted == y_true
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(total)


def positive_label(classes: list[Any] | None, y_true: np.ndarray) -> Any:
    labels = list(classes) if classes is not None else sorted(set(y_true.tolist()))
    return True if True in labels else labels[-1]
