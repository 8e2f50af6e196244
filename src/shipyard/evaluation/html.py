"""The evaluation report as one self-contained HTML page, with plots drawn as inline SVG.

No plotting library and nothing fetched: ROC and precision-recall curves,
calibration, metrics per slice, the confusion matrix, and every check with its
failing cases. It opens from the artifact store in any browser.
"""

from __future__ import annotations

import html
from typing import Any

from .report import EvaluationReport

W, H, PAD = 320, 260, 40

STYLE = """
body{font:14px system-ui,sans-serif;margin:24px;color:#1d2330;max-width:1100px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.pass{color:#18794e;font-weight:600}.fail{color:#c62828;font-weight:600}
table{border-collapse:collapse;margin:6px 0}td,th{padding:4px 10px;border-bottom:1px solid #e3e6ec;text-align:left;vertical-align:top}
.plots{display:flex;flex-wrap:wrap;gap:18px}.plot{border:1px solid #e3e6ec;border-radius:6px;padding:8px}
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
    plots = _plots(report)
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


def _plots(report: EvaluationReport) -> list[str]:
    curves = report.curves
    plots = []
    if "roc" in curves:
        plots.append(
            _line_plot(
                "ROC curve",
                curves["roc"],
                "false positive rate",
                "true positive rate",
                diagonal=True,
            )
        )
    if "pr" in curves:
        plots.append(_line_plot("Precision-recall curve", curves["pr"], "recall", "precision"))
    if curves.get("calibration"):
        points = [[c["predicted"], c["observed"]] for c in curves["calibration"]]
        plots.append(
            _line_plot(
                "Calibration",
                points,
                "predicted probability",
                "observed frequency",
                diagonal=True,
                dots=True,
            )
        )
    if report.slices:
        plots.append(_bars(report.slices))
    if "confusion" in curves:
        plots.append(_confusion(curves["labels"], curves["confusion"]))
    return plots


def _frame(title: str, x_label: str, y_label: str, body: str) -> str:
    return (
        f"<div class='plot'><svg width='{W}' height='{H}' role='img' aria-label='{_e(title)}'>"
        f"<text x='{W / 2}' y='14' text-anchor='middle' font-weight='600'>{_e(title)}</text>"
        f"<rect x='{PAD}' y='20' width='{W - PAD - 10}' height='{H - PAD - 20}' fill='none' stroke='#9aa3b2'/>"
        f"<text x='{W / 2}' y='{H - 6}' text-anchor='middle' font-size='11'>{_e(x_label)}</text>"
        f"<text x='12' y='{H / 2}' text-anchor='middle' font-size='11' transform='rotate(-90 12 {H / 2})'>{_e(y_label)}</text>"
        f"{body}</svg></div>"
    )


def _xy(x: float, y: float) -> tuple[float, float]:
    return PAD + x * (W - PAD - 10), 20 + (1 - y) * (H - PAD - 20)


def _line_plot(
    title: str,
    points: list[list[float]],
    x_label: str,
    y_label: str,
    *,
    diagonal: bool = False,
    dots: bool = False,
) -> str:
    path = " ".join(
        f"{'M' if i == 0 else 'L'}{px:.1f},{py:.1f}"
        for i, (px, py) in enumerate(_xy(x, y) for x, y in points)
    )
    (x0, y0), (x1, y1) = _xy(0, 0), _xy(1, 1)
    body = (
        f"<text x='{x0}' y='{y0 + 12}' font-size='10' text-anchor='middle'>0</text>"
        f"<text x='{x1}' y='{y0 + 12}' font-size='10' text-anchor='middle'>1</text>"
        f"<text x='{x0 - 4}' y='{y1 + 4}' font-size='10' text-anchor='end'>1</text>"
    )
    if diagonal:
        body += f"<line x1='{x0}' y1='{y0}' x2='{x1}' y2='{y1}' stroke='#c7ccd6' stroke-dasharray='4 3'/>"
    body += f"<path d='{path}' fill='none' stroke='#2f6feb' stroke-width='2'/>"
    if dots:
        body += "".join(
            f"<circle cx='{px:.1f}' cy='{py:.1f}' r='3' fill='#2f6feb'/>"
            for px, py in (_xy(x, y) for x, y in points)
        )
    return _frame(title, x_label, y_label, body)


def _bars(slices: list[dict[str, Any]]) -> str:
    values = [s for s in slices if s["value"] is not None][:16]
    top = max([abs(s["value"]) for s in values] + [1e-9])
    width = (W - PAD - 20) / max(len(values), 1)
    body = ""
    for i, item in enumerate(values):
        height = (H - PAD - 40) * abs(item["value"]) / top
        x = PAD + 5 + i * width
        colour = "#18794e" if item["passed"] else "#c62828"
        body += (
            f"<rect x='{x:.1f}' y='{H - PAD - height:.1f}' width='{width * 0.8:.1f}' height='{height:.1f}' fill='{colour}'>"
            f"<title>{_e(item['column'])}={_e(item['slice'])}: {item['metric']} {item['value']:.4f} ({item['size']} rows)</title></rect>"
            f"<text x='{x + width * 0.4:.1f}' y='{H - PAD + 12}' font-size='9' text-anchor='middle'>{_e(str(item['slice'])[:8])}</text>"
        )
    metric = values[0]["metric"] if values else ""
    return _frame(f"{metric} per slice", "slice", metric, body)


def _confusion(labels: list[str], matrix: list[list[int]]) -> str:
    n = len(labels)
    top = max([v for row in matrix for v in row] + [1])
    size = (min(W, H) - PAD - 30) / max(n, 1)
    body = ""
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            shade = int(235 - 180 * value / top)
            x, y = PAD + 10 + j * size, 30 + i * size
            body += (
                f"<rect x='{x:.1f}' y='{y:.1f}' width='{size:.1f}' height='{size:.1f}' fill='rgb({shade},{shade + 10},255)'/>"
                f"<text x='{x + size / 2:.1f}' y='{y + size / 2:.1f}' text-anchor='middle' font-size='12'>{value}</text>"
            )
        body += f"<text x='{PAD + 5}' y='{30 + i * size + size / 2:.1f}' text-anchor='end' font-size='10'>{_e(labels[i])}</text>"
    for j, label in enumerate(labels):
        body += f"<text x='{PAD + 10 + j * size + size / 2:.1f}' y='{30 + n * size + 12:.1f}' text-anchor='middle' font-size='10'>{_e(label)}</text>"
    return _frame("Confusion matrix (rows: actual)", "predicted", "actual", body)


def _short(case: dict[str, Any]) -> str:
    text = ", ".join(f"{k}={v}" for k, v in case.items())
    return text if len(text) <= 160 else text[:157] + "..."


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
