"""95% confidence intervals of a metric measured on a few rows (a slice).

A share of rows — accuracy, precision, recall — gets the Wilson score interval
(never outside 0..1, good from a few rows, a formula). Any other metric gets a
percentile bootstrap: the metric on ``RESAMPLES`` resamples of the rows drawn with
replacement, the middle 95% of its values, with a fixed seed (the same rows give
the same interval). A resample is a row of counts (how often each row was drawn),
so ROC AUC, F1, log loss, RMSE and the others are computed for all resamples at
once as weighted sums; a metric without such a formula here (PR AUC, ECE) is
computed resample by resample, fewer of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from shipyard.metrics import compute_metrics, positive_label, positive_score

Z = 1.959964  # the normal quantile of a two-sided 95% interval
RESAMPLES = 200
SLOW_RESAMPLES = 40  # for a metric computed one resample at a time
WILSON = "Wilson score"


@dataclass(frozen=True)
class Interval:
    """``low``..``high`` (``None`` when it cannot be computed) and how it was found."""

    low: float | None
    high: float | None
    method: str


def wilson(successes: int, trials: int) -> tuple[float, float] | None:
    """The 95% Wilson score interval of ``successes`` out of ``trials``."""
    if trials <= 0:
        return None
    share = successes / trials
    denominator = 1 + Z**2 / trials
    centre = (share + Z**2 / (2 * trials)) / denominator
    half = Z * math.sqrt(share * (1 - share) / trials + Z**2 / (4 * trials**2)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Rows:
    """The rows a metric is measured on."""

    task: str
    truth: np.ndarray
    predicted: np.ndarray
    proba: np.ndarray | None
    classes: list[Any] | None


def interval(rows: Rows, metric: str) -> Interval:
    """The 95% interval of ``metric`` on ``rows``."""
    shares = _shares(rows, metric)
    if shares is not None:
        found = wilson(*shares)
        return Interval(found[0], found[1], WILSON) if found else Interval(None, None, WILSON)
    n = len(rows.truth)
    rng = np.random.default_rng(0)
    weighted = WEIGHTED.get(metric)
    if weighted is not None and (rows.proba is not None or metric not in NEEDS_PROBA):
        counts = rng.multinomial(n, np.full(n, 1 / max(n, 1)), size=RESAMPLES).astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            values = weighted(rows, counts) if n >= 2 else np.empty(0)
        method = f"bootstrap ({RESAMPLES} resamples)"
    else:
        values = _one_by_one(rows, metric, rng) if n >= 2 else np.empty(0)
        method = f"bootstrap ({SLOW_RESAMPLES} resamples)"
    drawn = len(values)
    values = values[np.isfinite(values)]
    if values.size < max(drawn // 2, 10):  # e.g. one class in most resamples: no ROC AUC
        return Interval(None, None, method)
    low, high = np.percentile(values, [2.5, 97.5])
    return Interval(float(low), float(high), method)


def _shares(rows: Rows, metric: str) -> tuple[int, int] | None:
    """(successes, trials) when ``metric`` is a share of rows, else ``None``."""
    truth, predicted = rows.truth, rows.predicted
    if metric == "accuracy":
        return int((truth == predicted).sum()), len(truth)
    if rows.task == "binary_classification" and metric in ("precision", "recall"):
        positive = positive_label(rows.classes, truth)
        hits = int(((truth == positive) & (predicted == positive)).sum())
        trials = predicted == positive if metric == "precision" else truth == positive
        return hits, int(trials.sum())
    return None


def _one_by_one(rows: Rows, metric: str, rng: np.random.Generator) -> np.ndarray:
    n, values = len(rows.truth), []
    for pick in rng.integers(0, n, size=(SLOW_RESAMPLES, n)):
        proba = None if rows.proba is None else rows.proba[pick]
        found = compute_metrics(
            rows.task, [metric], rows.truth[pick], rows.predicted[pick], proba, rows.classes
        ).get(metric)
        values.append(np.nan if found is None else found)
    return np.asarray(values, dtype=float)


# -- each metric over every resample at once: w is (resamples, rows) of draw counts --------


def _positive(rows: Rows) -> tuple[np.ndarray, np.ndarray]:
    positive = positive_label(rows.classes, rows.truth)
    return rows.truth == positive, rows.predicted == positive


def _roc_auc(rows: Rows, w: np.ndarray) -> np.ndarray:
    """Mann-Whitney: the weighted share of (positive, negative) pairs ranked right, ties half."""
    actual, _ = _positive(rows)
    assert rows.proba is not None
    labels = rows.classes or sorted(set(rows.truth.tolist()))
    score = positive_score(rows.proba, labels, positive_label(rows.classes, rows.truth))
    order = np.argsort(score, kind="stable")
    score, actual, w = score[order], actual[order], w[:, order]
    first = np.searchsorted(score, score, side="left")  # each row's tie group
    last = np.searchsorted(score, score, side="right")
    negatives = np.concatenate([np.zeros((len(w), 1)), np.cumsum(w * ~actual, axis=1)], axis=1)
    below = negatives[:, first]
    tied = negatives[:, last] - below
    wins = (w * actual * (below + tied / 2)).sum(axis=1)
    result: np.ndarray = wins / ((w * actual).sum(axis=1) * (w * ~actual).sum(axis=1))
    return result


def _f1(rows: Rows, w: np.ndarray) -> np.ndarray:
    actual, said = _positive(rows)
    tp, fp, fn = (
        (w * (a & b)).sum(axis=1) for a, b in ((actual, said), (~actual, said), (actual, ~said))
    )
    return np.where(tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)


def _per_class(rows: Rows, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted true positives, actual and predicted counts per class: (resamples, classes)."""
    labels = sorted(set(rows.truth.tolist()) | set(rows.predicted.tolist()), key=str)
    tp, actual, said = [], [], []
    for label in labels:
        a, p = rows.truth == label, rows.predicted == label
        tp.append((w * (a & p)).sum(axis=1))
        actual.append((w * a).sum(axis=1))
        said.append((w * p).sum(axis=1))
    return np.array(tp).T, np.array(actual).T, np.array(said).T


def _balanced_accuracy(rows: Rows, w: np.ndarray) -> np.ndarray:
    tp, actual, _ = _per_class(rows, w)
    recall = np.where(actual > 0, tp / np.where(actual > 0, actual, 1), np.nan)
    result: np.ndarray = np.nanmean(recall, axis=1)
    return result


def _f1_macro(rows: Rows, w: np.ndarray) -> np.ndarray:
    tp, actual, said = _per_class(rows, w)
    seen = (actual + said) > 0
    f1 = np.where(seen, 2 * tp / np.where(seen, actual + said, 1), np.nan)
    result: np.ndarray = np.nanmean(f1, axis=1)
    return result


def _mean(values: np.ndarray, w: np.ndarray) -> np.ndarray:
    result: np.ndarray = (w * values).sum(axis=1) / w.sum(axis=1)
    return result


def _log_loss(rows: Rows, w: np.ndarray) -> np.ndarray:
    assert rows.proba is not None
    labels = [str(c) for c in (rows.classes or sorted(set(rows.truth.tolist())))]
    column = np.array([labels.index(str(t)) if str(t) in labels else -1 for t in rows.truth])
    if (column < 0).any():
        return np.full(len(w), np.nan)
    proba = rows.proba / rows.proba.sum(axis=1, keepdims=True)
    taken = np.clip(proba[np.arange(len(column)), column], 1e-15, 1)
    return _mean(-np.log(taken), w)


def _brier(rows: Rows, w: np.ndarray) -> np.ndarray:
    actual, _ = _positive(rows)
    assert rows.proba is not None
    labels = rows.classes or sorted(set(rows.truth.tolist()))
    score = positive_score(rows.proba, labels, positive_label(rows.classes, rows.truth))
    return _mean((score - actual) ** 2, w)


def _errors(rows: Rows) -> np.ndarray:
    errors: np.ndarray = rows.truth.astype(float) - rows.predicted.astype(float)
    return errors


def _rmse(rows: Rows, w: np.ndarray) -> np.ndarray:
    root: np.ndarray = np.sqrt(_mean(_errors(rows) ** 2, w))
    return root


def _mae(rows: Rows, w: np.ndarray) -> np.ndarray:
    return _mean(np.abs(_errors(rows)), w)


def _mape(rows: Rows, w: np.ndarray) -> np.ndarray:
    truth = np.abs(rows.truth.astype(float))
    return _mean(np.abs(_errors(rows)) / np.maximum(truth, np.finfo(float).eps), w)


def _r2(rows: Rows, w: np.ndarray) -> np.ndarray:
    truth = rows.truth.astype(float)
    centre = _mean(truth[None, :].repeat(len(w), axis=0), w)[:, None]
    residual = (w * _errors(rows) ** 2).sum(axis=1)
    total = (w * (truth[None, :] - centre) ** 2).sum(axis=1)
    return np.where(total > 0, 1 - residual / total, np.nan)


WEIGHTED: dict[str, Callable[[Rows, np.ndarray], np.ndarray]] = {
    "roc_auc": _roc_auc,
    "f1": _f1,
    "balanced_accuracy": _balanced_accuracy,
    "f1_macro": _f1_macro,
    "log_loss": _log_loss,
    "brier": _brier,
    "rmse": _rmse,
    "mae": _mae,
    "mape": _mape,
    "r2": _r2,
}
NEEDS_PROBA = frozenset({"roc_auc", "log_loss", "brier"})
