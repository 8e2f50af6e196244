"""A dataset version's profile as one self-contained HTML page (Great Expectations' Data
Docs, for one version): an overview table, then per column its figures beside a
histogram (numbers, times) or bars of its most frequent values, drawn by
:mod:`shipyard.charts` as inline SVG. Nothing is fetched; every value is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import UTC, datetime

from shipyard.charts import bar_chart, histogram_chart

from .data_profile import ColumnSummary, DatasetProfile

STYLE = """
body{font:14px system-ui,sans-serif;margin:24px;color:#1d2330;max-width:1180px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.bad{color:#c62828;font-weight:600}.muted{color:#6b7385}
table{border-collapse:collapse;margin:6px 0}td,th{padding:4px 10px;border-bottom:1px solid #e3e6ec;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.column{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start;border:1px solid #e3e6ec;border-radius:6px;padding:10px;margin:10px 0}
"""


def render_profile(profile: DatasetProfile) -> str:
    """The page for ``profile``."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>profile of {_e(profile.ref)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{_e(profile.ref)}</h1>",
        f"<div class='muted'>{profile.rows:,} rows, {len(profile.columns)} columns; profiled "
        f"{profile.created_at:%Y-%m-%d %H:%M:%S} UTC</div>",
        "<h2>Columns</h2>",
        _overview(profile),
    ]
    for column in profile.columns:
        parts.append(_column(column))
    parts.append("</body></html>")
    return "".join(parts)


def _overview(profile: DatasetProfile) -> str:
    head = ("column", "type", "declared", "nulls", "null %", "distinct", "min", "median", "max")
    rows = []
    for c in profile.columns:
        show = _show(c)
        rate = "-" if c.null_rate is None else f"{c.null_rate:.1%}"
        null_class = " bad" if c.rows and c.nulls == c.rows else ""
        rows.append(
            f"<tr><td><a href='#{_anchor(c.name)}'>{_e(c.name)}</a></td><td>{_e(c.kind)}</td>"
            f"<td>{_e(c.declared or c.dtype)}</td><td class='n{null_class}'>{c.nulls:,}</td>"
            f"<td class='n{null_class}'>{rate}</td><td class='n'>{c.distinct:,}</td>"
            f"<td class='n'>{_e(show(c.min))}</td>"
            f"<td class='n'>{_e(show(c.quantiles.get(0.5)))}</td>"
            f"<td class='n'>{_e(show(c.max))}</td></tr>"
        )
    header = "".join(f"<th{' class=n' if i > 2 else ''}>{h}</th>" for i, h in enumerate(head))
    return f"<table><tr>{header}</tr>{''.join(rows)}</table>"


def _column(c: ColumnSummary) -> str:
    figures = [("rows", f"{c.rows:,}"), ("nulls", f"{c.nulls:,}"), ("distinct", f"{c.distinct:,}")]
    if c.invalid:
        figures.append(("NaN / infinite", f"{c.invalid:,}"))
    chart = ""
    if c.kind in ("numeric", "datetime") and c.histogram is not None:
        show = _show(c)
        figures += [("min", show(c.min)), ("mean", show(c.mean))]
        figures += [(f"p{q * 100:g}", show(v)) for q, v in c.quantiles.items()]
        figures += [("max", show(c.max))]
        if c.kind == "numeric":
            figures.insert(-1, ("standard deviation", show(c.sd)))
        chart = _histogram(c)
    elif c.top:
        shown = c.values or 1
        figures += [(_e(k), f"{n:,} ({n / shown:.1%})") for k, n in c.top.items()]
        if c.other:
            figures.append(("other values", f"{c.other:,} ({c.other / shown:.1%})"))
        chart = _bars(c)
    note = ""
    if c.rows == 0:
        note = "<p class='muted'>no rows</p>"
    elif c.values == 0:
        note = "<p class='bad'>no values: every row is null</p>"
    table = "".join(f"<tr><th>{_e(k)}</th><td class='n'>{_e(v)}</td></tr>" for k, v in figures)
    return (
        f"<section class='column' id='{_anchor(c.name)}'><div><h2>{_e(c.name)}</h2>"
        f"<div class='muted'>{_e(c.kind)}, {_e(c.declared or c.dtype)}</div>{note}"
        f"<table>{table}</table></div>{chart}</section>"
    )


def _histogram(c: ColumnSummary) -> str:
    assert c.histogram is not None
    edges, counts = c.histogram
    if c.kind == "datetime":  # the chart's axis reads numbers: bins named by when they start
        fmt = "%Y-%m-%d" if edges[-1] - edges[0] > 3 * 86400 else "%m-%d %H:%M"
        labels = [f"{datetime.fromtimestamp(e, UTC):{fmt}}" for e in edges[:-1]]
        return bar_chart(
            f"{c.name}: rows per interval",
            labels,
            [("rows", [float(n) for n in counts])],
            x_label=f"{c.name} (bin start, UTC)",
            y_label="rows",
            width=520,
        )
    return histogram_chart(
        f"{c.name}: histogram",
        list(edges),
        [("", [float(n) for n in counts])],
        x_label=c.name,
        y_label="rows",
        width=520,
    )


def _bars(c: ColumnSummary) -> str:
    labels = list(c.top) + (["(other values)"] if c.other else [])
    counts = [float(n) for n in c.top.values()] + ([float(c.other)] if c.other else [])
    return bar_chart(
        f"{c.name}: most frequent values",
        labels,
        [("rows", counts)],
        x_label=c.name,
        y_label="rows",
        width=520,
    )


def _show(c: ColumnSummary) -> Callable[[float | None], str]:
    """How ``c``'s values read: numbers, or times for a datetime column."""
    return _time if c.kind == "datetime" else _num


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _time(value: float | None) -> str:
    return "-" if value is None else f"{datetime.fromtimestamp(value, UTC):%Y-%m-%d %H:%M:%S}"


def _anchor(name: str) -> str:
    return "col-" + "".join(ch if ch.isalnum() else f"-{ord(ch):x}-" for ch in name)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)
