"""The monitoring report as one self-contained HTML page, plots as inline SVG.

Per feature: reference and current distributions side by side (bars per bin for
numbers, per category for categories) with the verdict; drift over time from
the stored history of earlier runs; data quality, performance and service tables.
"""

from __future__ import annotations

import html
from typing import Any

from .drift import FeatureDrift
from .records import StoredFigure
from .report import MonitorReport

W, H, PAD = 300, 190, 34
REF, CUR = "#9aa3b2", "#2f6feb"

STYLE = """
body{font:14px system-ui,sans-serif;margin:24px;color:#1d2330;max-width:1180px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.bad{color:#c62828;font-weight:600}.ok{color:#18794e}.muted{color:#6b7385}
table{border-collapse:collapse;margin:6px 0}td,th{padding:4px 10px;border-bottom:1px solid #e3e6ec;text-align:left}
.plots{display:flex;flex-wrap:wrap;gap:14px}.plot{border:1px solid #e3e6ec;border-radius:6px;padding:6px}
.plot.drifted{border-color:#c62828}.key span{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}
"""


def render(report: MonitorReport, history: list[StoredFigure] | None = None) -> str:
    drifted = report.drifted
    verdict = (
        f"<span class='bad'>{len(drifted)} feature(s) drifted: {_e(', '.join(drifted))}</span>"
        if drifted
        else "<span class='ok'>no feature drifted</span>"
    )
    window = report.window
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>monitoring of {_e(report.model)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{_e(report.model)} — {verdict}</h1>",
        f"<div class='muted'>{report.rows:,} predictions from {_e(window['start'])} to "
        f"{_e(window['end'])}; versions {_e(report.versions or '-')}; reference: "
        f"{_e(report.reference)}</div>",
        *[f"<p class='muted'>{_e(note)}</p>" for note in report.notes],
        "<h2>Drift per feature</h2>",
        _drift_table(report.drift + report.prediction_drift),
        f"<div class='key'><span style='background:{REF}'></span>reference"
        f"<span style='background:{CUR}'></span>current window</div>",
        "<div class='plots'>",
        *[_distribution(f) for f in report.drift + report.prediction_drift if f.plot],
        "</div>",
    ]
    over_time = _over_time(history or [])
    if over_time:
        parts += ["<h2>Drift over time</h2><div class='plots'>", *over_time, "</div>"]
    parts += [
        "<h2>Data quality</h2>",
        _table(
            [
                "feature",
                "null rate",
                "training null rate",
                "outside training range",
                "unseen categories",
                "refused requests naming it",
            ],
            [
                [
                    q.feature,
                    _pct(q.null_rate),
                    _pct(q.reference_null_rate),
                    _pct(q.out_of_range),
                    _pct(q.unseen_categories) + _examples(q.unseen_examples),
                    q.rejected,
                ]
                for q in report.quality
            ],
        ),
        "<h2>Performance from feedback</h2>",
        _performance(report),
        "<h2>Service</h2>",
        _service(report),
        "</body></html>",
    ]
    return "\n".join(parts)


def _drift_table(verdicts: list[FeatureDrift]) -> str:
    rows = []
    for f in verdicts:
        if f.drifted is None:
            reason = f"<span class='muted'>{_e(f.reason)}</span>"
            rows.append([_e(f.feature), _e(f.kind), "-", "-", "-", reason])
            continue
        stats = ", ".join(f"{k} {v:.4g}" for k, v in f.statistics.items())
        mark = "<span class='bad'>drifted</span>" if f.drifted else "<span class='ok'>ok</span>"
        rows.append(
            [_e(f.feature), f.kind, f"{f.method} {f.decisive:.4g}", f.flags_when, mark, _e(stats)]
        )
    return _table(
        ["feature", "kind", "decided by", "flags when", "verdict", "all statistics"], rows, raw=True
    )


def _distribution(f: FeatureDrift) -> str:
    plot = f.plot
    if "levels" in plot:
        labels, ref, cur = plot["levels"], plot["reference"], plot["current"]
    else:
        labels = [f"{plot['edges'][i]:.3g}" for i in range(len(plot["reference"]))]
        ref, cur = plot["reference"], plot["current"]
        if plot.get("above"):
            labels, ref, cur = [*labels, "above"], [*ref, 0.0], [*cur, plot["above"]]
    top = max([*ref, *cur, 1e-9])
    n = len(ref)
    slot = (W - PAD - 8) / max(n, 1)
    bars = []
    for i, (r, c) in enumerate(zip(ref, cur, strict=True)):
        x = PAD + i * slot
        for j, (share, color) in enumerate(((r, REF), (c, CUR))):
            height = (H - PAD - 22) * share / top
            bars.append(
                f"<rect x='{x + j * slot / 2:.1f}' y='{H - PAD - height:.1f}' width='{max(slot / 2 - 0.5, 0.5):.1f}' "
                f"height='{height:.1f}' fill='{color}'><title>{_e(labels[i])}: reference {r:.2%}, current {c:.2%}</title></rect>"
            )
    first, last = (labels[0], labels[-1]) if labels else ("", "")
    body = "".join(bars) + (
        f"<text x='{PAD}' y='{H - PAD + 12}' font-size='10'>{_e(first)}</text>"
        f"<text x='{W - 8}' y='{H - PAD + 12}' font-size='10' text-anchor='end'>{_e(last)}</text>"
        f"<text x='{PAD - 4}' y='26' font-size='10' text-anchor='end'>{top:.0%}</text>"
    )
    title = f"{f.feature}: {'DRIFTED' if f.drifted else 'ok'} ({f.method})"
    return _frame(title, "drifted" if f.drifted else "", body)


def _over_time(history: list[StoredFigure]) -> list[str]:
    """One line per feature: the deciding statistic over the stored runs, threshold dashed."""
    series: dict[str, list[StoredFigure]] = {}
    for point in history:
        if point.threshold is not None and point.value is not None:
            series.setdefault(point.name, []).append(point)
    plots = []
    for name, points in series.items():
        if len(points) < 2:
            continue
        values = [p.value for p in points if p.value is not None]
        threshold = points[-1].threshold
        assert threshold is not None  # only points with both are kept
        top = max([*values, threshold]) * 1.1 or 1.0
        step = (W - PAD - 8) / (len(points) - 1)

        def y(v: float, top: float = top) -> float:
            return H - PAD - (H - PAD - 22) * v / top

        path = " ".join(
            f"{'M' if i == 0 else 'L'}{PAD + i * step:.1f},{y(v):.1f}" for i, v in enumerate(values)
        )
        body = (
            f"<line x1='{PAD}' x2='{W - 8}' y1='{y(threshold):.1f}' y2='{y(threshold):.1f}' stroke='#c62828' stroke-dasharray='4 3'/>"
            f"<path d='{path}' fill='none' stroke='{CUR}' stroke-width='2'/>"
            f"<text x='{PAD}' y='{H - PAD + 12}' font-size='10'>{_e(points[0].at.isoformat()[:16])}</text>"
            f"<text x='{W - 8}' y='{H - PAD + 12}' font-size='10' text-anchor='end'>{_e(points[-1].at.isoformat()[:16])}</text>"
        )
        plots.append(_frame(f"{name}: {points[-1].statistic} per run", "", body))
    return plots[:40]


def _performance(report: MonitorReport) -> str:
    p = report.performance
    rows: list[list[Any]] = [[k, f"{v:.4g}"] for k, v in p.metrics.items()]
    rows += [
        ["labels received", p.labels],
        ["labelled predictions", p.labelled],
        ["labels for unknown ids", p.unknown_ids],
        ["duplicate labels", p.duplicates],
        [
            "label delay p50 / p95 / max (s)",
            " / ".join(str(v) for v in p.label_delay_s.values()) or "-",
        ],
    ]
    note = f"<p class='muted'>{_e(p.note)}</p>" if p.note else ""
    return _table(["figure", "value"], rows) + note


_CAUSES = {
    "error": "a model error",
    "timeout": "a model time-out",
    "circuit_open": "the open circuit breaker",
    "unloaded": "no loaded version",
    "unknown": "an unknown cause (logged before causes were)",
}


def _service(report: MonitorReport) -> str:
    s = report.service
    rows = [
        ["requests / rows", f"{s.requests:,} / {s.rows:,}"],
        ["latency p50 / p95 / p99 (ms)", f"{s.latency_p50} / {s.latency_p95} / {s.latency_p99}"],
        ["over the budget of", f"{s.budget_ms:g} ms: {_pct(s.over_budget_rate)} of requests"],
        ["degraded answers (from the fallback)", _pct(s.degraded_rate)],
        *[[f"… because of {_CAUSES.get(c, c)}", _pct(v)] for c, v in s.degraded_by_cause.items()],
        ["errors (5xx)", f"{s.errors} ({_pct(s.error_rate)})"],
        ["refused (4xx)", f"{s.rejected} ({_pct(s.rejected_rate)})"],
        ["shed, server busy (429/503)", f"{s.shed} ({_pct(s.shed_rate)})"],
    ]
    return _table(["figure", "value"], rows)


def _frame(title: str, css: str, body: str) -> str:
    return (
        f"<div class='plot {css}'><svg width='{W}' height='{H}' role='img' aria-label='{_e(title)}'>"
        f"<text x='{W / 2}' y='13' text-anchor='middle' font-weight='600' font-size='12'>{_e(title)}</text>"
        f"<line x1='{PAD}' y1='{H - PAD}' x2='{W - 8}' y2='{H - PAD}' stroke='#9aa3b2'/>{body}</svg></div>"
    )


def _table(head: list[str], rows: list[list[Any]], *, raw: bool = False) -> str:
    cells = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{v if raw else _e(v)}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{cells}</tr>{body}</table>"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _examples(unseen: dict[str, int]) -> str:
    if not unseen:
        return ""
    return " (" + ", ".join(f"{k}: {v}" for k, v in list(unseen.items())[:5]) + ")"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
