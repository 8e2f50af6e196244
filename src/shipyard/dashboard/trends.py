"""A model's figures over time, from its monitoring runs' stored figures, as inline SVG.

- drift: per feature its deciding statistic per run, the threshold a dashed line (a
  test's p-value drawn as -log10(p), so up is always more drift);
- performance from feedback: each metric per run;
- latency: p50, p95 and p99 per run against the model's latency budget;
- degraded answers and errors: the shares of fallback answers and failed requests.

Three queries (drift, performance, service figures), each of the newest figures only.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shipyard.charts import PALETTE, Series, Threshold, line_chart, num, time_detail, time_format
from shipyard.charts.scale import nice

if TYPE_CHECKING:
    from shipyard.monitoring.records import StoredFigure
    from shipyard.project import Project

MAX_DRIFT_CHARTS = 12
P_VALUES = {"ks", "chi2"}  # statistics where smaller is more drift


@dataclass(frozen=True)
class Trends:
    """The charts over time (inline SVG strings) and how many runs they span."""

    runs: int
    drift: list[str] = field(default_factory=list)
    performance: str = ""
    latency: str = ""
    degraded: str = ""


def trends(project: Project, name: str) -> Trends:
    """``name``'s charts over time; a chart needs two runs at least."""
    history = project.monitoring.history
    drift = history(name, kind="drift", limit=4000)
    performance = history(name, kind="performance", limit=1000)
    service = history(name, kind="service", limit=2000)
    runs = len({p.at for p in service} | {p.at for p in drift})
    declared = project.config.models.get(name)
    budget = float(declared.latency_budget_ms) if declared else None
    return Trends(
        runs=runs,
        drift=drift_charts(drift),
        performance=_lines(
            f"{name}: performance from feedback per run",
            [p for p in performance if p.name != "labelled" and p.statistic == "value"],
            y_label="metric value",
        ),
        latency=_lines(
            f"{name}: latency per run",
            [
                p
                for p in service
                if p.name in ("latency_p50", "latency_p95", "latency_p99")
                and p.statistic == "value"
            ],
            y_label="milliseconds",
            thresholds=[Threshold(budget, f"budget {num(budget, 3)} ms")] if budget else [],
            least_top=1.0,  # a latency is never negative: the axis starts at 0
        ),
        degraded=_lines(
            f"{name}: degraded answers and errors per run",
            [
                p
                for p in service
                if p.name in ("degraded_rate", "error_rate") and p.statistic == "value"
            ],
            y_label="share of requests",
            least_top=0.05,  # a share: from 0, and all-zero runs are a flat line at the bottom
        ),
    )


def drift_charts(points: Sequence[StoredFigure]) -> list[str]:
    """One chart per feature with two runs or more: its deciding statistic and threshold."""
    deciding = [p for p in points if p.threshold is not None and p.value is not None]
    by_feature: dict[str, list[StoredFigure]] = defaultdict(list)
    for p in deciding:
        by_feature[p.name].append(p)
    ordered = sorted(
        by_feature.items(), key=lambda kv: (not any(p.flagged for p in kv[1][-1:]), kv[0])
    )
    charts = []
    for feature, found in ordered:
        if len({p.at for p in found}) < 2:
            continue
        statistic = found[-1].statistic
        series = sorted(
            (p.at.timestamp(), _up(p.value, statistic)) for p in found if p.statistic == statistic
        )
        threshold = _up(found[-1].threshold, statistic)
        drifted = bool(found[-1].flagged)
        label = f"-log10 {statistic} p-value" if statistic in P_VALUES else statistic
        times = [t for t, _ in series]
        charts.append(
            line_chart(
                f"{feature}: drift per run ({'DRIFTED' if drifted else 'stable'} in the last)",
                [Series(feature, series, PALETTE[1] if drifted else PALETTE[0], dots=True)],
                x_label="end of the run's window (UTC)",
                y_label=label,
                thresholds=[Threshold(threshold, f"flags above {num(threshold, 3)}")],
                x_range=(min(times), max(times)),
                x_format=time_format(min(times), max(times)),
                x_detail=time_detail,
                width=340,
                height=230,
            )
        )
        if len(charts) >= MAX_DRIFT_CHARTS:
            break
    return charts


def _lines(
    title: str,
    points: Sequence[StoredFigure],
    *,
    y_label: str,
    thresholds: Sequence[Threshold] = (),
    least_top: float | None = None,
) -> str:
    """One line per figure name over the runs; "" with fewer than two runs. ``least_top``:
    the y axis runs from 0 to a round number at least this high (figures never negative)."""
    by_name: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for p in points:
        if p.value is not None and math.isfinite(p.value):
            by_name[p.name].append((p.at.timestamp(), float(p.value)))
    series = [
        Series(n, sorted(v), PALETTE[i % len(PALETTE)], dots=True)
        for i, (n, v) in enumerate(sorted(by_name.items()))
        if len(v) >= 2
    ]
    if not series:
        return ""
    times = [t for s in series for t, _ in s.points]
    y_range = None
    if least_top is not None:
        tops = [y for s in series for _, y in s.points] + [t.value for t in thresholds]
        y_range = nice(0.0, max([least_top, *tops]))[:2]
    return line_chart(
        title,
        series,
        x_label="end of the run's window (UTC)",
        y_label=y_label,
        thresholds=thresholds,
        x_range=(min(times), max(times)),
        y_range=y_range,
        x_format=time_format(min(times), max(times)),
        x_detail=time_detail,
        width=520,
        height=260,
    )


def _up(value: float | None, statistic: str) -> float:
    if value is None:
        return 0.0
    if statistic in P_VALUES:
        return -math.log10(max(value, 1e-16))
    return float(value)
