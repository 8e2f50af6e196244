"""Histograms: counts or shares per bin, several distributions overlaid on one axis."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .frame import Frame, Legend
from .scale import extent
from .svg import element, esc, num, px, series_colours
from .threshold import Threshold


def histogram_chart(
    title: str,
    edges: Sequence[float],
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
    """Bins ``edges[i]``..``edges[i + 1]`` with one value per bin for each named series,
    drawn half transparent over each other: ``<rect class="bar" data-series data-lo
    data-hi data-value>``. Bins of equal or unequal width alike (heights are the values)."""
    colour = series_colours(colours, len(series))
    values = [v for _, vs in series for v in vs] + [t.value for t in thresholds if t.axis == "y"]
    xs = [*edges, *(t.value for t in thresholds if t.axis == "x")]
    frame = Frame.build(
        title,
        x_label,
        y_label,
        extent(xs),
        extent(values, zero=True),
        width=width,
        height=height,
        y_format=y_format,
        legend=[Legend(name, c) for (name, _), c in zip(series, colour, strict=True)]
        if len(series) > 1
        else (),
        thresholds=thresholds,
    )
    x, y = frame.x, frame.y
    body = []
    opacity = 0.85 if len(series) == 1 else 0.5
    for (name, vs), c in zip(series, colour, strict=True):
        for lo, hi, value in zip(edges[:-1], edges[1:], vs, strict=True):
            top, base = y(value), y(0.0)
            tip = f"{name + ': ' if name else ''}{num(lo)} to {num(hi)}: {y_format(value)}"
            body.append(
                element(
                    "rect",
                    element("title", esc(tip)),
                    class_="bar",
                    data_series=name,
                    data_lo=lo,
                    data_hi=hi,
                    data_value=value,
                    x=px(x(lo)),
                    y=px(top),
                    width=px(max(x(hi) - x(lo) - 0.5, 0.5)),
                    height=px(max(base - top, 0.0)),
                    fill=c,
                    fill_opacity=opacity,
                )
            )
    return frame.svg("".join(body), description=description)
