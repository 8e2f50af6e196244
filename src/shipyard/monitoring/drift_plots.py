"""The monitoring report's drift charts and headline, drawn with :mod:`shipyard.charts`.

- :func:`ranked`: drifted features by effect size, largest first. The effect size
  is the PSI (population stability index), which every column kind has and which
  does not grow with the window's size as a p-value shrinks with it.
- :func:`distribution`: reference and current shares per bin (numbers) or per
  category, one chart per feature.
- :func:`over_time`: each feature's deciding statistic per run, its threshold a
  line; every chart of one statistic shares one y scale, so a feature that drifted
  stands out from a stable one at a glance. A test's p-value is drawn as
  -log10(p), so for every statistic up is "more drift".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from shipyard.charts import (
    PALETTE,
    REFERENCE,
    Series,
    Threshold,
    bar_chart,
    histogram_chart,
    line_chart,
    num,
    time_detail,
    time_format,
)

from .drift import FeatureDrift
from .records import StoredFigure
from .report import MonitorReport

EFFECT = "psi"
MAX_OVER_TIME = 24  # charts of drift over time at most
NAMES = {
    "ks": "KS p-value",
    "chi2": "chi-square p-value",
    "psi": "PSI",
    "wasserstein": "Wasserstein distance (sd)",
    "js": "Jensen-Shannon distance",
}


def effect(f: FeatureDrift) -> float:
    """How far ``f`` moved (its PSI; 0 when there was no verdict)."""
    value = f.statistics.get(EFFECT)
    return float(value) if value is not None and math.isfinite(value) else 0.0


def ranked(verdicts: Sequence[FeatureDrift]) -> list[FeatureDrift]:
    """The drifted features, the largest effect first."""
    return sorted((f for f in verdicts if f.drifted), key=lambda f: -effect(f))


def describe(f: FeatureDrift) -> str:
    """``amount (PSI 0.83, Wasserstein distance (sd) 0.91)``: the effect and the deciding figure."""
    deciding = f"{NAMES.get(f.method, f.method)} {num(f.decisive or 0.0, 3)}"
    return f"{f.feature} ({EFFECT.upper()} {num(effect(f), 3)}, {deciding})"


def distribution(f: FeatureDrift) -> str:
    """Reference and current shares: a histogram over the reference's range, or bars per category."""
    plot = f.plot
    title = f"{f.feature}: reference and current"
    if "levels" in plot:
        return bar_chart(
            title, [str(v) for v in plot["levels"]],
            [("reference", plot["reference"]), ("current", plot["current"])],
            x_label=f.feature, y_label="share of rows", colours=[REFERENCE, PALETTE[0]],
            y_format=_share, width=max(360, 26 * len(plot["levels"]) + 80),
        )  # fmt: skip
    outside = [f"{plot[side]:.1%} {side}" for side in ("below", "above") if plot.get(side)]
    return histogram_chart(
        title, plot["edges"], [("reference", plot["reference"]), ("current", plot["current"])],
        x_label=f.feature
        + (f" ({', '.join(outside)} the reference's range)" if outside else ""),
        y_label="share of rows", colours=[REFERENCE, PALETTE[0]], y_format=_share,
    )  # fmt: skip


def over_time(report: MonitorReport, history: Sequence[StoredFigure]) -> list[str]:
    """One chart per feature with at least two runs, grouped and scaled by statistic."""
    end = _when(report.window.get("end")) or report.created_at
    current = [
        StoredFigure(end, f.kind, f.name, f.statistic, f.value, f.threshold, f.flagged)
        for f in report.figures()
        if f.kind == "drift"
    ]
    seen = {(p.at, p.name, p.statistic) for p in history}
    points = [*history, *(p for p in current if (p.at, p.name, p.statistic) not in seen)]
    verdicts = [f for f in report.drift if f.drifted is not None]
    verdicts.sort(key=lambda f: (not f.drifted, -effect(f)))
    charts: dict[str, list[tuple[FeatureDrift, list[tuple[float, float]], float]]] = {}
    for f in verdicts:
        test = f.p_value is not None
        statistic = f"{f.method}_p_value" if test else f.method
        series = sorted(
            (p.at.timestamp(), _up(p.value, test))
            for p in points
            if p.name == f.feature and p.statistic == statistic and p.value is not None
        )
        if len(series) >= 2:
            charts.setdefault(f.method, []).append((f, series, _up(f.threshold, test)))
    drawn = []
    for method, found in charts.items():
        top = max(max(v for _, v in series) for _, series, _ in found)
        top = max(top, *(t for _, _, t in found)) * 1.08 or 1.0
        name = NAMES.get(method, method)
        label = f"-log10 {name}" if method in ("ks", "chi2") else name
        times = [t for _, series, _ in found for t, _ in series]
        fmt = time_format(min(times), max(times))
        for f, series, threshold in found:
            verdict = "DRIFTED" if f.drifted else "stable"
            drawn.append(line_chart(
                f"{f.feature} per run ({verdict})",
                [Series(f.feature, series, PALETTE[1] if f.drifted else PALETTE[0], dots=True)],
                x_label="end of the run's window (UTC)", y_label=label, y_range=(0.0, top),
                thresholds=[Threshold(threshold, f"flags above {num(threshold, 3)}")],
                x_range=(min(times), max(times)), x_format=fmt, x_detail=time_detail,
                width=340, height=230,
                x_ticks=sorted(set(times)) if len(set(times)) <= 6 else None,
            ))  # fmt: skip
    return drawn[:MAX_OVER_TIME]


def _up(value: float | None, test: bool) -> float:
    """A figure on a scale where up is more drift: -log10 of a p-value, a distance as it is."""
    if value is None:
        return 0.0
    return -math.log10(max(value, 1e-16)) if test else float(value)  # p < 1e-16 reads 0


def _share(value: float) -> str:
    return f"{value:.0%}" if value >= 0.1 or value == 0 else f"{value:.1%}"


def _when(text: Any) -> datetime | None:
    try:
        found = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return found if found.tzinfo else found.replace(tzinfo=UTC)
