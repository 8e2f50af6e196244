"""The HTML report opens in a real browser (headless Chromium) and draws the evaluation's numbers.

Chromium loads a copy of the report with a script that measures what it drew (the
boxes of bars, dots and cells, points along each curve) and writes the measures
into the page; the test reads them from ``--dump-dom`` and holds them against the
report: one bar per slice, as tall as its metric; one dot per calibration bin, where
the bin is; the confusion matrix's counts, which give the recall and precision; and
under the drawn ROC curve, an area equal to ``roc_auc``.
"""

from __future__ import annotations

import html
import itertools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from helpers import missing_backend
from shipyard.evaluation import EvaluationReport
from shipyard.project import Project

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # two browser runs on a busy machine

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


# what Chromium drew, per plot (its aria-label), in the page's pixels
MEASURE = """<script>
const drawn = {};
const box = (el) => { const b = el.getBBox(); return [b.x, b.y, b.width, b.height]; };
for (const svg of document.querySelectorAll("svg[aria-label]")) {
  drawn[svg.getAttribute("aria-label")] = {
    frame: box(svg.querySelector("rect")),
    curves: [...svg.querySelectorAll("path")].map((path) => {
      const points = [];
      for (let at = 0; at <= path.getTotalLength(); at += 0.5) {
        const p = path.getPointAtLength(at);
        points.push([p.x, p.y]);
      }
      return points;
    }),
    dots: [...svg.querySelectorAll("circle")].map(box),
    bars: [...svg.querySelectorAll("rect")].filter((r) => r.querySelector("title"))
      .map((r) => [...box(r), getComputedStyle(r).fill]),
    cells: [...svg.querySelectorAll("text[font-size='12']")].map((t) => [...box(t), t.textContent]),
  };
}
const out = document.createElement("pre");
out.id = "drawn";
out.textContent = JSON.stringify(drawn);
document.body.append(out);
</script>"""
PASS, FAIL = "rgb(24, 121, 78)", "rgb(198, 40, 40)"  # the report's #18794e and #c62828


def chromium() -> str:
    found = (
        shutil.which("chromium")
        or shutil.which("chromium-browser")
        or shutil.which("google-chrome")
    )
    if not found:
        missing_backend("no Chromium: apt-get install chromium (.ci/run does)")
    return str(found)


def unit(frame: list[float], x: float, y: float) -> tuple[float, float]:
    """A point of a plot, from the page's pixels to the plot's axes (0..1, y up)."""
    left, top, width, height = frame
    return (x - left) / width, 1 - (y - top) / height


def drawn_plots(common: list[str], page: Path, folder: Path) -> tuple[str, dict[str, Any]]:
    """The DOM Chromium rendered for ``page``, and what it measured of each plot."""
    measured = folder / "measured.html"
    measured.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
    dom = subprocess.run(
        [*common, "--dump-dom", measured.as_uri()], capture_output=True, text=True, timeout=240
    ).stdout
    found = re.search(r'<pre id="drawn">(.*?)</pre>', dom, flags=re.S)
    assert found, f"the browser ran no script: {dom[:300]!r}"
    return dom, json.loads(html.unescape(found[1]))


def test_the_report_draws_its_numbers(eval_project: Project, tmp_path: Path) -> None:
    browser = chromium()
    result = eval_project.evaluate("default-risk@2")
    report = result.report
    common = [browser, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    page = Path(result.html_url)
    dom, plots = drawn_plots(common, page, tmp_path)
    assert "default-risk@2" in dom and "FAILED" in dom
    assert set(plots) == {
        "ROC curve",
        "Precision-recall curve",
        "Calibration",
        "roc_auc per slice",
        "Confusion matrix (rows: actual)",
    }
    check_roc(plots["ROC curve"], report)
    check_calibration(plots["Calibration"], report)
    check_slices(plots["roc_auc per slice"], report)
    check_confusion(plots["Confusion matrix (rows: actual)"], report)

    shot = tmp_path / "report.png"
    subprocess.run(
        [*common, "--window-size=1200,1400", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=240,
        env={**os.environ},
    )
    assert shot.exists() and shot.stat().st_size > 20_000  # a page with plots, not a blank one


def check_roc(plot: dict[str, Any], report: EvaluationReport) -> None:
    """The drawn curve runs from (0, 0) to (1, 1) and has the metric's area under it."""
    [curve] = plot["curves"]
    points = [unit(plot["frame"], x, y) for x, y in curve]
    assert points[0] == pytest.approx((0, 0), abs=0.01)
    assert points[-1] == pytest.approx((1, 1), abs=0.01)
    area = sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in itertools.pairwise(points))
    assert area == pytest.approx(report.metrics["roc_auc"], abs=0.01)


def check_calibration(plot: dict[str, Any], report: EvaluationReport) -> None:
    """One dot per bin, at (mean predicted probability, observed frequency)."""
    bins = report.curves["calibration"]
    assert len(plot["dots"]) == len(bins) > 1
    for (x, y, width, height), expected in zip(plot["dots"], bins, strict=True):
        dot = unit(plot["frame"], x + width / 2, y + height / 2)
        assert dot == pytest.approx((expected["predicted"], expected["observed"]), abs=0.01)


def check_slices(plot: dict[str, Any], report: EvaluationReport) -> None:
    """One bar per slice, its height in proportion to the slice's metric, red if it failed."""
    slices = [s for s in report.slices if s["value"] is not None]
    assert len(plot["bars"]) == len(slices) > 1
    tallest = max(bar[3] for bar in plot["bars"])
    top = max(abs(s["value"]) for s in slices)
    for (_x, _y, _width, height, fill), expected in zip(plot["bars"], slices, strict=True):
        assert height / tallest == pytest.approx(abs(expected["value"]) / top, abs=0.01)
        assert fill == (PASS if expected["passed"] else FAIL)


def check_confusion(plot: dict[str, Any], report: EvaluationReport) -> None:
    """The cells show the counts, row by row: they sum to the rows and give recall and precision."""
    cells = sorted(plot["cells"], key=lambda c: (round(c[1] + c[3] / 2), c[0] + c[2] / 2))
    labels = report.curves["labels"]
    shown = [
        [int(c[4]) for c in cells[i : i + len(labels)]] for i in range(0, len(cells), len(labels))
    ]
    assert shown == report.curves["confusion"]
    assert sum(map(sum, shown)) == report.rows
    [[_tn, fp], [fn, tp]] = shown  # rows: actual False, True; columns: predicted
    assert tp / (tp + fn) == pytest.approx(report.metrics["recall"], abs=1e-4)
    assert tp / (tp + fp) == pytest.approx(report.metrics["precision"], abs=1e-4)
