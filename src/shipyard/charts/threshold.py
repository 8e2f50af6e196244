"""A threshold: a dashed red line across a chart at the value where a verdict flips."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .scale import Scale
from .svg import FAIL, element, esc, num, px


@dataclass(frozen=True)
class Threshold:
    """A line at ``value`` on the ``axis`` it belongs to (``y``: a horizontal line),
    labelled ``label`` (``"threshold 0.1"`` when empty)."""

    value: float
    label: str = ""
    axis: Literal["x", "y"] = "y"

    @property
    def text(self) -> str:
        return self.label or f"threshold {num(self.value)}"


def draw(threshold: Threshold, x: Scale, y: Scale) -> str:
    """The line across the plot area (its ends are the scales' ends) with its label."""
    if threshold.axis == "y":
        at = y(threshold.value)
        line = {"x1": px(x.start), "x2": px(x.end), "y1": px(at), "y2": px(at)}
        label = element(
            "text",
            esc(threshold.text),
            class_="threshold-label",
            x=px(x.end - 3),
            y=px(at - 3),
            text_anchor="end",
            font_size=10,
            fill=FAIL,
        )
    else:
        at = x(threshold.value)
        line = {"x1": px(at), "x2": px(at), "y1": px(y.start), "y2": px(y.end)}
        right = at > (x.start + x.end) / 2  # the label on the side with room for it
        label = element(
            "text",
            esc(threshold.text),
            class_="threshold-label",
            x=px(at - 3 if right else at + 3),
            y=px(y.end - 3),
            text_anchor="end" if right else "start",
            font_size=10,
            fill=FAIL,
        )
    return (
        element(
            "line",
            class_="threshold",
            data_value=threshold.value,
            data_axis=threshold.axis,
            stroke=FAIL,
            stroke_width=1.5,
            stroke_dasharray="5 3",
            **line,
        )
        + label
    )
