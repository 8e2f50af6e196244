"""Metrics by task, computed with scikit-learn from labels, predictions and probabilities.

Shared by training (holdout metrics) and evaluation (metrics, slices, gates), and
the curves the evaluation report plots.

Each metric is one :class:`MetricSpec` in ``METRIC_SPECS``: the tasks it is
reported for, whether it needs probabilities, which way is better, and its own
small function. Adding a metric is one entry (and its name in
``config.schema.METRICS``/``LOWER_IS_BETTER``, which a test pins to this table).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import Any

import numpy as np

BINARY = "binary_classification"
MULTICLASS = "multiclass_classification"
REGRESSION = "regression"
CLASSIFICATION = (BINARY, MULTICLASS)


class MetricInputs:
    """What a metric is computed from: labels, predictions and (for a classifier) probabilities."""

    def __init__(
        self,
        task: str,
        y_true: np.ndarray,
        y_pred: np.ndarray,
        proba: np.ndarray | None,
        classes: list[Any] | None,
    ) -> None:
        self.task = task
        self.y_true = y_true
        self.y_pred = y_pred
        self._proba = proba
        self.classes = classes

    @property
    def proba(self) -> np.ndarray:
        """The class probabilities (a metric that needs them is only asked when they exist)."""
        assert self._proba is not None
        return self._proba

    @cached_property
    def positive(self) -> Any:
        return positive_label(self.classes, self.y_true)

    @cached_property
    def labels(self) -> list[Any]:
        return self.classes if self.classes is not None else sorted(set(self.y_true.tolist()))

    @cached_property
    def is_positive(self) -> np.ndarray:
        return np.asarray(self.y_true == self.positive)

    @cached_property
    def unseen_labels(self) -> str:
        """Labels among the rows scored that the model has no class for, said as a reason
        for a metric left out ("" when there are none); read only when one is."""
        if self.classes is None or self.task not in CLASSIFICATION:
            return ""
        known = {str(c) for c in self.classes}
        unseen = sorted({str(v) for v in self.y_true.tolist()} - known)
        if not unseen:
            return ""
        shown = ", ".join(repr(v) for v in unseen[:5]) + (" …" if len(unseen) > 5 else "")
        return (
            f"the rows scored have label(s) {shown} the model has no class for "
            "(not in its training rows)"
        )

    @cached_property
    def score(self) -> np.ndarray:
        """The probability of the positive class."""
        return positive_score(self.proba, self.labels, self.positive)


@dataclass(frozen=True)
class MetricSpec:
    """One metric: the tasks it is reported for, what it needs, which way is better, its function.

    A metric that needs probabilities is computed only for the tasks it names.
    """

    name: str
    tasks: tuple[str, ...]
    higher_is_better: bool
    needs_proba: bool
    compute: Callable[[MetricInputs], float]


def _sk() -> Any:
    from sklearn import metrics

    return metrics


def _accuracy(i: MetricInputs) -> float:
    return float(_sk().accuracy_score(i.y_true, i.y_pred))


def _balanced_accuracy(i: MetricInputs) -> float:
    return float(_sk().balanced_accuracy_score(i.y_true, i.y_pred))


def _precision(i: MetricInputs) -> float:
    return float(_sk().precision_score(i.y_true, i.y_pred, pos_label=i.positive, zero_division=0))


def _recall(i: MetricInputs) -> float:
    return float(_sk().recall_score(i.y_true, i.y_pred, pos_label=i.positive, zero_division=0))


def _f1(i: MetricInputs) -> float:
    return float(_sk().f1_score(i.y_true, i.y_pred, pos_label=i.positive, zero_division=0))


def _f1_macro(i: MetricInputs) -> float:
    return float(_sk().f1_score(i.y_true, i.y_pred, average="macro", zero_division=0))


def _roc_auc(i: MetricInputs) -> float:
    return float(_sk().roc_auc_score(i.is_positive, i.score))


def _pr_auc(i: MetricInputs) -> float:
    return float(_sk().average_precision_score(i.is_positive, i.score))


def _log_loss(i: MetricInputs) -> float:
    return float(_sk().log_loss(i.y_true, i.proba, labels=i.labels))


def _brier(i: MetricInputs) -> float:
    return float(_sk().brier_score_loss(i.is_positive, i.score))


def _ece(i: MetricInputs) -> float:
    return expected_calibration_error(i.y_true, i.proba, i.labels)


def _rmse(i: MetricInputs) -> float:
    return float(np.sqrt(_sk().mean_squared_error(i.y_true, i.y_pred)))


def _mae(i: MetricInputs) -> float:
    return float(_sk().mean_absolute_error(i.y_true, i.y_pred))


def _mape(i: MetricInputs) -> float:
    return float(_sk().mean_absolute_percentage_error(i.y_true, i.y_pred))


def _r2(i: MetricInputs) -> float:
    return float(_sk().r2_score(i.y_true, i.y_pred))


_SPECS = (
    MetricSpec("accuracy", CLASSIFICATION, higher_is_better=True, needs_proba=False, compute=_accuracy),
    MetricSpec("balanced_accuracy", CLASSIFICATION, higher_is_better=True, needs_proba=False, compute=_balanced_accuracy),
    MetricSpec("precision", (BINARY,), higher_is_better=True, needs_proba=False, compute=_precision),
    MetricSpec("recall", (BINARY,), higher_is_better=True, needs_proba=False, compute=_recall),
    MetricSpec("f1", (BINARY,), higher_is_better=True, needs_proba=False, compute=_f1),
    MetricSpec("f1_macro", (MULTICLASS,), higher_is_better=True, needs_proba=False, compute=_f1_macro),
    MetricSpec("roc_auc", (BINARY,), higher_is_better=True, needs_proba=True, compute=_roc_auc),
    MetricSpec("pr_auc", (BINARY,), higher_is_better=True, needs_proba=True, compute=_pr_auc),
    MetricSpec("log_loss", CLASSIFICATION, higher_is_better=False, needs_proba=True, compute=_log_loss),
    MetricSpec("brier", (BINARY,), higher_is_better=False, needs_proba=True, compute=_brier),
    MetricSpec("ece", CLASSIFICATION, higher_is_better=False, needs_proba=True, compute=_ece),
    MetricSpec("rmse", (REGRESSION,), higher_is_better=False, needs_proba=False, compute=_rmse),
    MetricSpec("mae", (REGRESSION,), higher_is_better=False, needs_proba=False, compute=_mae),
    MetricSpec("mape", (REGRESSION,), higher_is_better=False, needs_proba=False, compute=_mape),
    MetricSpec("r2", (REGRESSION,), higher_is_better=True, needs_proba=False, compute=_r2),
)  # fmt: skip
#: Every metric by name, in the order a task's default metrics are reported.
METRIC_SPECS: Mapping[str, MetricSpec] = MappingProxyType({spec.name: spec for spec in _SPECS})


def default_metrics(task: str) -> list[str]:
    """The metrics reported for ``task`` when the project file names none: every one it has."""
    return [name for name, spec in METRIC_SPECS.items() if task in spec.tasks]


def compute_metrics(
    task: str,
    names: list[str],
    y_true: Any,
    y_pred: Any,
    proba: np.ndarray | None = None,
    classes: list[Any] | None = None,
    *,
    skipped: dict[str, str] | None = None,
) -> dict[str, float]:
    """Each metric in ``names``; those that cannot be computed (ROC AUC on one class, log
    loss with a label the model never saw) are left out, each with why in ``skipped``."""
    inputs = MetricInputs(task, np.asarray(y_true), np.asarray(y_pred), proba, classes)
    why: dict[str, str] = {} if skipped is None else skipped
    results: dict[str, float] = {}
    for name in names:
        spec = METRIC_SPECS.get(name)
        if spec is None or (spec.needs_proba and task not in spec.tasks):
            continue
        if spec.needs_proba and proba is None:
            why[name] = "the model gives no probabilities (no predict_proba)"
            continue
        try:
            value = spec.compute(inputs)
        except ValueError as exc:  # e.g. only one class in the holdout
            why[name] = inputs.unseen_labels or str(exc).strip().splitlines()[0]
            continue
        if np.isfinite(value):
            results[name] = round(float(value), 6)
        else:
            why[name] = inputs.unseen_labels or f"not a finite number ({value})"
    return results


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
