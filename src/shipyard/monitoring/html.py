"""The monitoring report as one self-contained HTML page, plots as inline SVG.

A headline naming the few features that moved most (:mod:`.drift_plots` ranks
them by effect size); per feature, reference and current distributions (a
histogram for numbers, bars per category) with the verdict; drift over time from
the stored history of earlier runs, one statistic per shared scale with its
threshold drawn; data quality, performance and service tables.
"""

from __future__ import annotations

import html
from typing import Any

from .backfill import Backfill
from .drift import FeatureDrift
from .drift_plots import describe, distribution, effect, over_time, ranked
from .records import StoredFigure
from .report import MonitorReport

HEADLINE = 3  # drifted features named in the headline

STYLE = """
body{font:14px system-ui,sans-serif;margin:24px;color:#1d2330;max-width:1180px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.bad{color:#c62828;font-weight:600}.ok{color:#18794e}.muted{color:#6b7385}
table{border-collapse:collapse;margin:6px 0}td,th{padding:4px 10px;border-bottom:1px solid #e3e6ec;text-align:left}
.plots{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
figure{margin:0;border:1px solid #e3e6ec;border-radius:6px;padding:6px}figure.drifted{border-color:#c62828}
figcaption{font-size:12px;color:#6b7385;max-width:360px}
"""


def render(report: MonitorReport, history: list[StoredFigure] | None = None) -> str:
    verdicts = report.drift + report.prediction_drift
    judged = [f for f in verdicts if f.drifted is not None]
    ordered = sorted(judged, key=lambda f: (not f.drifted, -effect(f)))
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>monitoring of {_e(report.model)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{_e(report.model)} — {_headline(report)}</h1>",
        _outage(report),
        _most(report),
        f"<div class='muted'>{_e(_provenance(report))}</div>",
        *[f"<p class='muted'>{_e(note)}</p>" for note in report.notes],
        "<h2>Drift per feature</h2>",
        _drift_table(ordered + [f for f in verdicts if f.drifted is None]),
        _multivariate(report),
        "<h2>Reference and current distributions</h2><div class='plots'>",
        *[_figure(f) for f in ordered if f.plot],
        "</div>",
    ]
    charts = over_time(report, history or [])
    parts.append("<h2>Drift over time</h2>")
    if charts:
        parts += [
            "<p class='muted'>each feature's deciding statistic per monitoring run; charts of "
            "one statistic share one scale; the dashed red line is its threshold</p>",
            "<div class='plots'>", *charts, "</div>",
        ]  # fmt: skip
    else:
        parts.append("<p class='muted'>drawn from the second monitoring run on</p>")
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
        _estimated(report),
        "<h2>Service</h2>",
        _service(report),
        "</body></html>",
    ]
    return "\n".join(parts)


def render_periods(result: Backfill) -> str:
    """A back-fill on one page: a verdict per period, then each feature's drift over the
    periods (the charts of the newest report's drift, from every period's figures)."""
    judged = [p for p in result.periods if p.report is not None]
    drifted = [p for p in judged if p.verdict == "drifted"]
    headline = (
        f"<span class='bad'>{len(drifted)} of {len(result.periods)} periods drifted</span>"
        if drifted
        else f"<span class='ok'>no period drifted ({len(result.periods)} periods)</span>"
    )
    rows = [
        [
            _e(p.period.label), f"{p.rows:,}", _e(", ".join(p.drifted) or "-"), _e(p.top or "-"),
            _e(", ".join(f"{k} {v:.4g}" for k, v in p.performance.items()) or "-"),
            f"<span class='bad'>{_e(p.verdict)}</span>" if p.verdict == "drifted"
            else f"<span class='{'ok' if p.verdict == 'ok' else 'muted'}'>{_e(p.verdict)}</span>",
            _e(", ".join(p.would_fire) or "-"), _e(p.note),
        ]
        for p in result.periods
    ]  # fmt: skip
    # the charts follow the newest period with drift verdicts; the others are its history
    verdicts = [p for p in judged if any(f.drifted is not None for f in p.report.drift)]  # type: ignore[union-attr]  # judged: each has a report
    newest = verdicts[-1] if verdicts else None
    history = [
        StoredFigure(p.period.end, f.kind, f.name, f.statistic, f.value, f.threshold, f.flagged)
        for p in judged
        if p is not newest
        for f in p.report.figures()  # type: ignore[union-attr]  # judged: each has a report
        if f.kind == "drift"
    ]
    charts = over_time(newest.report, history) if newest and newest.report else []
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>back-fill of {_e(result.model)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{_e(result.model)} by {_e(result.every)} — {headline}</h1>",
        f"<div class='muted'>window: {_e(result.said)}; reference: {_e(result.reference)}; "
        "alert state is not moved by a back-fill</div>",
        *[f"<p class='muted'>{_e(note)}</p>" for note in result.notes],
        "<h2>Per period</h2>",
        _table(
            [
                "period",
                "rows",
                "drifted features",
                "top drift",
                "performance",
                "verdict",
                "rules it would fire",
                "note",
            ],
            rows,
            raw=True,
        ),
        "<h2>Drift over time</h2>",
    ]
    if charts:
        parts += [
            "<p class='muted'>each feature's deciding statistic per period, plotted at the "
            "period's end; the dashed red line is its threshold</p>",
            "<div class='plots'>", *charts, "</div>",
        ]  # fmt: skip
    else:
        parts.append("<p class='muted'>drawn when two or more periods have verdicts</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _headline(report: MonitorReport) -> str:
    """The few features that moved most, by effect size, and how many more."""
    top = ranked(report.drift)
    judged = sum(1 for f in report.drift if f.drifted is not None)
    if not top:
        return f"<span class='ok'>no feature drifted ({judged} judged)</span>"
    return f"<span class='bad'>{len(top)} of {judged} features drifted</span>"


def _most(report: MonitorReport) -> str:
    """The drifted features that moved most (by PSI), and how many more drifted."""
    top = ranked(report.drift)
    if not top:
        return ""
    named = "; ".join(describe(f) for f in top[:HEADLINE])
    more = f"; and {len(top) - HEADLINE} more" if len(top) > HEADLINE else ""
    return f"<p class='bad headline'>moved most: {_e(named)}{_e(more)}</p>"


def _provenance(report: MonitorReport) -> str:
    window = report.window
    versions = ", ".join(
        f"version {v} answered {n:,}"
        for v, n in sorted(report.versions.items(), key=lambda kv: -kv[1])
    )
    if report.said:  # a dataset version, a batch run, a period: what the window was, first
        return f"window: {report.said}; reference: {report.reference}"
    return (
        f"{report.rows:,} predictions from {_time(window.get('start'))} to "
        f"{_time(window.get('end'))} UTC; {versions or 'no version answered'}; "
        f"reference: {report.reference}"
    )


def _time(text: object) -> str:
    return str(text or "-").replace("T", " ")[:19]


def _figure(f: FeatureDrift) -> str:
    verdict = "drifted" if f.drifted else "stable"
    caption = f"{verdict}: {f.method} {f.decisive:.4g} (flags when {f.flags_when}); PSI {effect(f):.3g}; {f.rows:,} rows"
    return (
        f"<figure class='{'drifted' if f.drifted else ''}'>{distribution(f)}"
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _drift_table(verdicts: list[FeatureDrift]) -> str:
    rows = []
    for f in verdicts:
        if f.drifted is None:
            reason = f"<span class='muted'>{_e(f.reason)}</span>"
            rows.append([_e(f.feature), _e(f.kind), "-", "-", "-", "-", "-", "-", reason])
            continue
        stats = ", ".join(
            f"{k.replace('_p_value', ' p-value')} {v:.4g}" for k, v in f.statistics.items()
        )
        if f.pooled:
            stats += f"; pooled for chi-square (expected < 5): {', '.join(f.pooled[:10])}"
        test = "" if f.test_p_value is None else f", {f.test} p {f.test_p_value:.3g}"
        mark = "<span class='bad'>drifted</span>" if f.drifted else "<span class='ok'>ok</span>"
        rows.append(
            [_e(f.feature), f.kind, _e(f"{f.method} {f.decisive:.4g}{test}"), _e(f.flags_when),
             mark, f"{f.rows:,}", _e(f.detects), f"{effect(f):.3g}", _e(stats)]
        )  # fmt: skip
    return _table(
        ["feature", "kind", "decided by", "flags when", "verdict", "rows",
         "could detect (80% of windows)", "PSI", "all statistics"],
        rows, raw=True,
    )  # fmt: skip


def _outage(report: MonitorReport) -> str:
    """A window where nothing was answered but requests failed says so first."""
    return f"<p class='bad headline'>{_e(report.outage)}</p>" if report.outage else ""


def _multivariate(report: MonitorReport) -> str:
    """Every feature together (PCA reconstruction error): catches a change in correlations."""
    m = report.multivariate
    if m is None:
        return ""
    if m.drifted is None:
        verdict = f"<span class='muted'>{_e(m.reason)}</span>"
    else:
        verdict = "<span class='bad'>drifted</span>" if m.drifted else "<span class='ok'>ok</span>"
    value = "-" if m.value is None else f"{m.value:.4g}"
    reference = "-" if m.reference is None else f"{m.reference:.4g}"
    row = [_e(m.method), m.components, f"{m.rows:,}", value, reference, _e(m.flags_when), verdict]
    return "<h2>All features together</h2>" + _table(
        ["method", "components", "rows", "mean error", "reference error", "flags when",
         "verdict"],
        [row], raw=True,
    )  # fmt: skip


def _estimated(report: MonitorReport) -> str:
    """Metrics estimated from the model's calibrated probabilities (CBPE), beside the realized."""
    found = report.estimated
    if found is None:
        return ""
    rows = [
        [e.metric, f"{e.value:.4g}", f"[{e.low:.4g}, {e.high:.4g}]",
         "labels pending" if e.realized is None else f"{e.realized:.4g}"]
        for e in found.estimates
    ]  # fmt: skip
    notes = [f"{found.rows:,} answers of the model; calibration: {found.calibration}"]
    notes += [found.note] if found.note else []
    return (
        "<h2>Estimated without labels (CBPE)</h2>"
        + _table(["metric", "estimate", f"{found.level:.0%} interval", "realized"], rows)
        + "".join(f"<p class='muted'>{_e(n)}</p>" for n in notes)
    )


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
        *[[f"unanswered with HTTP {code}", f"{n:,}"] for code, n in s.failed_by_status.items()],
    ]
    return _table(["figure", "value"], rows)


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
