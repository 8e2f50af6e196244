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
