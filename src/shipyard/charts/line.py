"""Line charts: curves (ROC, precision-recall, calibration) and series over time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .frame import Frame, Legend
from .scale import extent
from .svg import PALETTE, element, esc, num, px
from .threshold import Threshold


@dataclass(frozen=True)
class Series:
    """A named line through ``points`` (x, y), drawn in ``colour`` (the palette's next when
    empty), with a dot at each point when ``dots`` (each dot's tooltip gives its values)."""

    name: str
    points: Sequence[tuple[float, float]]
    colour: str = ""
    dots: bool = False


def line_chart(
    title: str,
    series: Sequence[Series],
    *,
    x_label: str,
    y_label: str,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    thresholds: Sequence[Threshold] = (),
    diagonal: bool = False,
    x_format: Callable[[float], str] = num,
    x_detail: Callable[[float], str] = num,
    x_ticks: Sequence[float] | None = None,
    width: float = 360,
    height: float = 260,
    description: str = "",
) -> str:
    """One ``<path class="series">`` per series (``data-series`` is its name), dots as
    ``<circle class="point" data-x data-y>``; ``diagonal`` draws y = x (a chance ROC
    curve, perfect calibration). Ranges default to the data's (and the thresholds');
    ``x_ticks`` puts the x ticks at these values (the runs of a series over time);
    ``x_format`` writes an x tick, ``x_detail`` a dot's x in its tooltip (times in full:
    :func:`~.svg.time_format` and :func:`~.svg.time_detail`)."""
    xs = [x for s in series for x, _ in s.points]
    ys = [y for s in series for _, y in s.points]
    ys += [t.value for t in thresholds if t.axis == "y"]
    xs += [t.value for t in thresholds if t.axis == "x"]
    colours = [s.colour or PALETTE[i % len(PALETTE)] for i, s in enumerate(series)]
    frame = Frame.build(
        title,
        x_label,
        y_label,
        x_range or extent(xs),
        y_range or extent(ys),
        width=width,
        height=height,
        x_format=x_format,
        x_ticks=[(v, x_format(v)) for v in x_ticks] if x_ticks is not None else None,
        x_exact=x_range is not None,
        y_exact=y_range is not None,
        thresholds=thresholds,
        legend=[Legend(s.name, c, "line") for s, c in zip(series, colours, strict=True)]
        if len(series) > 1
        else (),
    )
    x, y = frame.x, frame.y
    body = []
    if diagonal:
        body.append(frame.diagonal())
    for s, colour in zip(series, colours, strict=True):
        if s.points:
            path = " ".join(
                f"{'M' if i == 0 else 'L'}{px(x(a))},{px(y(b))}"
                for i, (a, b) in enumerate(s.points)
            )
            body.append(
                element(
                    "path",
                    class_="series",
                    data_series=s.name,
                    d=path,
                    fill="none",
                    stroke=colour,
                    stroke_width=2,
                )
            )
        if s.dots:
            body += [
                element(
                    "circle",
                    element("title", esc(f"{s.name}: {x_label} {x_detail(a)}, {y_label} {num(b)}")),
                    class_="point",
                    data_series=s.name,
                    data_x=a,
                    data_y=b,
                    cx=px(x(a)),
                    cy=px(y(b)),
                    r=3.5,
                    fill=colour,
                )
                for a, b in s.points
            ]
    return frame.svg("".join(body), description=description)


def ecdf_chart(
    title: str,
    samples: Sequence[tuple[str, Sequence[float]]],
    *,
    x_label: str,
    colours: Sequence[str] = (),
    width: float = 360,
    height: float = 260,
) -> str:
    """The empirical distribution function of each named sample, as a step line."""
    series = []
    for i, (name, values) in enumerate(samples):
        ordered = sorted(values)
        n = len(ordered)
        points: list[tuple[float, float]] = []
        for k, v in enumerate(ordered):
            points += [(v, k / n), (v, (k + 1) / n)]
        colour = colours[i] if i < len(colours) else ""
        series.append(Series(name, points, colour))
    return line_chart(
        title,
        series,
        x_label=x_label,
        y_label="share of rows at or below",
        y_range=(0.0, 1.0),
        width=width,
        height=height,
    )
