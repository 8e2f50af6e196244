"""Charts as inline SVG, drawn on the server: no script, no stylesheet, nothing fetched.

Every chart is one function that takes its figures and labels and returns an
``<svg role="img">`` string with an ``aria-label`` and a ``<title>``, labelled axes
with round ticks, and every text escaped; marks carry their figures as ``data-*``
attributes (``class="point"``, ``"bar"``, ``"cell"``, ``"series"``, ``"whisker"``,
``"threshold"``), so tests and browsers can check what was drawn against the data.

- :func:`line_chart` — :class:`Series` of (x, y) points: curves, values over time;
  :func:`ecdf_chart` — distribution functions of samples.
- :func:`scatter_chart` — one dot per point (predicted against actual).
- :func:`bar_chart` — columns per category, series side by side;
  :func:`hbar_chart` — one horizontal :class:`Bar` per label with interval whiskers.
- :func:`histogram_chart` — values per bin, several series overlaid.
- :func:`heat_matrix` — a grid of counts shaded by row share (confusion matrix).
- :class:`Threshold` — a dashed line at the value where a verdict flips; charts
  take ``thresholds=[...]``.
"""

from __future__ import annotations

from .bars import Bar, bar_chart, hbar_chart
from .heatmap import heat_matrix
from .histogram import histogram_chart
from .line import Series, ecdf_chart, line_chart
from .scatter import scatter_chart
from .svg import FAIL, PALETTE, PASS, REFERENCE, esc, num, time_detail, time_format
from .threshold import Threshold

__all__ = [
    "FAIL",
    "PALETTE",
    "PASS",
    "REFERENCE",
    "Bar",
    "Series",
    "Threshold",
    "bar_chart",
    "ecdf_chart",
    "esc",
    "hbar_chart",
    "heat_matrix",
    "histogram_chart",
    "line_chart",
    "num",
    "scatter_chart",
    "time_detail",
    "time_format",
]
