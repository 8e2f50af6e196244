"""What an evaluation report plots, computed where the predictions are, kept small.

Binary: ROC and precision-recall curves, calibration bins, the score's histogram
per actual class, the threshold the model's own decisions imply, and the
confusion matrix at it. Multiclass: per-class precision, recall and F1, the
confusion matrix, one-vs-rest ROC curves. Regression: a sample of (actual,
predicted) pairs, the residuals' histogram, the error per range of the actual
value. Curves keep at most ``POINTS`` points and scatters ``SAMPLE`` rows, so a
report of a million rows is as small as one of a thousand.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shipyard.metrics import positive_label, positive_score

POINTS = 200  # points kept of a curve
SAMPLE = 1000  # rows kept of a scatter
SCORE_BINS = 20
RESIDUAL_BINS = 30
RANGES = 5  # ranges of the actual value the regression error is shown for


def curves(
    task: str,
    classes: list[Any] | None,
    truth: np.ndarray,
    predicted: np.ndarray,
    proba: np.ndarray | None,
) -> dict[str, Any]:
    """The report's plot data for ``task`` (the keys are described in the module docstring)."""
    if task == "regression":
        return _regression(truth.astype(float), predicted.astype(float))
    from sklearn import metrics as m

    labels = list(classes or sorted(set(truth.tolist())))
    found: dict[str, Any] = {
        "labels": [str(c) for c in labels],
        "confusion": m.confusion_matrix(truth, predicted, labels=labels).tolist(),
    }
    if task == "binary_classification":
        found.update(_binary(labels, truth, predicted, proba))
    else:
        found.update(_multiclass(labels, truth, predicted, proba))
    return found


def _binary(
    labels: list[Any], truth: np.ndarray, predicted: np.ndarray, proba: np.ndarray | None
) -> dict[str, Any]:
    from sklearn import metrics as m

    if proba is None:
        return {}
    positive = positive_label(labels, truth)
    score = positive_score(proba, labels, positive)
    actual = truth == positive
    found: dict[str, Any] = {"positive": str(positive)}
    threshold = implied_threshold(score, predicted == positive)
    if threshold is not None:
        found["threshold"] = threshold
    edges = np.linspace(0, 1, SCORE_BINS + 1)
    negative = [str(c) for c in labels if c != positive]
    found["scores"] = {
        "edges": [round(float(e), 4) for e in edges],
        "classes": {
            str(positive): np.histogram(score[actual], edges)[0].tolist(),
            (negative[0] if negative else "other"): np.histogram(score[~actual], edges)[0].tolist(),
        },
    }
    if actual.all() or not actual.any():
        return found
    fpr, tpr, _ = m.roc_curve(actual, score)
    precision, recall, _ = m.precision_recall_curve(actual, score)
    which = np.clip(np.digitize(score, np.linspace(0, 1, 11)[1:-1]), 0, 9)
    found["calibration"] = [
        {
            "predicted": float(score[which == b].mean()),
            "observed": float(actual[which == b].mean()),
            "count": int((which == b).sum()),
        }
        for b in range(10)
        if (which == b).any()
    ]
    found.update(roc=thin(fpr, tpr), pr=thin(recall, precision))
    return found


def implied_threshold(score: np.ndarray, said_positive: np.ndarray) -> float | None:
    """The score above which the model said positive, when its decisions follow one
    (``None`` when they do not: a model whose decisions are not a cut of its score)."""
    if said_positive.all() or not said_positive.any():
        return None
    lowest_yes, highest_no = float(score[said_positive].min()), float(score[~said_positive].max())
    if highest_no > lowest_yes:
        return None
    for usual in (0.5, round((lowest_yes + highest_no) / 2, 4)):
        if highest_no <= usual <= lowest_yes:
            return usual
    return None  # pragma: no cover - the midpoint is always between them


def _multiclass(
    labels: list[Any], truth: np.ndarray, predicted: np.ndarray, proba: np.ndarray | None
) -> dict[str, Any]:
    from sklearn import metrics as m

    precision, recall, f1, support = m.precision_recall_fscore_support(
        truth, predicted, labels=labels, zero_division=0
    )
    found: dict[str, Any] = {
        "per_class": [
            {
                "label": str(c),
                "precision": float(p),
                "recall": float(r),
                "f1": float(f),
                "support": int(s),
            }
            for c, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        ]
    }
    if proba is None:
        return found
    roc = {}
    for k, label in enumerate(labels):
        actual = truth == label
        if actual.all() or not actual.any():
            continue
        fpr, tpr, _ = m.roc_curve(actual, proba[:, k])
        roc[str(label)] = {"auc": float(m.auc(fpr, tpr)), "points": thin(fpr, tpr, POINTS // 2)}
    found["ovr_roc"] = roc
    return found


def _regression(truth: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    ok = np.isfinite(truth) & np.isfinite(predicted)
    truth, predicted = truth[ok], predicted[ok]
    if truth.size == 0:
        return {}
    residual = truth - predicted
    keep = np.random.default_rng(0).permutation(truth.size)[:SAMPLE]
    counts, edges = np.histogram(residual, RESIDUAL_BINS)
    return {
        "sample": [[_r(truth[i]), _r(predicted[i])] for i in np.sort(keep)],
        "rows": int(truth.size),
        "residuals": {"edges": [_r(e) for e in edges], "counts": counts.tolist()},
        "error_by_range": _error_by_range(truth, residual),
    }


def _error_by_range(truth: np.ndarray, residual: np.ndarray) -> list[dict[str, Any]]:
    """Mean absolute error per range of the actual value (quantiles), with a 95% interval
    (normal, from the absolute errors' spread: a mean of many rows)."""
    edges = np.unique(np.quantile(truth, np.linspace(0, 1, RANGES + 1)))
    if edges.size < 2:
        edges = np.array([truth.min(), truth.max()])
    which = np.clip(np.searchsorted(edges, truth, side="left") - 1, 0, edges.size - 2)
    found = []
    for b in range(edges.size - 1):
        errors = np.abs(residual[which == b])
        if errors.size == 0:
            continue
        mean = float(errors.mean())
        half = 1.96 * float(errors.std(ddof=1)) / np.sqrt(errors.size) if errors.size > 1 else 0.0
        found.append(
            {
                "range": f"{'[' if b == 0 else '('}{edges[b]:.4g}, {edges[b + 1]:.4g}]",
                "rows": int(errors.size),
                "mae": mean,
                "low": float(max(0.0, mean - half)),
                "high": float(mean + half),
            }
        )
    return found


def thin(x: np.ndarray, y: np.ndarray, points: int = POINTS) -> list[list[float]]:
    """At most ``points`` of a curve, evenly along it, first and last kept."""
    index = np.unique(np.linspace(0, len(x) - 1, min(points, len(x))).astype(int))
    return [[round(float(x[i]), 5), round(float(y[i]), 5)] for i in index]


def _r(value: float) -> float:
    return float(f"{float(value):.6g}")
