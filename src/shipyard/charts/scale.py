"""Linear scales and their ticks: from a figure's units to a chart's pixels.

:func:`nice` widens a range to round numbers and picks 4-6 ticks on it (the
"nice numbers" of Heckbert's Graphics Gems algorithm), so an axis reads 0, 0.2,
… 1 or 0, 250, … 1,000, never 0.13, 0.37.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    """``lo``..``hi`` (a figure's units) onto ``start``..``end`` (pixels; ``end`` < ``start``
    for a y axis, which grows upwards)."""

    lo: float
    hi: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        span = self.hi - self.lo or 1.0
        clipped = min(max(value, self.lo), self.hi)
        return self.start + (clipped - self.lo) / span * (self.end - self.start)

    def invert(self, pixel: float) -> float:
        """The value drawn at ``pixel``."""
        return self.lo + (pixel - self.start) / ((self.end - self.start) or 1.0) * (
            self.hi - self.lo
        )


def nice(lo: float, hi: float, count: int = 5) -> tuple[float, float, list[float]]:
    """``lo``..``hi`` widened to round numbers, and the ticks on it."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi < lo:
        lo, hi = hi, lo
    if hi - lo <= 1e-9 * max(1.0, abs(lo), abs(hi)):  # one value (or too close to tell apart)
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    step = _round_step((hi - lo) / max(count - 1, 1))
    start, stop = math.floor(lo / step) * step, math.ceil(hi / step) * step
    if stop < hi:  # hi / step underflowed to 0 (a subnormal hi): one step more
        stop += step
    if start > lo:
        start -= step
    digits = max(0, 3 - math.floor(math.log10(step)))
    ticks = [round(start + i * step, digits) for i in range(round((stop - start) / step) + 1)]
    return start, stop, ticks


def extent(values: Iterable[float], *, zero: bool = False) -> tuple[float, float]:
    """The smallest and largest finite of ``values`` (with 0 when ``zero``)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if zero:
        finite.append(0.0)
    if not finite:
        return 0.0, 1.0
    return float(min(finite)), float(max(finite))


def _round_step(raw: float) -> float:
    power = 10.0 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 2.5, 5, 10):
        if raw <= multiple * power:
            return multiple * power
    return 10 * power  # pragma: no cover - the loop ends at 10
