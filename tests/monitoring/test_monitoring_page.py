"""The monitoring page, read back from its SVG: the headline ranks what moved most, every
feature's shares are drawn, drift over time shares one scale per statistic, and no Python
structure reaches the page."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from shipyard.config.schema import DriftConfig
from shipyard.monitoring.drift import compare
from shipyard.monitoring.html import render
from shipyard.monitoring.performance import Performance
from shipyard.monitoring.profile import build_profile
from shipyard.monitoring.records import StoredFigure
from shipyard.monitoring.report import MonitorReport
from shipyard.monitoring.service import service

NS = "{http://www.w3.org/2000/svg}"
SHIFTS = [0.3, 0.6, 0.9, 1.2, 1.5, 0.0, 0.0, 0.0]  # in standard deviations; f4 moved most
END = datetime(2026, 3, 2, 12, tzinfo=UTC)


def report(shifts: list[float], seed: int, end: datetime) -> MonitorReport:
    rng = np.random.default_rng(seed)
    names = [f"f{i}" for i in range(len(shifts))]
    reference = pl.DataFrame({n: rng.normal(0, 1, 5000) for n in names})
    current = pl.DataFrame({n: rng.normal(s, 1, 600) for n, s in zip(names, shifts, strict=True)})
    found = compare(build_profile(reference), current, names, DriftConfig())
    return MonitorReport(
        model="risk", versions={"3": 590, "2": 10}, rows=600, reference="risk@3 trained on loans@2",
        window={"start": (end - timedelta(hours=1)).isoformat(), "end": end.isoformat(), "rows": None},
        drift=found.features, prediction_drift=[], quality=[], performance=Performance(0, 0, 0, 0),
        service=service(pl.DataFrame(), pl.DataFrame({"time": [], "status": [], "code": []}), 50),
    )  # fmt: skip


def charts(page: str) -> dict[str, ET.Element]:
    found = [ET.fromstring(svg) for svg in re.findall(r"<svg .*?</svg>", page, flags=re.S)]
    assert all(svg.find(NS + "title") is not None for svg in found)
    return {svg.get("aria-label", ""): svg for svg in found}


def test_the_headline_names_the_three_that_moved_most_and_counts_the_rest() -> None:
    now = report(SHIFTS, 1, END)
    page = render(now)
    assert sorted(now.drifted) == ["f0", "f1", "f2", "f3", "f4"]
    h1 = re.search(r"<h1>(.*?)</h1>", page, flags=re.S)
    assert h1 and "5 of 8 features drifted" in h1[1]
    most = re.search(r"moved most: (.*?)</p>", page)
    assert most and [p.split(" (")[0] for p in most[1].split("; ")[:3]] == ["f4", "f3", "f2"]
    assert most[1].endswith("and 2 more")
    text = re.sub(r"<[^>]+>", " ", page)
    assert "{'" not in text and "['" not in text  # today's header showed versions {'1': 590}
    assert "version 3 answered 590, version 2 answered 10" in text


def test_each_feature_has_its_shares_and_drift_over_time_one_scale_per_statistic() -> None:
    before = report([0.0] * 8, 2, END - timedelta(hours=1))
    history = [
        StoredFigure(
            END - timedelta(hours=1), f.kind, f.name, f.statistic, f.value, f.threshold, f.flagged
        )
        for f in before.figures()
        if f.kind == "drift"
    ]
    now = report(SHIFTS, 1, END)
    drawn = charts(render(now, history))
    for f in now.drift:
        shares = drawn[f"{f.feature}: reference and current"]
        bars = [e for e in shares.iter() if e.get("class") == "bar"]
        expected = f.plot["reference"] + f.plot["current"]
        assert [float(b.get("data-value", "")) for b in bars] == expected
    over_time = {label: svg for label, svg in drawn.items() if " per run (" in label}
    assert len(over_time) == 8
    domains = set()
    for label, svg in over_time.items():
        feature = label.split(" per run")[0]
        dots = [e for e in svg.iter() if e.get("class") == "point"]
        assert len(dots) == 2  # the stored run and this one
        [line] = [e for e in svg.iter() if e.get("class") == "threshold"]
        verdict = next(f for f in now.drift if f.feature == feature)
        assert ("DRIFTED" in label) == bool(verdict.drifted)
        assert float(line.get("data-value", "")) > 0
        [area] = [e for e in svg.iter() if e.get("class") == "plot-area"]
        domains.add(area.get("data-y-domain"))
        y_label = [e.text for e in svg.iter() if e.get("class") == "y-label"]
        assert y_label == ["Wasserstein distance (sd)"]  # numbers: decided by it at any size
    assert len(domains) == 1  # every Wasserstein chart on one scale
