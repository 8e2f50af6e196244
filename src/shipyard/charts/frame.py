"""The frame every chart draws in: title, plot area, axes with ticks and labels, legend.

A chart builds a :class:`Frame` from its data's ranges, draws its marks with the
frame's scales (``frame.x(value)``, ``frame.y(value)`` are pixels) and hands them
to :meth:`Frame.svg`, which wraps them in an ``<svg role="img">`` with an
``aria-label`` and a ``<title>`` (what screen readers and tooltips read). The plot
area is ``<rect class="plot-area">`` and carries its domains (``data-x-domain``,
``data-y-domain``), so a test or a browser can turn a drawn pixel back into a value.

A category axis is a linear one from 0 to the number of categories, ticked at the
middle of each band with the category's full label (rotated when they are long).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .scale import Scale, nice
from .svg import FONT, GRID, INK, MUTED, element, esc, num, px, text_width
from .threshold import Threshold, draw

Ticks = list[tuple[float, str]]


@dataclass(frozen=True)
class Legend:
    """One entry of a legend: a series' name and colour (``kind``: ``box`` or ``line``)."""

    name: str
    colour: str
    kind: str = "box"


@dataclass(frozen=True)
class Frame:
    """A chart's canvas: ``x`` and ``y`` map values to pixels inside the plot area."""

    title: str
    x_label: str
    y_label: str
    x: Scale
    y: Scale
    x_ticks: Ticks
    y_ticks: Ticks
    width: float
    height: float
    rotate_x: bool = False
    legend: Sequence[Legend] = field(default_factory=tuple)
    thresholds: Sequence[Threshold] = field(default_factory=tuple)

    @classmethod
    def build(
        cls,
        title: str,
        x_label: str,
        y_label: str,
        x_domain: tuple[float, float],
        y_domain: tuple[float, float],
        *,
        width: float = 360,
        height: float = 260,
        x_ticks: Ticks | None = None,
        y_ticks: Ticks | None = None,
        x_format: Callable[[float], str] = num,
        y_format: Callable[[float], str] = num,
        x_exact: bool = False,
        y_exact: bool = False,
        legend: Sequence[Legend] = (),
        thresholds: Sequence[Threshold] = (),
    ) -> Frame:
        """A frame over the domains, each widened to round ticks unless it is ``exact`` or
        its ticks are given; room is made for the labels, the legend and threshold labels."""
        width = max(width, text_width(title, 13) + 16)  # the title whole
        (x_lo, x_hi), x_ticks = _axis(x_domain, x_ticks, x_format, x_exact)
        (y_lo, y_hi), y_ticks = _axis(y_domain, y_ticks, y_format, y_exact)
        widest_y = max((text_width(t, 10) for _, t in y_ticks), default=0)
        widest_x = max((text_width(t, 10) for _, t in x_ticks), default=0)
        band = (width - 60) / max(len(x_ticks), 1)
        rotate = widest_x > band - 4
        left = 30 + widest_y
        bottom = 36 + (widest_x * 0.71 if rotate else 0)
        top = 26 + (16 if legend else 0) + (12 if any(t.axis == "x" for t in thresholds) else 0)
        last = x_ticks[-1][1] if x_ticks and not rotate else ""
        right = max(14.0, text_width(last, 10) / 2 + 4)
        if rotate:
            width = max(width, left + widest_x * 0.71 + 12)
        extra = bottom - 36
        return cls(
            title,
            x_label,
            y_label,
            Scale(x_lo, x_hi, left, width - right),
            Scale(y_lo, y_hi, height - 36, top),
            x_ticks,
            y_ticks,
            width,
            height + extra,
            rotate,
            tuple(legend),
            tuple(thresholds),
        )

    def svg(self, body: str, *, description: str = "") -> str:
        """The chart: its frame, ``body`` (its marks), threshold lines, as one ``<svg>``."""
        x, y = self.x, self.y
        area = element(
            "rect",
            class_="plot-area",
            x=px(x.start),
            y=px(y.end),
            width=px(x.end - x.start),
            height=px(y.start - y.end),
            fill="#fff",
            stroke="#9aa3b2",
            data_x_domain=f"{x.lo} {x.hi}",
            data_y_domain=f"{y.lo} {y.hi}",
        )
        parts = [
            element("title", esc(self.title)),
            element("desc", esc(description)) if description else "",
            element(
                "text",
                esc(self.title),
                class_="chart-title",
                x=px(self.width / 2),
                y=15,
                text_anchor="middle",
                font_weight=600,
                font_size=13,
            ),
            area,
            self._grid(),
            body,
            *[draw(t, x, y) for t in self.thresholds],
            self._axes(),
            self._legend(),
        ]
        return element(
            "svg",
            "".join(parts),
            xmlns="http://www.w3.org/2000/svg",
            class_="chart",
            width=px(self.width),
            height=px(self.height),
            viewBox=f"0 0 {px(self.width)} {px(self.height)}",
            role="img",
            aria_label=self.title,
            font_family=FONT,
            fill=INK,
        )

    def diagonal(self) -> str:
        """The dashed y = x line across the plot area (where both axes share values)."""
        x, y = self.x, self.y
        lo, hi = max(x.lo, y.lo), min(x.hi, y.hi)
        return element(
            "line",
            class_="diagonal",
            x1=px(x(lo)),
            y1=px(y(lo)),
            x2=px(x(hi)),
            y2=px(y(hi)),
            stroke=MUTED,
            stroke_dasharray="3 3",
        )

    def _grid(self) -> str:
        x, y = self.x, self.y
        return "".join(
            element("line", x1=px(x.start), x2=px(x.end), y1=px(y(v)), y2=px(y(v)), stroke=GRID)
            for v, _ in self.y_ticks
            if y.lo < v < y.hi
        )

    def _axes(self) -> str:
        x, y = self.x, self.y
        parts = []
        for v, label in self.x_ticks:
            at, base = x(v), y.start
            parts.append(
                element("line", x1=px(at), x2=px(at), y1=px(base), y2=px(base + 4), stroke=MUTED)
            )
            if self.rotate_x:
                parts.append(
                    element(
                        "text",
                        esc(label),
                        class_="x-tick",
                        x=px(at),
                        y=px(base + 12),
                        font_size=10,
                        text_anchor="end",
                        transform=f"rotate(-45 {px(at)} {px(base + 12)})",
                    )
                )
            else:
                parts.append(
                    element(
                        "text",
                        esc(label),
                        class_="x-tick",
                        x=px(at),
                        y=px(base + 15),
                        font_size=10,
                        text_anchor="middle",
                    )
                )
        for v, label in self.y_ticks:
            at = y(v)
            parts.append(
                element(
                    "line", x1=px(x.start - 4), x2=px(x.start), y1=px(at), y2=px(at), stroke=MUTED
                )
            )
            parts.append(
                element(
                    "text",
                    esc(label),
                    class_="y-tick",
                    x=px(x.start - 6),
                    y=px(at + 3.5),
                    font_size=10,
                    text_anchor="end",
                )
            )
        middle = (y.start + y.end) / 2
        parts.append(
            element(
                "text",
                esc(self.x_label),
                class_="x-label",
                x=px((x.start + x.end) / 2),
                y=px(self.height - 5),
                text_anchor="middle",
                font_size=11,
                fill=MUTED,
            )
        )
        parts.append(
            element(
                "text",
                esc(self.y_label),
                class_="y-label",
                x=12,
                y=px(middle),
                text_anchor="middle",
                font_size=11,
                fill=MUTED,
                transform=f"rotate(-90 12 {px(middle)})",
            )
        )
        return "".join(parts)

    def _legend(self) -> str:
        parts, at = [], self.x.start
        for entry in self.legend:
            mark = (
                element(
                    "line",
                    x1=px(at),
                    x2=px(at + 14),
                    y1=29,
                    y2=29,
                    stroke=entry.colour,
                    stroke_width=2,
                )
                if entry.kind == "line"
                else element("rect", x=px(at), y=24, width=10, height=10, fill=entry.colour)
            )
            parts.append(
                mark
                + element(
                    "text",
                    esc(entry.name),
                    class_="legend",
                    x=px(at + 17),
                    y=33,
                    font_size=10,
                )
            )
            at += 30 + text_width(entry.name, 10)
        return "".join(parts)


def _axis(
    domain: tuple[float, float], ticks: Ticks | None, fmt: Callable[[float], str], exact: bool
) -> tuple[tuple[float, float], Ticks]:
    if ticks is not None:
        return domain, ticks
    lo, hi, values = nice(*domain)
    if exact:
        lo, hi = domain
        values = [v for v in values if lo - 1e-12 <= v <= hi + 1e-12]
    return (lo, hi), [(v, fmt(v)) for v in values]


def bands(labels: Sequence[str]) -> tuple[tuple[float, float], Ticks]:
    """A category axis: the domain 0..n and a tick at the middle of each band."""
    return (0.0, float(max(len(labels), 1))), [(i + 0.5, str(t)) for i, t in enumerate(labels)]
