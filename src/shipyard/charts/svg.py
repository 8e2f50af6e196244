"""SVG text: escaping, numbers as people read them, the palette, and one element writer.

Every string that reaches a chart goes through :func:`esc`, so a feature called
``<script>`` or ``a'b`` draws as text. Charts are well-formed XML (an SVG inside
HTML that an XML parser reads too), which the tests rely on.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

# colour-blind-safe series colours (blue, orange, green, purple, pink, teal, ochre, grey)
PALETTE = ("#2f6feb", "#e36209", "#18794e", "#8250df", "#bf3989", "#0a7ea4", "#9a6700", "#6b7385")
REFERENCE = "#9aa3b2"  # the reference side of a comparison
PASS, FAIL = "#18794e", "#c62828"
INK, MUTED, GRID = "#1d2330", "#6b7385", "#e3e6ec"
FONT = "system-ui,sans-serif"


def esc(text: object) -> str:
    """``text`` safe inside an element or a quoted attribute."""
    return html.escape(str(text), quote=True)


def num(value: float, digits: int = 4) -> str:
    """A number in at most ``digits`` significant digits, thousands separated: 12,345 · 0.0312."""
    if value is None or not math.isfinite(value):
        return "-"
    if value != 0 and abs(value) >= 10 ** (digits - 1) and float(value).is_integer():
        return f"{value:,.0f}"
    if value != 0 and abs(value) >= 1e6:
        return f"{value:,.0f}"
    text = f"{value:.{digits}g}"
    if "e" not in text and abs(value) >= 1000:
        return f"{value:,.{max(digits - len(str(int(abs(value)))), 0)}f}"
    return text


def time_format(first: float, last: float) -> Callable[[float], str]:
    """How to write the times (epoch seconds, shown in UTC) of an axis from ``first`` to
    ``last``: the clock within a day, the date and clock within a month, the date within
    a year, and the year too when the span crosses one."""
    start, end = (datetime.fromtimestamp(v, UTC) for v in (first, last))
    if start.year != end.year:
        pattern = "%Y-%m-%d"
    elif last - first < 86_400:
        pattern = "%H:%M"
    elif last - first < 30 * 86_400:
        pattern = "%m-%d %H:%M"
    else:
        pattern = "%m-%d"
    return lambda v: datetime.fromtimestamp(v, UTC).strftime(pattern)


def time_detail(value: float) -> str:
    """A time (epoch seconds) in full, for a tooltip: 2024-08-30 06:40:00 UTC."""
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def px(value: float) -> str:
    """A coordinate, to a tenth of a pixel."""
    return f"{value:.1f}"


def element(name: str, text: str = "", /, **attributes: object) -> str:
    """``<name a='…'>text</name>`` (self-closing without text); ``class_`` is ``class``,
    other underscores are dashes (``data_x`` is ``data-x``); ``None`` values are left out."""
    attrs = "".join(
        f" {key.rstrip('_').replace('_', '-')}='{esc(value)}'"
        for key, value in attributes.items()
        if value is not None
    )
    return f"<{name}{attrs}>{text}</{name}>" if text else f"<{name}{attrs}/>"


def text_width(text: str, size: float = 11) -> float:
    """About how wide ``text`` draws at ``size`` px (for margins that fit their labels)."""
    return 0.58 * size * len(text)


def series_colours(declared: Sequence[str], n: int) -> list[str]:
    """A colour for each of ``n`` series: the declared ones first, then the palette's."""
    return [declared[i] if i < len(declared) else PALETTE[i % len(PALETTE)] for i in range(n)]
