"""Each task's evaluation page holds its charts and the slices' table, read back from the page."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from task_reports import task_report

from shipyard.evaluation.html import render

NS = "{http://www.w3.org/2000/svg}"
CHARTS = {
    "binary_classification": [
        "ROC curve (AUC", "Precision-recall curve", "Calibration", "Score by actual class",
        "Confusion matrix at threshold 0.5", "roc_auc per mean_radius slice",
    ],
    "multiclass_classification": [
        "Precision, recall and F1 per class", "Confusion matrix", "One-vs-rest ROC curves",
        "accuracy per alcohol slice",
    ],
    "regression": [
        "Predicted against actual", "Residuals against predicted", "Residual histogram",
        "Mean absolute error by range of the actual value", "mae per bmi slice",
    ],
}  # fmt: skip


@pytest.mark.parametrize("task", sorted(CHARTS))
def test_a_tasks_page_has_its_charts_and_whole_slice_labels(task: str) -> None:
    report = task_report(task)
    page = render(report)
    svgs = [ET.fromstring(svg) for svg in re.findall(r"<svg .*?</svg>", page, flags=re.S)]
    labels = [svg.get("aria-label", "") for svg in svgs]
    assert len(labels) == len(CHARTS[task])
    for expected in CHARTS[task]:
        assert any(label.startswith(expected) for label in labels), (expected, labels)
    for svg in svgs:
        assert svg.find(NS + "title") is not None
        assert [e.text for e in svg.iter() if e.get("class") in ("x-label", "y-label")]
    rows = re.findall(r"<tr><td>[^<]*</td><td>([^<]*)</td><td class='n'>([\d,]+)</td>", page)
    assert [label for label, _ in rows] == [s["slice"] for s in report.slices]
    assert all(label.startswith(("[", "(")) and label.endswith("]") for label, _ in rows)
    assert [int(n.replace(",", "")) for _, n in rows] == [s["size"] for s in report.slices]
    assert "95% interval" in page and (" FAIL" in page) == (not report.passed)
    if task == "multiclass_classification":
        assert "<h2>Per class</h2>" in page
