"""Scatter charts: one dot per row (predicted against actual, residuals against predicted)."""

from __future__ import annotations

from collections.abc import Sequence

from .frame import Frame
from .scale import extent
from .svg import PALETTE, element, px
from .threshold import Threshold


def scatter_chart(
    title: str,
    points: Sequence[tuple[float, float]],
    *,
    x_label: str,
    y_label: str,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    thresholds: Sequence[Threshold] = (),
    diagonal: bool = False,
    same_scale: bool = False,
    colour: str = PALETTE[0],
    width: float = 360,
    height: float = 280,
    description: str = "",
) -> str:
    """One ``<circle class="point" data-x data-y>`` per point, half transparent so dense
    regions show; ``same_scale`` gives both axes one range (predicted against actual),
    ``diagonal`` draws y = x. Callers keep ``points`` to a few thousand (sample them)."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    ys += [t.value for t in thresholds if t.axis == "y"]
    x_domain, y_domain = x_range or extent(xs), y_range or extent(ys)
    if same_scale:
        both = (min(x_domain[0], y_domain[0]), max(x_domain[1], y_domain[1]))
        x_domain = y_domain = both
    frame = Frame.build(
        title,
        x_label,
        y_label,
        x_domain,
        y_domain,
        width=width,
        height=height,
        x_exact=x_range is not None,
        y_exact=y_range is not None,
        thresholds=thresholds,
    )
    x, y = frame.x, frame.y
    body = []
    if diagonal:
        body.append(frame.diagonal())
    body += [
        element(
            "circle",
            class_="point",
            data_x=round(a, 6),
            data_y=round(b, 6),
            cx=px(x(a)),
            cy=px(y(b)),
            r=2.5,
            fill=colour,
            fill_opacity=0.45,
        )
        for a, b in points
    ]
    return frame.svg("".join(body), description=description)
