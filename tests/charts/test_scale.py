"""Ticks are round numbers that cover the data; numbers print as people read them."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipyard.charts import num
from shipyard.charts.scale import Scale, nice

finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False)


@given(finite, finite)
def test_nice_ticks_cover_the_range_evenly(a: float, b: float) -> None:
    lo, hi, ticks = nice(a, b)
    assert lo <= min(a, b) and hi >= max(a, b)
    assert ticks[0] == pytest.approx(lo) and ticks[-1] == pytest.approx(hi)
    assert 2 <= len(ticks) <= 12
    steps = [t1 - t0 for t0, t1 in itertools.pairwise(ticks)]
    assert all(s == pytest.approx(steps[0], rel=1e-6) for s in steps)
    mantissa = steps[0] / 10 ** math.floor(math.log10(steps[0]))
    assert round(mantissa, 6) in {1, 2, 2.5, 5, 10}


@given(finite, finite, st.floats(min_value=0, max_value=1))
def test_a_scale_inverts(lo: float, span: float, share: float) -> None:
    hi = lo + abs(span) + 1
    scale = Scale(lo, hi, 40, 340)
    value = lo + share * (hi - lo)
    assert scale.invert(scale(value)) == pytest.approx(value, rel=1e-9, abs=1e-6)


def test_ticks_of_a_unit_range_and_a_thousand() -> None:
    assert nice(0, 1)[2] == [0, 0.25, 0.5, 0.75, 1]
    assert nice(0, 950)[2] == [0, 250, 500, 750, 1000]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (0.25, "0.25"),
        (0.031234, "0.03123"),
        (12345, "12,345"),
        (1500.5, "1,500"),
        (float("nan"), "-"),
    ],
)
def test_numbers_print_as_people_read_them(value: float, text: str) -> None:
    assert num(value) == text


def test_time_ticks_say_the_year_when_the_span_crosses_one() -> None:
    from datetime import UTC, datetime

    from shipyard.charts import time_detail, time_format

    def at(*parts: int) -> float:
        return datetime(*parts, tzinfo=UTC).timestamp()

    hours = time_format(at(2026, 3, 1, 8), at(2026, 3, 1, 20))
    assert hours(at(2026, 3, 1, 9, 30)) == "09:30"
    days = time_format(at(2026, 3, 1), at(2026, 3, 9))
    assert days(at(2026, 3, 2, 6, 40)) == "03-02 06:40"
    months = time_format(at(2026, 1, 1), at(2026, 9, 1))
    assert months(at(2026, 8, 30, 6, 40)) == "08-30"
    years = time_format(at(2024, 8, 30), at(2026, 3, 31))
    assert years(at(2024, 8, 30, 6, 40)) == "2024-08-30"
    assert time_detail(at(2024, 8, 30, 6, 40)) == "2024-08-30 06:40:00 UTC"


def test_a_time_series_dot_names_its_time_in_full() -> None:
    from datetime import UTC, datetime

    from shipyard.charts import Series, line_chart, time_detail, time_format

    first = datetime(2024, 1, 31, tzinfo=UTC).timestamp()
    last = datetime(2026, 2, 1, tzinfo=UTC).timestamp()
    svg = line_chart(
        "psi per run", [Series("amount", [(first, 0.1), (last, 0.3)], dots=True)],
        x_label="end of the run's window (UTC)", y_label="psi",
        x_format=time_format(first, last), x_detail=time_detail,
    )  # fmt: skip
    assert "end of the run&#x27;s window (UTC) 2024-01-31 00:00:00 UTC, psi 0.1" in svg
    assert "1,706,659,200" not in svg
