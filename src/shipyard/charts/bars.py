"""Bar charts: grouped columns per category, and horizontal bars with confidence whiskers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .frame import Frame, Legend, bands
from .scale import extent
from .svg import FAIL, INK, PALETTE, PASS, element, esc, num, px, series_colours
from .threshold import Threshold


@dataclass(frozen=True)
class Bar:
    """One horizontal bar: ``value`` with its interval ``low``..``high`` (whiskers) when
    known; ``failed`` colours it red (``True``) or green (``False``); ``note`` is added to
    its tooltip (``"412 rows"``)."""

    label: str
    value: float
    low: float | None = None
    high: float | None = None
    failed: bool | None = None
    note: str = ""


def hbar_chart(
    title: str,
    bars: Sequence[Bar],
    *,
    x_label: str,
    y_label: str = "",
    x_range: tuple[float, float] | None = None,
    thresholds: Sequence[Threshold] = (),
    width: float = 520,
    description: str = "",
) -> str:
    """One ``<rect class="bar" data-label data-value>`` per bar, first on top, each label
    whole on the y axis; whiskers are ``<line class="whisker" data-low data-high>``.
    Bars grow from 0 (or the range's start when 0 is outside it)."""
    values = [b.value for b in bars] + [v for b in bars for v in (b.low, b.high) if v is not None]
    values += [t.value for t in thresholds if t.axis == "x"]
    n = len(bars)
    _, ticks = bands([b.label for b in bars])
    frame = Frame.build(
        title,
        x_label,
        y_label,
        x_range or extent(values, zero=True),
        (0.0, float(max(n, 1))),
        width=width,
        height=54 + 24 * max(n, 1),
        y_ticks=[(n - at, label) for at, label in ticks],
        x_exact=x_range is not None,
        thresholds=thresholds,
    )
    x, y = frame.x, frame.y
    base = x(min(max(0.0, x.lo), x.hi))
    body = []
    for i, bar in enumerate(bars):
        top, bottom = y(n - i - 0.18), y(n - i - 0.82)
        end = x(bar.value)
        colour = PALETTE[0] if bar.failed is None else (FAIL if bar.failed else PASS)
        tip = f"{bar.label}: {x_label} {num(bar.value)}"
        if bar.low is not None and bar.high is not None:
            tip += f" (interval {num(bar.low)} to {num(bar.high)})"
        tip += f"; {bar.note}" if bar.note else ""
        tip += "; FAILS" if bar.failed else ""
        body.append(
            element(
                "rect",
                element("title", esc(tip)),
                class_="bar",
                data_label=bar.label,
                data_value=bar.value,
                x=px(min(base, end)),
                y=px(top),
                width=px(max(abs(end - base), 0.5)),
                height=px(bottom - top),
                fill=colour,
                fill_opacity=0.85,
            )
        )
        if bar.low is not None and bar.high is not None:
            middle = (top + bottom) / 2
            lo, hi = x(bar.low), x(bar.high)
            body.append(
                element(
                    "line",
                    class_="whisker",
                    data_label=bar.label,
                    data_low=bar.low,
                    data_high=bar.high,
                    x1=px(lo),
                    x2=px(hi),
                    y1=px(middle),
                    y2=px(middle),
                    stroke=INK,
                    stroke_width=1.2,
                )
            )
            body += [
                element(
                    "line", x1=px(at), x2=px(at), y1=px(middle - 4), y2=px(middle + 4), stroke=INK
                )
                for at in (lo, hi)
            ]
    return frame.svg("".join(body), description=description)


def bar_chart(
    title: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    x_label: str,
    y_label: str,
    colours: Sequence[str] = (),
    y_format: Callable[[float], str] = num,
    thresholds: Sequence[Threshold] = (),
    width: float = 360,
    height: float = 260,
    description: str = "",
) -> str:
    """Columns per category, one per named series side by side (``series`` is
    ``[(name, one value per category), …]``): ``<rect class="bar" data-series data-label
    data-value>``. Category labels are whole, rotated when they do not fit."""
    colour = series_colours(colours, len(series))
    domain, ticks = bands(categories)
    values = [v for _, vs in series for v in vs] + [t.value for t in thresholds if t.axis == "y"]
    frame = Frame.build(
        title,
        x_label,
        y_label,
        domain,
        extent(values, zero=True),
        width=width,
        height=height,
        x_ticks=ticks,
        y_format=y_format,
        legend=[Legend(name, c) for (name, _), c in zip(series, colour, strict=True)]
        if len(series) > 1
        else (),
        thresholds=thresholds,
    )
    x, y = frame.x, frame.y
    slot = 0.8 / max(len(series), 1)
    body = []
    for j, ((name, vs), c) in enumerate(zip(series, colour, strict=True)):
        for i, (label, value) in enumerate(zip(categories, vs, strict=True)):
            left, right = x(i + 0.1 + j * slot), x(i + 0.1 + (j + 1) * slot)
            top, base = y(max(value, 0.0)), y(min(value, 0.0))
            tip = f"{label}: {name} {y_format(value)}" if name else f"{label}: {y_format(value)}"
            body.append(
                element(
                    "rect",
                    element("title", esc(tip)),
                    class_="bar",
                    data_series=name,
                    data_label=label,
                    data_value=value,
                    x=px(left),
                    y=px(top),
                    width=px(max(right - left - 0.5, 0.5)),
                    height=px(max(base - top, 0.0)),
                    fill=c,
                )
            )
    return frame.svg("".join(body), description=description)
