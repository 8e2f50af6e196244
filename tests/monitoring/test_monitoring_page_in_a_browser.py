"""The monitoring report of a drifted window opens in a real browser and draws its numbers.

Three monitoring runs an hour apart (two calm, the last drifted: ``drift_history.py``);
one Chromium run over the last run's page measures every chart and saves a
screenshot (``tests/page_support.py``). The headline names the features that moved
most, largest first; each feature's reference and current shares are drawn as tall
as they are; drift over time has a dot per run at its statistic, the threshold as a
line, and one y scale per statistic; the page shows no Python structures.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
from drift_history import drifting_project

from page_support import artifacts, centre, chart, open_page, value_at
from shipyard.monitoring import MonitorRun

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_a_drifted_windows_report_draws_its_numbers(tmp_path: Path) -> None:
    project, runs = drifting_project(tmp_path / "proj")
    with project:
        last = runs[-1].report
        page = tmp_path / "monitoring.html"
        page.write_bytes(project.artifacts.get(runs[-1].html_key))
    shot = artifacts(tmp_path) / "monitoring-drifted.png"
    dom, plots = open_page(page, shot, tmp_path, height=2600)
    text = re.sub(r"<[^>]+>", " ", dom.split('<pre id="drawn"')[0])
    assert "{'" not in text and "['" not in text, "no Python structures on the page"
    assert "version 1 answered 400" in text

    drifted = sorted(last.drift, key=lambda f: -f.statistics["psi"])
    assert [f.feature for f in drifted] == sorted(last.drifted, key=lambda n: -last_psi(last, n))
    headline = re.search(r"moved most: (.*?)</p>", dom)
    assert headline and [part.split(" (")[0] for part in headline[1].split("; ")] == [
        f.feature for f in drifted[:3]
    ]
    assert "3 of 3 features drifted" in text

    for f in last.drift + last.prediction_drift:
        check_distribution(chart(plots, f"{f.feature}: reference and current"), f.plot)
    check_over_time(plots, runs)


def last_psi(report: Any, name: str) -> float:
    return next(f.statistics["psi"] for f in report.drift if f.feature == name)


def check_distribution(plot: dict[str, Any], figures: dict[str, Any]) -> None:
    """Reference bars, then current bars, each as tall as its share of rows."""
    expected = figures["reference"] + figures["current"]
    assert len(plot["bars"]) == len(expected)
    assert [bar["series"] for bar in plot["bars"]] == ["reference"] * len(figures["reference"]) + [
        "current"
    ] * len(figures["current"])
    top = plot["y_domain"][1]
    for bar, share in zip(plot["bars"], expected, strict=True):
        _x, y, _width, height = bar["box"]
        drawn = value_at(plot, 0, y)[1] - value_at(plot, 0, y + height)[1]
        assert drawn == pytest.approx(share, abs=top / 150)
    if "edges" in figures:  # bins where the reference's range puts them
        first = plot["bars"][0]["box"]
        assert value_at(plot, first[0], 0)[0] == pytest.approx(
            figures["edges"][0], rel=0.01, abs=0.5
        )


def check_over_time(plots: dict[str, Any], runs: list[MonitorRun]) -> None:
    """A dot per run at -log10 of its p-value (a test) or its distance; the threshold a line;
    every chart of one statistic on one y scale."""
    scales: dict[str, list[list[float]]] = {}
    for f in runs[-1].report.drift:
        plot = chart(plots, f"{f.feature} per run")
        assert len(plot["curves"]) == 1 and len(plot["dots"]) == len(runs) == 3
        statistic = f"{f.method}_p_value" if f.p_value is not None else f.method
        expected = [
            next(g.statistics[statistic] for g in run.report.drift if g.feature == f.feature)
            for run in runs
        ]
        if f.p_value is not None:
            expected = [-math.log10(max(p, 1e-16)) for p in expected]
        top = plot["y_domain"][1]
        drawn = [value_at(plot, *centre(box))[1] for box in plot["dots"]]
        assert drawn == pytest.approx(expected, abs=top / 150)
        assert drawn[-1] > drawn[0]  # the drifted run stands out
        [line] = plot["thresholds"]
        threshold = -math.log10(f.threshold) if f.p_value is not None else f.threshold
        assert value_at(plot, 0, line["box"][1])[1] == pytest.approx(threshold, abs=top / 150)
        assert plot["y_label"] and plot["x_label"] == "end of the run's window (UTC)"
        scales.setdefault(f.method, []).append(plot["y_domain"])
    for domains in scales.values():
        assert all(d == domains[0] for d in domains), "one statistic, one scale"
