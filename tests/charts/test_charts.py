"""Each chart draws its figures: as many marks as data, each where its value says.

The SVG is parsed as XML and every mark's pixels are turned back into values
through the plot area's domains, then held against the figures drawn.
"""

from __future__ import annotations

import pytest
from chart_support import NS, Drawn, f

from shipyard.charts import (
    FAIL,
    PASS,
    Bar,
    Series,
    Threshold,
    bar_chart,
    ecdf_chart,
    hbar_chart,
    heat_matrix,
    histogram_chart,
    line_chart,
    scatter_chart,
)

TOLERANCE = 0.06  # pixels are rounded to a tenth: a value comes back within a few hundredths


def labelled(drawn: Drawn, title: str, x_label: str, y_label: str) -> None:
    root = drawn.root
    assert root.get("role") == "img" and root.get("aria-label") == title
    assert root.find(NS + "title").text == title
    assert drawn.texts("x-label") == [x_label] and drawn.texts("y-label") == [y_label]
    assert drawn.texts("x-tick") and drawn.texts("y-tick")


def test_a_line_chart_draws_each_series_through_its_points() -> None:
    roc = [(0.0, 0.0), (0.1, 0.6), (0.4, 0.9), (1.0, 1.0)]
    svg = line_chart(
        "ROC curve", [Series("model", roc, dots=True), Series("other", [(0, 0), (1, 1)])],
        x_label="false positive rate", y_label="true positive rate", x_range=(0, 1),
        y_range=(0, 1), diagonal=True,
    )  # fmt: skip
    drawn = Drawn.of(svg)
    labelled(drawn, "ROC curve", "false positive rate", "true positive rate")
    paths = drawn.marks("series", "path")
    assert [p.get("data-series") for p in paths] == ["model", "other"]
    corners = [tuple(map(float, step[1:].split(","))) for step in paths[0].get("d", "").split()]
    back = [v for a, b in corners for v in (drawn.x_value(a), drawn.y_value(b))]
    assert back == pytest.approx([v for point in roc for v in point], abs=0.01)
    dots = drawn.marks("point", "circle")
    assert len(dots) == len(roc)
    for dot, (x, y) in zip(dots, roc, strict=True):
        assert (drawn.x_value(f(dot, "cx")), drawn.y_value(f(dot, "cy"))) == pytest.approx(
            (x, y), abs=0.01
        )
    assert drawn.texts("x-tick")[0] == "0" and drawn.texts("x-tick")[-1] == "1"
    assert len(drawn.marks("diagonal")) == 1
    assert drawn.texts("legend") == ["model", "other"]


def test_a_threshold_is_a_line_at_its_value_and_widens_the_axis_to_show_it() -> None:
    svg = line_chart(
        "amount: wasserstein per run", [Series("amount", [(1, 0.01), (2, 0.02), (3, 0.03)])],
        x_label="run", y_label="Wasserstein distance (sd)", thresholds=[Threshold(0.1, "flags above 0.1")],
    )  # fmt: skip
    drawn = Drawn.of(svg)
    [line] = drawn.marks("threshold", "line")
    assert f(line, "data-value") == 0.1 and line.get("data-axis") == "y"
    assert drawn.y_value(f(line, "y1")) == pytest.approx(0.1, abs=0.005)
    assert f(line, "y1") == f(line, "y2")  # across the whole plot
    assert f(line, "x1") == f(drawn.area, "x")
    assert f(line, "x2") == pytest.approx(f(drawn.area, "x") + f(drawn.area, "width"))
    assert drawn.texts("threshold-label") == ["flags above 0.1"]
    assert max(float(t) for t in drawn.texts("y-tick")) >= 0.1


def test_a_scatter_chart_draws_one_dot_per_point_where_it_is() -> None:
    points = [(float(i), 2.0 * i + 5) for i in range(0, 300, 7)]
    svg = scatter_chart(
        "Predicted against actual", points, x_label="actual", y_label="predicted", diagonal=True,
        same_scale=True,
    )  # fmt: skip
    drawn = Drawn.of(svg)
    labelled(drawn, "Predicted against actual", "actual", "predicted")
    dots = drawn.marks("point", "circle")
    assert len(dots) == len(points)
    span = drawn.x_value(f(drawn.area, "x") + f(drawn.area, "width")) - drawn.x_value(
        f(drawn.area, "x")
    )
    for dot, (x, y) in zip(dots, points, strict=True):
        assert drawn.x_value(f(dot, "cx")) == pytest.approx(x, abs=span / 1000)
        assert drawn.y_value(f(dot, "cy")) == pytest.approx(y, abs=span / 1000)
    assert drawn.area.get("data-x-domain") == drawn.area.get("data-y-domain")  # one scale


def test_horizontal_bars_carry_whole_labels_values_intervals_and_verdicts() -> None:
    bars = [
        Bar("(12.0, 18.5]", 0.81, 0.77, 0.85, failed=False, note="412 rows"),
        Bar("a long category: <Österreich & 'Schweiz'>", 0.55, 0.41, 0.68, failed=True),
        Bar("no interval", 0.7),
    ]
    svg = hbar_chart(
        "roc_auc per slice of age", bars, x_label="roc_auc", y_label="age", x_range=(0, 1),
        thresholds=[Threshold(0.7, "min 0.7", axis="x")],
    )  # fmt: skip
    drawn = Drawn.of(svg)
    labelled(drawn, "roc_auc per slice of age", "roc_auc", "age")
    assert drawn.texts("y-tick") == [b.label for b in bars]  # whole, in order, escaped back
    rects = drawn.marks("bar", "rect")
    assert len(rects) == 3
    tops = [f(r, "y") for r in rects]
    assert tops == sorted(tops)  # the first bar on top
    for rect, bar in zip(rects, bars, strict=True):
        assert drawn.x_value(f(rect, "x")) == pytest.approx(0, abs=0.005)
        assert drawn.x_value(f(rect, "x") + f(rect, "width")) == pytest.approx(bar.value, abs=0.005)
    assert [r.get("fill") for r in rects] == [PASS, FAIL, rects[2].get("fill")]
    assert "412 rows" in "".join(rects[0].itertext())
    whiskers = drawn.marks("whisker", "line")
    assert len(whiskers) == 2
    for whisker, bar in zip(whiskers, bars, strict=False):
        ends = sorted([drawn.x_value(f(whisker, "x1")), drawn.x_value(f(whisker, "x2"))])
        assert ends == pytest.approx([bar.low, bar.high], abs=0.005)
    [line] = drawn.marks("threshold", "line")
    assert drawn.x_value(f(line, "x1")) == pytest.approx(0.7, abs=0.005)


def test_grouped_columns_are_as_tall_as_their_values() -> None:
    levels = ["DE", "PL", "FR", "a rather long level name"]
    reference, current = [0.4, 0.3, 0.2, 0.1], [0.1, 0.3, 0.4, 0.2]
    svg = bar_chart(
        "country: reference and current", levels, [("reference", reference), ("current", current)],
        x_label="country", y_label="share of rows",
    )  # fmt: skip
    drawn = Drawn.of(svg)
    labelled(drawn, "country: reference and current", "country", "share of rows")
    assert drawn.texts("x-tick") == levels
    rects = drawn.marks("bar", "rect")
    assert len(rects) == 8
    for rect, value in zip(rects, reference + current, strict=True):
        top, bottom = f(rect, "y"), f(rect, "y") + f(rect, "height")
        assert drawn.y_value(top) == pytest.approx(value, abs=0.005)
        assert drawn.y_value(bottom) == pytest.approx(0, abs=0.005)
    assert [r.get("data-series") for r in rects] == ["reference"] * 4 + ["current"] * 4


def test_a_histogram_puts_each_bin_between_its_edges() -> None:
    edges = [0.0, 0.25, 0.5, 0.75, 1.0]
    svg = histogram_chart(
        "score by actual class", edges, [("negative", [40, 30, 20, 10]), ("positive", [2, 8, 30, 60])],
        x_label="score", y_label="rows", thresholds=[Threshold(0.5, "decision 0.5", axis="x")],
    )  # fmt: skip
    drawn = Drawn.of(svg)
    labelled(drawn, "score by actual class", "score", "rows")
    rects = drawn.marks("bar", "rect")
    assert len(rects) == 8
    expected = [40, 30, 20, 10, 2, 8, 30, 60]
    for k, (rect, value) in enumerate(zip(rects, expected, strict=True)):
        lo, hi = edges[k % 4], edges[k % 4 + 1]
        assert drawn.x_value(f(rect, "x")) == pytest.approx(lo, abs=0.005)
        assert drawn.x_value(f(rect, "x") + f(rect, "width")) == pytest.approx(hi, abs=0.01)
        assert drawn.y_value(f(rect, "y")) == pytest.approx(value, abs=0.2)
    [line] = drawn.marks("threshold", "line")
    assert line.get("data-axis") == "x" and drawn.x_value(f(line, "x1")) == pytest.approx(
        0.5, abs=0.005
    )


def test_an_ecdf_climbs_from_zero_to_one() -> None:
    drawn = Drawn.of(ecdf_chart("amount", [("reference", [3, 1, 2, 4])], x_label="amount"))
    [path] = drawn.marks("series", "path")
    corners = [tuple(map(float, s[1:].split(","))) for s in path.get("d", "").split()]
    ys = [drawn.y_value(y) for _, y in corners]
    assert ys[0] == pytest.approx(0, abs=0.005) and ys[-1] == pytest.approx(1, abs=0.005)
    assert ys == sorted(ys)
    assert [drawn.x_value(x) for x, _ in corners[::2]] == pytest.approx([1, 2, 3, 4], abs=0.02)


def test_a_heat_matrix_shows_every_count_in_its_row_and_column() -> None:
    labels = ["setosa", "versicolor", "virginica"]
    matrix = [[50, 0, 0], [0, 45, 5], [0, 3, 47]]
    drawn = Drawn.of(
        heat_matrix(
            "Confusion matrix", labels, labels, matrix, x_label="predicted", y_label="actual"
        )
    )
    labelled(drawn, "Confusion matrix", "predicted", "actual")
    cells = drawn.marks("cell", "rect")
    assert [int(float(c.get("data-value", ""))) for c in cells] == [
        v for row in matrix for v in row
    ]
    assert drawn.texts("cell-value") == [str(v) for row in matrix for v in row]
    for k, cell in enumerate(cells):
        i, j = divmod(k, 3)
        assert (cell.get("data-row"), cell.get("data-column")) == (labels[i], labels[j])
        middle_x = f(cell, "x") + f(cell, "width") / 2
        middle_y = f(cell, "y") + f(cell, "height") / 2
        assert drawn.x_value(middle_x) == pytest.approx(j + 0.5, abs=0.05)
        assert drawn.y_value(middle_y) == pytest.approx(3 - i - 0.5, abs=0.05)  # first row on top
    assert drawn.texts("x-tick") == labels and drawn.texts("y-tick") == labels


@pytest.mark.parametrize(
    "chart",
    [
        lambda t: line_chart(t, [Series(t, [(0, 1), (1, 2)], dots=True)], x_label=t, y_label=t),
        lambda t: scatter_chart(t, [(0, 1)], x_label=t, y_label=t),
        lambda t: hbar_chart(t, [Bar(t, 1.0, 0.5, 1.5)], x_label=t, y_label=t),
        lambda t: bar_chart(t, [t], [(t, [1.0])], x_label=t, y_label=t),
        lambda t: histogram_chart(t, [0, 1], [(t, [1.0])], x_label=t, y_label=t),
        lambda t: heat_matrix(t, [t], [t], [[1]], x_label=t, y_label=t),
    ],
)
def test_every_text_is_escaped(chart) -> None:  # type: ignore[no-untyped-def]
    nasty = "</svg><script>alert('x')</script> & \"q\""
    svg = chart(nasty)
    assert "<script>" not in svg
    drawn = Drawn.of(svg)  # still well-formed
    assert drawn.root.get("aria-label") == nasty and drawn.root.find(NS + "title").text == nasty


def test_empty_data_still_draws_a_labelled_frame() -> None:
    for svg in (
        line_chart("nothing", [], x_label="x", y_label="y"),
        scatter_chart("nothing", [], x_label="x", y_label="y"),
        hbar_chart("nothing", [], x_label="x"),
    ):
        drawn = Drawn.of(svg)
        assert (
            drawn.texts("x-label") == ["x"] and not drawn.marks("point") and not drawn.marks("bar")
        )
