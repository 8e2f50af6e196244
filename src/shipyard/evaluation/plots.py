"""The evaluation report's charts, per task, drawn with :mod:`shipyard.charts`.

Binary: ROC, precision-recall, calibration, the score per actual class with the
decision threshold, the confusion matrix at it. Multiclass: precision, recall and
F1 per class, the confusion matrix, one-vs-rest ROC curves. Regression: predicted
against actual, residuals against predicted, the residuals' histogram, the error
per range of the actual value. Any task: the metric per slice with its interval,
failing slices in red, the bound as a line.
"""

from __future__ import annotations

from typing import Any

from shipyard.charts import (
    REFERENCE,
    Bar,
    Series,
    Threshold,
    bar_chart,
    hbar_chart,
    heat_matrix,
    histogram_chart,
    line_chart,
    num,
    scatter_chart,
)

from .report import EvaluationReport

UNIT = (0.0, 1.0)


def task_plots(report: EvaluationReport) -> list[str]:
    """The charts of ``report``'s task, from the curves its evaluation computed."""
    curves = report.curves
    if "sample" in curves:
        return _regression(curves)
    if "per_class" in curves:
        return _multiclass(curves)
    if "labels" in curves:
        return _binary(curves, report.metrics)
    return []


def _binary(curves: dict[str, Any], metrics: dict[str, float]) -> list[str]:
    plots = []
    if "roc" in curves:
        auc = f" (AUC {metrics['roc_auc']:.3f})" if "roc_auc" in metrics else ""
        plots.append(line_chart(
            f"ROC curve{auc}", [Series("model", [tuple(p) for p in curves["roc"]])],
            x_label="false positive rate", y_label="true positive rate", x_range=UNIT,
            y_range=UNIT, diagonal=True, description="the dashed diagonal is a model that guesses",
        ))  # fmt: skip
    if "pr" in curves:
        plots.append(line_chart(
            "Precision-recall curve", [Series("model", [tuple(p) for p in curves["pr"]])],
            x_label="recall", y_label="precision", x_range=UNIT, y_range=UNIT,
        ))  # fmt: skip
    if curves.get("calibration"):
        bins = [(c["predicted"], c["observed"]) for c in curves["calibration"]]
        plots.append(line_chart(
            "Calibration", [Series("bins of predicted probability", bins, dots=True)],
            x_label="mean predicted probability", y_label="observed frequency", x_range=UNIT,
            y_range=UNIT, diagonal=True, description="the dashed diagonal is perfect calibration",
        ))  # fmt: skip
    threshold = curves.get("threshold")
    cut = (
        [Threshold(threshold, f"threshold {num(threshold)}", axis="x")]
        if threshold is not None
        else []
    )
    if "scores" in curves:
        scores = curves["scores"]
        positive = curves.get("positive", "")
        series = [
            (f"actual {label}", [c / (sum(counts) or 1) for c in counts])
            for label, counts in scores["classes"].items()
        ]  # shares of each class's rows, so a rare class shows as clearly as a common one
        series.sort(key=lambda s: s[0] == f"actual {positive}")  # the positive class drawn last
        plots.append(
            histogram_chart(
                "Score by actual class", scores["edges"], series,
                x_label=f"predicted probability of {positive}", y_label="share of the class's rows",
                colours=[REFERENCE], thresholds=cut, y_format=_share,
            )
        )  # fmt: skip
    at = f" at threshold {num(threshold)}" if threshold is not None else ""
    plots.append(_confusion(curves, f"Confusion matrix{at}"))
    return plots


def _share(value: float) -> str:
    return f"{value:.0%}"


def _confusion(curves: dict[str, Any], title: str = "Confusion matrix") -> str:
    labels = curves["labels"]
    return heat_matrix(
        title, labels, labels, curves["confusion"], x_label="predicted", y_label="actual",
        description="rows are the actual classes; a cell's shade is its share of the row",
    )  # fmt: skip


def _multiclass(curves: dict[str, Any]) -> list[str]:
    per_class = curves["per_class"]
    labels = [c["label"] for c in per_class]
    plots = [
        bar_chart(
            "Precision, recall and F1 per class", labels,
            [(name, [c[name] for c in per_class]) for name in ("precision", "recall", "f1")],
            x_label="class", y_label="score", width=max(360, 70 * len(labels)),
        ),
        _confusion(curves),
    ]  # fmt: skip
    if curves.get("ovr_roc"):
        series = [
            Series(f"{label} (AUC {found['auc']:.3f})", [tuple(p) for p in found["points"]])
            for label, found in curves["ovr_roc"].items()
        ]
        plots.append(line_chart(
            "One-vs-rest ROC curves", series, x_label="false positive rate",
            y_label="true positive rate", x_range=UNIT, y_range=UNIT, diagonal=True, width=420,
        ))  # fmt: skip
    return plots


def _regression(curves: dict[str, Any]) -> list[str]:
    pairs = [(a, p) for a, p in curves["sample"]]
    shown = f"{len(pairs):,} of {curves['rows']:,} rows" if len(pairs) < curves["rows"] else ""
    residuals = curves["residuals"]
    plots = [
        scatter_chart(
            "Predicted against actual", pairs, x_label="actual", y_label="predicted",
            same_scale=True, diagonal=True,
            description=f"the dashed diagonal is a perfect prediction; {shown or 'every row'}",
        ),
        scatter_chart(
            "Residuals against predicted", [(p, a - p) for a, p in pairs], x_label="predicted",
            y_label="residual (actual - predicted)", description=shown or "every row",
        ),
        histogram_chart(
            "Residual histogram", residuals["edges"], [("", residuals["counts"])],
            x_label="residual (actual - predicted)", y_label="rows",
        ),
    ]  # fmt: skip
    if curves.get("error_by_range"):
        bars = [
            Bar(r["range"], r["mae"], r["low"], r["high"], note=f"{r['rows']:,} rows")
            for r in curves["error_by_range"]
        ]
        plots.append(hbar_chart(
            "Mean absolute error by range of the actual value", bars, x_label="mean absolute error",
            y_label="actual value", width=460, description="whiskers: 95% normal interval",
        ))  # fmt: skip
    return plots


def slice_plots(slices: list[dict[str, Any]]) -> list[str]:
    """One chart per slice rule: a bar per slice, whiskers for its interval, red when it
    fails, each bound a line."""
    rules: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for each in slices:
        rules.setdefault((each["column"], each["metric"]), []).append(each)
    plots = []
    for (column, metric), found in rules.items():
        shown = [s for s in found if s["value"] is not None]
        bars = [
            Bar(s["slice"], s["value"], s.get("low"), s.get("high"), failed=not s["passed"],
                note=f"{s['size']:,} rows")
            for s in shown
        ]  # fmt: skip
        first = found[0]
        bounds = [
            Threshold(first[key], f"{key} {num(first[key])}", axis="x")
            for key in ("min", "max")
            if first.get(key) is not None
        ]
        plots.append(hbar_chart(
            f"{metric} per {column} slice", bars, x_label=metric, y_label=column,
            thresholds=bounds, description=f"whiskers: {first.get('interval', '')} interval",
        ))  # fmt: skip
    return plots
