"""Performance before labels: confidence-based performance estimation (CBPE, as NannyML's).

A classifier whose probabilities are calibrated says how often it is right: a row
predicted positive with calibrated probability 0.8 is a true positive 80% of the time.
Summed over a window, the calibrated probabilities give the *expected* confusion matrix,
and from it the expected accuracy, precision, recall, F1 and balanced accuracy; ROC AUC
is the area under the expected ROC curve (expected TPR and FPR at every threshold of
the model's own score). This holds as long as the relation between the features and
the label does not change (covariate shift, not concept drift): the estimate cannot see
a change in what the label means, only a change in which rows come.

:func:`calibrate` fits the calibration on rows with labels the model did not learn from
(the version's holdout): isotonic regression per class (one-vs-rest), kept only where its
cross-fitted Brier score is lower than the raw probabilities'; otherwise the model's
own probabilities are used as they are. :func:`estimate` gives each metric with an
interval: where the realized figure would fall (95%) if the window's labels were drawn
from the calibrated probabilities — the spread from the window's size alone, not the
calibration's own error.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

ESTIMATED = {
    "binary_classification": [
        "accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc",
    ],
    "multiclass_classification": ["accuracy", "balanced_accuracy", "f1_macro"],
}  # fmt: skip
"""The metrics CBPE estimates, per task (config.schema.ESTIMATED follows it)."""
PREFIX = "estimated_"
"""An alert rule on an estimate names it ``estimated_`` + the metric (``estimated_roc_auc``)."""
LEVEL = 0.95
DRAWS = 400  # label draws for the interval
FOLDS = 5  # cross-fitting of the check that calibration helps
BINS = 10  # expected calibration error: equal-width bins of the probability
IDENTITY = ([0.0, 1.0], [0.0, 1.0])


@dataclass(frozen=True)
class Calibration:
    """Per class, a monotone map of the model's probability to the calibrated one
    (knots of a piecewise-linear curve; the identity when calibrating did not help)."""

    classes: list[Any]
    curves: list[tuple[list[float], list[float]]]
    rows: int
    source: str  # the labelled rows it was fitted on, in words
    ece_before: float
    ece_after: float

    @property
    def method(self) -> str:
        fitted = sum(c != IDENTITY for c in self.curves)
        return "isotonic" if fitted else "none (the model's probabilities were calibrated)"

    def apply(self, proba: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, rows summing to 1 (columns in ``classes`` order)."""
        proba = np.asarray(proba, dtype=np.float64)
        if len(self.classes) == 2:
            xs, ys = self.curves[-1]
            positive = np.interp(proba[:, -1], xs, ys)
            return np.column_stack([1.0 - positive, positive])
        out = np.column_stack(
            [np.interp(proba[:, k], *self.curves[k]) for k in range(len(self.classes))]
        )
        total = out.sum(axis=1, keepdims=True)
        uniform = np.full_like(out, 1.0 / out.shape[1])
        return np.where(total > 0, out / np.where(total > 0, total, 1.0), uniform)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["curves"] = [[list(xs), list(ys)] for xs, ys in self.curves]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        curves = [(list(map(float, xs)), list(map(float, ys))) for xs, ys in data["curves"]]
        return cls(
            list(data["classes"]), curves, int(data["rows"]), str(data["source"]),
            float(data["ece_before"]), float(data["ece_after"]),
        )  # fmt: skip


@dataclass(frozen=True)
class Estimate:
    """One metric estimated without labels; ``realized`` once labels arrived."""

    metric: str
    value: float
    low: float
    high: float
    realized: float | None = None


@dataclass(frozen=True)
class Estimation:
    """The estimated metrics of one window; ``enough`` when rules may alert on them."""

    method: str
    rows: int  # the model's own answers it was estimated on (fallback answers left out)
    calibration: str  # what calibrated the probabilities, in words
    estimates: list[Estimate] = field(default_factory=list)
    level: float = LEVEL
    enough: bool = False
    note: str = ""

    def get(self, metric: str) -> Estimate | None:
        return next((e for e in self.estimates if e.metric == metric), None)


# -- calibration ---------------------------------------------------------------------
def calibrate(
    proba: np.ndarray, y_true: Any, classes: list[Any], *, source: str, seed: int = 0
) -> Calibration:
    """Fit the calibration of ``proba`` (rows by classes) to the labels ``y_true``.

    Per class (only the positive one for a binary model) an isotonic curve, kept only
    if its cross-fitted Brier score is lower than the raw one's; the expected calibration
    error before and after (cross-fitted) is kept to say how much it helped.
    """
    proba = np.asarray(proba, dtype=np.float64)
    truth = np.asarray(y_true)
    if proba.ndim != 2 or proba.shape[1] != len(classes) or len(classes) < 2:
        raise ValueError(f"expected probabilities for {len(classes)} classes, got {proba.shape}")
    if proba.shape[0] != truth.shape[0]:
        raise ValueError(f"{proba.shape[0]} probability rows for {truth.shape[0]} labels")
    which = [len(classes) - 1] if len(classes) == 2 else list(range(len(classes)))
    curves = [IDENTITY] * len(classes)
    before = after = 0.0
    folds = np.random.default_rng(seed).integers(0, FOLDS, truth.shape[0])
    for k in which:
        score, hit = proba[:, k], (truth == classes[k]).astype(np.float64)
        raw = _ece(score, hit)
        crossed = np.empty_like(score)
        for f in range(FOLDS):
            inside = folds == f
            if inside.all() or not inside.any():
                crossed[inside] = score[inside]
                continue
            xs, ys = _isotonic(score[~inside], hit[~inside])
            crossed[inside] = np.interp(score[inside], xs, ys)
        # decided by the Brier score (proper: a flat guess cannot win it), said as ECE
        if np.mean((crossed - hit) ** 2) < np.mean((score - hit) ** 2):
            curves[k] = _isotonic(score, hit)
            before, after = before + raw, after + _ece(crossed, hit)
        else:
            before, after = before + raw, after + raw
    if len(classes) == 2:
        curves[0] = IDENTITY
    n = len(which)
    return Calibration(
        list(classes), curves, int(truth.shape[0]), source,
        round(before / n, 6), round(after / n, 6),
    )  # fmt: skip


def _isotonic(score: np.ndarray, hit: np.ndarray) -> tuple[list[float], list[float]]:
    """Knots of the isotonic (non-decreasing) fit of ``hit`` on ``score``."""
    from sklearn.isotonic import IsotonicRegression  # here: importing monitoring stays light

    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(score, hit)
    xs = [float(x) for x in model.X_thresholds_]
    ys = [float(y) for y in model.y_thresholds_]
    if len(xs) == 1:  # one distinct score: a flat line
        return [0.0, 1.0], [ys[0], ys[0]]
    return xs, ys


def _ece(score: np.ndarray, hit: np.ndarray) -> float:
    """Expected calibration error over equal-width bins of ``score``."""
    bins = np.minimum((score * BINS).astype(int), BINS - 1)
    count = np.bincount(bins, minlength=BINS)
    gap = np.abs(
        np.bincount(bins, weights=score, minlength=BINS) - np.bincount(bins, hit, minlength=BINS)
    )
    return float(gap.sum() / max(count.sum(), 1))


# -- estimation ----------------------------------------------------------------------
def estimate(
    proba: np.ndarray,
    predicted: Any,
    calibration: Calibration,
    metrics: list[str],
    *,
    min_rows: int = 1,
    draws: int = DRAWS,
    seed: int = 0,
) -> Estimation:
    """Estimate ``metrics`` over the rows whose model probabilities are ``proba`` and whose
    answers are ``predicted``, with a ``LEVEL`` interval from ``draws`` label draws."""
    classes = calibration.classes
    task = "binary_classification" if len(classes) == 2 else "multiclass_classification"
    wanted = [m for m in metrics if m in ESTIMATED[task]]
    raw = np.asarray(proba, dtype=np.float64)
    n = raw.shape[0] if raw.ndim == 2 else 0
    said = f"{calibration.method}, fitted on {calibration.source} ({calibration.rows:,} rows)"
    if n == 0:
        return Estimation("cbpe", 0, said, note="no answers of the model to estimate from")
    index = {c: i for i, c in enumerate(classes)}
    picked = np.asarray([index.get(_plain(v), -1) for v in np.asarray(predicted).tolist()])
    if (picked < 0).any():
        picked = raw.argmax(axis=1)  # answers in another spelling: the model's own choice
    calibrated = calibration.apply(raw)
    if task == "binary_classification":
        values = _binary(calibrated[:, 1], picked == 1, raw[:, 1], wanted)
        spread = _binary_draws(calibrated[:, 1], picked == 1, raw[:, 1], wanted, draws, seed)
    else:
        values = _multiclass(calibrated, picked, wanted)
        spread = _multiclass_draws(calibrated, picked, wanted, draws, seed)
    tail = (1 - LEVEL) / 2 * 100
    estimates = []
    for m in wanted:
        sims = spread[m][~np.isnan(spread[m])]
        if np.isnan(values[m]):
            continue
        low, high = np.percentile(sims, [tail, 100 - tail]) if sims.size else (np.nan, np.nan)
        estimates.append(
            Estimate(m, round(values[m], 6), round(float(low), 6), round(float(high), 6))
        )
    enough = n >= min_rows
    note = "" if enough else f"{n} answers; estimates alert from {min_rows}"
    return Estimation("cbpe", n, said, estimates, LEVEL, enough, note)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _ratio(a: np.ndarray | float, b: np.ndarray | float) -> Any:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(
            np.asarray(b) > 0, np.asarray(a) / np.where(np.asarray(b) > 0, b, 1), np.nan
        )


def _confusion_metrics(
    tp: Any, fp: Any, fn: Any, tn: Any, n: int, wanted: list[str]
) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for m in wanted:
        if m == "accuracy":
            found[m] = (tp + tn) / n
        elif m == "precision":
            found[m] = _ratio(tp, tp + fp)
        elif m == "recall":
            found[m] = _ratio(tp, tp + fn)
        elif m == "f1":
            found[m] = _ratio(2 * tp, 2 * tp + fp + fn)
        elif m == "balanced_accuracy":
            found[m] = (_ratio(tp, tp + fn) + _ratio(tn, tn + fp)) / 2
    return found


def _binary(
    p: np.ndarray, yes: np.ndarray, score: np.ndarray, wanted: list[str]
) -> dict[str, float]:
    """The expected confusion matrix's metrics, and the expected ROC curve's area."""
    tp, fp = float(p[yes].sum()), float((1 - p[yes]).sum())
    fn, tn = float(p[~yes].sum()), float((1 - p[~yes]).sum())
    found = {k: float(v) for k, v in _confusion_metrics(tp, fp, fn, tn, p.size, wanted).items()}
    if "roc_auc" in wanted:
        found["roc_auc"] = _expected_auc(p, score)
    return found


def _expected_auc(p: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve of expected TPR and FPR, one point per distinct score."""
    order = np.argsort(-score, kind="stable")
    s, q = score[order], p[order]
    last = np.r_[s[1:] != s[:-1], True]  # the end of each run of equal scores
    positives, negatives = np.cumsum(q)[last], np.cumsum(1 - q)[last]
    if positives[-1] <= 0 or negatives[-1] <= 0:
        return float("nan")
    tpr = np.r_[0.0, positives / positives[-1]]
    fpr = np.r_[0.0, negatives / negatives[-1]]
    return float(np.trapezoid(tpr, fpr))


def _binary_draws(
    p: np.ndarray, yes: np.ndarray, score: np.ndarray, wanted: list[str], draws: int, seed: int
) -> dict[str, np.ndarray]:
    """Each metric realized on ``draws`` label sets drawn from the calibrated ``p``."""
    from scipy.stats import rankdata  # here: importing monitoring stays light

    rng = np.random.default_rng(seed)
    ranks = rankdata(score)  # ties share their average rank, as ROC AUC counts them
    out: dict[str, list[np.ndarray]] = {m: [] for m in wanted}
    chunk = max(1, 2_000_000 // max(p.size, 1))
    for start in range(0, draws, chunk):
        y = rng.random((min(chunk, draws - start), p.size)) < p
        tp = y[:, yes].sum(axis=1).astype(np.float64)
        fp = yes.sum() - tp
        fn = y[:, ~yes].sum(axis=1).astype(np.float64)
        tn = (~yes).sum() - fn
        for m, v in _confusion_metrics(tp, fp, fn, tn, p.size, wanted).items():
            out[m].append(np.asarray(v, dtype=np.float64))
        if "roc_auc" in wanted:
            n1 = y.sum(axis=1).astype(np.float64)
            n0 = p.size - n1
            u = y.astype(np.float64) @ ranks - n1 * (n1 + 1) / 2
            out["roc_auc"].append(_ratio(u, n1 * n0))
    return {m: np.concatenate(v) for m, v in out.items()}


def _multiclass(calibrated: np.ndarray, picked: np.ndarray, wanted: list[str]) -> dict[str, float]:
    n, k = calibrated.shape
    hit = calibrated[np.arange(n), picked]
    per = np.zeros((k, 4))  # tp, fp, fn per class
    for c in range(k):
        yes = picked == c
        per[c] = [
            calibrated[yes, c].sum(),
            (1 - calibrated[yes, c]).sum(),
            calibrated[~yes, c].sum(),
            0,
        ]
    return _multiclass_from(float(hit.sum()), per[:, 0], per[:, 1], per[:, 2], n, wanted)


def _multiclass_from(
    correct: Any, tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, n: int, wanted: list[str]
) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for m in wanted:
        if m == "accuracy":
            found[m] = correct / n
        elif m == "balanced_accuracy":
            found[m] = np.nanmean(_ratio(tp, tp + fn), axis=0)
        elif m == "f1_macro":
            found[m] = np.nanmean(_ratio(2 * tp, 2 * tp + fp + fn), axis=0)
    return {k: (float(v) if np.ndim(v) == 0 else v) for k, v in found.items()}


def _multiclass_draws(
    calibrated: np.ndarray, picked: np.ndarray, wanted: list[str], draws: int, seed: int
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n, k = calibrated.shape
    edges = np.cumsum(calibrated, axis=1)
    edges[:, -1] = 1.0
    out: dict[str, list[np.ndarray]] = {m: [] for m in wanted}
    chunk = max(1, 2_000_000 // max(n, 1))
    counted = np.bincount(picked, minlength=k).astype(np.float64)
    for start in range(0, draws, chunk):
        size = min(chunk, draws - start)
        u = rng.random((size, n, 1))
        y = (u > edges[None, :, :]).sum(axis=2)  # the drawn class of each row
        right = y == picked[None, :]
        tp = np.stack([(right & (picked == c)[None, :]).sum(axis=1) for c in range(k)])
        truth = np.stack([(y == c).sum(axis=1) for c in range(k)])
        fp = counted[:, None] - tp
        fn = truth - tp
        found = _multiclass_from(right.sum(axis=1), tp, fp, fn, n, wanted)
        for m, v in found.items():
            out[m].append(np.atleast_1d(np.asarray(v, dtype=np.float64)))
    return {m: np.concatenate(v) for m, v in out.items()}
