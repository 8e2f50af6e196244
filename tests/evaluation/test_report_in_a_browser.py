"""Evaluation reports open in a real browser (headless Chromium) and draw their numbers.

One Chromium run per report measures what it drew (see ``tests/page_support.py``)
and saves a screenshot; the test holds the measures against the report: every
dot where its figures put it, every bar as long as its value, the confusion
matrix's counts, the area under each drawn ROC curve equal to its AUC, each
threshold line at its value, and every chart's axes labelled. The project's
example model (binary) and scikit-learn models of every task on scikit-learn's
bundled datasets (``task_reports.py``).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from task_reports import task_report

from page_support import FAIL, PASS, artifacts, centre, chart, open_page, value_at
from shipyard.evaluation import EvaluationReport
from shipyard.evaluation.html import render
from shipyard.project import Project

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # browser runs on a busy machine


def test_the_example_models_report_draws_its_numbers(eval_project: Project, tmp_path: Path) -> None:
    result = eval_project.evaluate("default-risk@2")
    report = result.report
    shot = artifacts(tmp_path) / "evaluation-example-binary.png"
    dom, plots = open_page(Path(result.html_url), shot, tmp_path)
    assert "default-risk@2" in dom and "FAILED" in dom
    check_binary(plots, report)
    check_slices(plots, report)


@pytest.mark.parametrize(
    "task", ["binary_classification", "multiclass_classification", "regression"]
)
def test_every_tasks_report_draws_its_numbers(task: str, tmp_path: Path) -> None:
    report = task_report(task)
    page = tmp_path / f"{task}.html"
    page.write_text(render(report))
    shot = artifacts(tmp_path) / f"evaluation-{task.replace('_', '-')}.png"
    _dom, plots = open_page(page, shot, tmp_path)
    {"binary_classification": check_binary, "multiclass_classification": check_multiclass,
     "regression": check_regression}[task](plots, report)  # fmt: skip
    check_slices(plots, report)


def check_binary(plots: dict[str, Any], report: EvaluationReport) -> None:
    curves = report.curves
    check_roc(
        chart(plots, "ROC curve")["curves"][0], chart(plots, "ROC curve"), report.metrics["roc_auc"]
    )
    calibration = chart(plots, "Calibration")
    bins = curves["calibration"]
    assert len(calibration["dots"]) == len(bins) > 1
    for box, expected in zip(calibration["dots"], bins, strict=True):
        x, y = value_at(calibration, *centre(box))
        assert (x, y) == pytest.approx((expected["predicted"], expected["observed"]), abs=0.01)
    scores = chart(plots, "Score by actual class")
    shares = [  # each class's rows per bin of the score, as shares of the class
        c / sum(series) for series in curves["scores"]["classes"].values() for c in series
    ]
    assert len(scores["bars"]) == len(shares) == 2 * (len(curves["scores"]["edges"]) - 1)
    drawn = sorted(bar_height(scores, bar) for bar in scores["bars"])
    assert drawn == pytest.approx(sorted(shares), abs=scores["y_domain"][1] / 200)
    assert sum(bar["value"] for bar in scores["bars"]) == pytest.approx(2.0)  # both classes whole
    assert sum(map(sum, curves["scores"]["classes"].values())) == report.rows
    [line] = scores["thresholds"]
    assert line["axis"] == "x" and line["value"] == curves["threshold"]
    assert value_at(scores, line["box"][0], 0)[0] == pytest.approx(curves["threshold"], abs=0.01)
    confusion = chart(plots, "Confusion matrix at threshold")
    check_confusion(confusion, curves["labels"], curves["confusion"], report.rows)
    [[_tn, fp], [fn, tp]] = curves["confusion"]  # rows: actual False, True; columns: predicted
    assert tp / (tp + fn) == pytest.approx(report.metrics["recall"], abs=1e-4)
    assert tp / (tp + fp) == pytest.approx(report.metrics["precision"], abs=1e-4)


def check_multiclass(plots: dict[str, Any], report: EvaluationReport) -> None:
    curves = report.curves
    per_class = chart(plots, "Precision, recall and F1 per class")
    expected = {
        (c["label"], name): c[name]
        for c in curves["per_class"]
        for name in ("precision", "recall", "f1")
    }
    assert len(per_class["bars"]) == len(expected) == 3 * len(curves["labels"])
    for bar in per_class["bars"]:
        assert bar_height(per_class, bar) == pytest.approx(
            expected[bar["label"], bar["series"]], abs=0.01
        )
    matrix = curves["confusion"]
    check_confusion(chart(plots, "Confusion matrix"), curves["labels"], matrix, report.rows)
    right = sum(matrix[i][i] for i in range(len(matrix)))
    assert right / report.rows == pytest.approx(report.metrics["accuracy"], abs=1e-4)
    roc = chart(plots, "One-vs-rest ROC curves")
    assert len(roc["curves"]) == len(curves["ovr_roc"]) == len(curves["labels"])
    for curve, found in zip(roc["curves"], curves["ovr_roc"].values(), strict=True):
        check_roc(curve, roc, found["auc"])


def check_regression(plots: dict[str, Any], report: EvaluationReport) -> None:
    curves = report.curves
    pairs = curves["sample"]
    scatter = chart(plots, "Predicted against actual")
    assert scatter["x_domain"] == scatter["y_domain"]  # one scale: the diagonal is y = x
    assert len(scatter["dots"]) == len(pairs) == report.rows  # a small holdout: every row
    span = scatter["x_domain"][1] - scatter["x_domain"][0]
    for box, (actual, predicted) in zip(scatter["dots"], pairs, strict=True):
        assert value_at(scatter, *centre(box)) == pytest.approx((actual, predicted), abs=span / 300)
    residuals = chart(plots, "Residuals against predicted")
    span = residuals["y_domain"][1] - residuals["y_domain"][0]
    for box, (actual, predicted) in zip(residuals["dots"], pairs, strict=True):
        assert value_at(residuals, *centre(box)) == pytest.approx(
            (predicted, actual - predicted), abs=span / 300
        )
    histogram = chart(plots, "Residual histogram")
    counts = curves["residuals"]["counts"]
    assert len(histogram["bars"]) == len(counts) and sum(counts) == report.rows
    top = histogram["y_domain"][1]
    for bar, count in zip(histogram["bars"], counts, strict=True):
        assert bar_height(histogram, bar) == pytest.approx(count, abs=top / 200)
    errors = chart(plots, "Mean absolute error by range")
    check_hbars(
        errors, [(r["range"], r["mae"], r["low"], r["high"]) for r in curves["error_by_range"]]
    )
    total = sum(r["mae"] * r["rows"] for r in curves["error_by_range"]) / report.rows
    assert total == pytest.approx(report.metrics["mae"], rel=1e-4)


def check_slices(plots: dict[str, Any], report: EvaluationReport) -> None:
    """One bar per slice as long as its metric, whiskers its interval, red when it fails,
    and the rule's bound a line at its value."""
    [first, *_] = report.slices
    plot = chart(plots, f"{first['metric']} per {first['column']} slice")
    check_hbars(plot, [(s["slice"], s["value"], s["low"], s["high"]) for s in report.slices])
    assert [bar["fill"] for bar in plot["bars"]] == [
        PASS if s["passed"] else FAIL for s in report.slices
    ]
    [line] = plot["thresholds"]
    bound = first["min"] if first["min"] is not None else first["max"]
    assert line["value"] == bound
    assert value_at(plot, line["box"][0], 0)[0] == pytest.approx(bound, abs=0.01 * abs(bound))


def check_hbars(plot: dict[str, Any], expected: list[tuple[str, float, float, float]]) -> None:
    assert [bar["label"] for bar in plot["bars"]] == [label for label, *_ in expected]
    assert [t for t in plot["ticks"] if t in {e[0] for e in expected}] == [e[0] for e in expected]
    span = plot["x_domain"][1] - plot["x_domain"][0]
    for bar, (_label, value, *_rest) in zip(plot["bars"], expected, strict=True):
        x, _y, width, _height = bar["box"]
        assert value_at(plot, x + width, 0)[0] == pytest.approx(value, abs=span / 200)
    assert len(plot["whiskers"]) == len(expected)
    for box, (_label, _value, low, high) in zip(plot["whiskers"], expected, strict=True):
        ends = value_at(plot, box[0], 0)[0], value_at(plot, box[0] + box[2], 0)[0]
        assert ends == pytest.approx((low, high), abs=span / 200)


def check_roc(curve: list[list[float]], plot: dict[str, Any], auc: float) -> None:
    """The drawn curve runs from (0, 0) to (1, 1) with the AUC under it."""
    points = [value_at(plot, x, y) for x, y in curve]
    assert points[0] == pytest.approx((0, 0), abs=0.01)
    assert points[-1] == pytest.approx((1, 1), abs=0.01)
    area = sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in itertools.pairwise(points))
    assert area == pytest.approx(auc, abs=0.01)


def check_confusion(
    plot: dict[str, Any], labels: list[str], matrix: list[list[int]], rows: int
) -> None:
    """The cells show the counts row by row (actual classes down, predicted across)."""
    cells = sorted(plot["cells"], key=lambda c: (round(c[1]), c[0]))  # top to bottom, left to right
    n = len(labels)
    shown = [[int(c[4]) for c in cells[i : i + n]] for i in range(0, len(cells), n)]
    assert shown == matrix and sum(map(sum, shown)) == rows
    assert plot["cell_text"] == [str(v) for row in matrix for v in row]
    assert [t for t in plot["ticks"] if t in labels] == labels + labels  # both axes


def bar_height(plot: dict[str, Any], bar: dict[str, Any]) -> float:
    """A column's drawn height in the chart's units."""
    _x, y, _width, height = bar["box"]
    return value_at(plot, 0, y)[1] - value_at(plot, 0, y + height)[1]
