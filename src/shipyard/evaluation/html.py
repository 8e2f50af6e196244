"""The evaluation report as one self-contained HTML page, with plots drawn as inline SVG.

No plotting library, no script and nothing fetched: every check with its failing
cases, the metrics (beside the champion's), per-class figures, the slices as a
table and a chart, and the task's plots (:mod:`.plots`). It opens from the
artifact store in any browser.
"""

from __future__ import annotations

import html
from typing import Any

from shipyard.charts import num

from .plots import slice_plots, task_plots
from .report import EvaluationReport

STYLE = """
body{font:14px system-ui,sans-serif;margin:24px;color:#1d2330;max-width:1100px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.pass{color:#18794e;font-weight:600}.fail{color:#c62828;font-weight:600}
table{border-collapse:collapse;margin:6px 0}td,th{padding:4px 10px;border-bottom:1px solid #e3e6ec;text-align:left;vertical-align:top}
.plots{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}
.plots svg{border:1px solid #e3e6ec;border-radius:6px;padding:6px}td.n{text-align:right}
.muted{color:#6b7385}code{font-size:12px}
"""


def render(report: EvaluationReport) -> str:
    """The report as HTML."""
    verdict = (
        '<span class="pass">PASSED</span>' if report.passed else '<span class="fail">FAILED</span>'
    )
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>evaluation of {_e(report.ref)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{_e(report.ref)} — {verdict}</h1>",
        f"<div class='muted'>{report.rows:,} rows of {_e(report.dataset or 'the given data')}, "
        f"{report.created_at:%Y-%m-%d %H:%M:%S} UTC</div>",
        _holdout(report),
        "<h2>Checks</h2>",
        _checks(report),
        "<h2>Metrics</h2>",
        _metrics(report),
    ]
    if report.curves.get("per_class"):
        parts += ["<h2>Per class</h2>", _per_class(report.curves["per_class"])]
    if report.slices:
        parts += [
            "<h2>Slices</h2>",
            _slices(report.slices),
            "<div class='plots'>",
            *slice_plots(report.slices),
            "</div>",
        ]
    plots = task_plots(report)
    if plots:
        parts += ["<h2>Plots</h2><div class='plots'>", *plots, "</div>"]
    parts.append("</body></html>")
    return "\n".join(parts)


def _holdout(report: EvaluationReport) -> str:
    """The rows' provenance; a warning in red when nobody kept them apart from training."""
    holdout = report.holdout
    if not holdout:
        return ""
    if holdout.get("note"):
        return (
            f"<p class='fail'>{_e(holdout['note'])}</p><p class='muted'>{_e(holdout['detail'])}</p>"
        )
    label = "holdout" if holdout.get("recorded") else "rows"  # --data rows are not a holdout
    return f"<p class='muted'>{label}: {_e(holdout['detail'])}</p>"


def _checks(report: EvaluationReport) -> str:
    rows = []
    for check in report.checks:
        mark = (
            '<span class="pass">pass</span>' if check.passed else '<span class="fail">FAIL</span>'
        )
        cases = ""
        if check.failures:
            cases = "<br>" + "<br>".join(
                f"<code>{_e(_short(case))}</code>" for case in check.failures
            )
        value = f"{check.value:.4g}" if isinstance(check.value, float) else ""
        rows.append(
            f"<tr><td>{mark}</td><td>{_e(check.name)}</td><td>{value}</td>"
            f"<td>{_e(check.expected)}</td><td>{_e(check.detail)}{cases}</td></tr>"
        )
    return (
        "<table><tr><th></th><th>check</th><th>value</th><th>needs</th><th>detail</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _metrics(report: EvaluationReport) -> str:
    theirs = (report.champion or {}).get("metrics", {})
    head = "<tr><th>metric</th><th>this version</th>"
    head += f"<th>champion {_e(report.champion['ref'])}</th></tr>" if report.champion else "</tr>"
    rows = [
        f"<tr><td>{_e(name)}</td><td>{value:.4f}</td>"
        + (f"<td>{theirs.get(name, float('nan')):.4f}</td>" if report.champion else "")
        + "</tr>"
        for name, value in report.metrics.items()
    ]
    return "<table>" + head + "".join(rows) + "</table>"


def _per_class(per_class: list[dict[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>{_e(c['label'])}</td><td class='n'>{c['precision']:.4f}</td>"
        f"<td class='n'>{c['recall']:.4f}</td><td class='n'>{c['f1']:.4f}</td>"
        f"<td class='n'>{c['support']:,}</td></tr>"
        for c in per_class
    )
    return (
        "<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th>"
        f"<th>rows</th></tr>{rows}</table>"
    )


def _slices(slices: list[dict[str, Any]]) -> str:
    """Every slice: its whole label, rows, the metric with its 95% interval, bound, verdict."""
    rows = []
    for s in slices:
        value = "not computable" if s["value"] is None else f"{s['value']:.4f}"
        low, high = s.get("low"), s.get("high")
        span = f"{low:.4f} to {high:.4f}" if low is not None and high is not None else "-"
        bound = " and ".join(
            f"{sign} {num(s[key])}" for sign, key in ((">=", "min"), ("<=", "max"))
            if s.get(key) is not None
        )  # fmt: skip
        mark = "<span class='pass'>pass</span>" if s["passed"] else "<span class='fail'>FAIL</span>"
        rows.append(
            f"<tr><td>{_e(s['column'])}</td><td>{_e(s['slice'])}</td><td class='n'>{s['size']:,}</td>"
            f"<td>{_e(s['metric'])}</td><td class='n'>{value}</td><td>{span}</td>"
            f"<td>{_e(bound or '-')}</td><td>{mark}</td></tr>"
        )
    methods = sorted({s["interval"] for s in slices if s.get("interval")})
    note = (
        f"<p class='muted'>intervals: {_e('; '.join(methods))} (Wilson for a share of rows, "
        "a bootstrap of the slice's rows for other metrics)</p>"
        if methods
        else ""
    )
    return (
        "<table><tr><th>column</th><th>slice</th><th>rows</th><th>metric</th><th>value</th>"
        "<th>95% interval</th><th>needs</th><th>verdict</th></tr>"
        + "".join(rows)
        + "</table>"
        + note
    )


def _short(case: dict[str, Any]) -> str:
    text = ", ".join(f"{k}={v}" for k, v in case.items())
    return text if len(text) <= 160 else text[:157] + "..."


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
