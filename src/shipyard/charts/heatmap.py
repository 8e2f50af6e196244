"""A heat matrix: counts in a grid of cells (a confusion matrix), shaded by their row's share."""

from __future__ import annotations

from collections.abc import Sequence

from .frame import Frame, bands
from .svg import element, esc, num, px


def heat_matrix(
    title: str,
    rows: Sequence[str],
    columns: Sequence[str],
    values: Sequence[Sequence[float]],
    *,
    x_label: str,
    y_label: str,
    width: float = 360,
    description: str = "",
) -> str:
    """One ``<rect class="cell" data-row data-column data-value>`` and one ``<text
    class="cell-value">`` per cell, first row on top. A cell's shade is its share of its
    row (for a confusion matrix with actual classes as rows: the recall of each class and
    where its misses went), so a small class's errors show as clearly as a large one's."""
    x_domain, x_ticks = bands(columns)
    _, row_ticks = bands(rows)
    n = len(rows)
    cell = min(64.0, max(22.0, (width - 120) / max(len(columns), 1)))
    frame = Frame.build(
        title,
        x_label,
        y_label,
        x_domain,
        (0.0, float(max(n, 1))),
        width=max(width, 140 + cell * len(columns)),
        height=70 + cell * max(n, 1),
        x_ticks=x_ticks,
        y_ticks=[(n - at, label) for at, label in row_ticks],
    )
    x, y = frame.x, frame.y
    body = []
    for i, (row, line) in enumerate(zip(rows, values, strict=True)):
        total = sum(line) or 1
        for j, (column, value) in enumerate(zip(columns, line, strict=True)):
            share = value / total
            left, right, top, bottom = x(j), x(j + 1), y(n - i), y(n - i - 1)
            blue = (int(240 - 193 * share), int(244 - 133 * share), 255 - int(20 * share))
            body.append(
                element(
                    "rect",
                    element(
                        "title",
                        esc(
                            f"{y_label} {row}, {x_label} {column}: {num(value)} ({share:.1%} of the row)"
                        ),
                    ),
                    class_="cell",
                    data_row=row,
                    data_column=column,
                    data_value=value,
                    x=px(left),
                    y=px(top),
                    width=px(right - left - 1),
                    height=px(bottom - top - 1),
                    fill=f"rgb{blue}",
                )
            )
            body.append(
                element(
                    "text",
                    esc(num(value)),
                    class_="cell-value",
                    x=px((left + right) / 2),
                    y=px((top + bottom) / 2 + 4),
                    text_anchor="middle",
                    font_size=12,
                    fill="#fff" if share > 0.55 else "#1d2330",
                )
            )
    return frame.svg("".join(body), description=description)
