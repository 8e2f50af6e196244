"""Calendar periods that cut rows by a timestamp: ``1mo``, ``3mo``, ``1w``, ``7d``, ``1d``, ``6h``.

Every period is a half-open span ``[start, end)`` in UTC. Months are calendar months
(``1mo`` starts on the 1st at 00:00 UTC; ``3mo`` on January, April, July, October the
1st); weeks and multiples of 7 days start on Mondays; other day counts on UTC midnights
counted from 1970-01-01; hours on whole UTC hours. So a row's period depends only on its
own timestamp, never on the other rows: the same row lands in the same period in every
back-fill.

A timestamp without a time zone is read as UTC; one with a zone is converted to UTC
first (a row at 2024-03-31 23:30 in New York belongs to April, UTC).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl

_EVERY = re.compile(r"^\s*(\d+)\s*(mo|w|d|h)\s*$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MONDAY = datetime(1970, 1, 5, tzinfo=UTC)  # weeks start on Mondays (ISO 8601)
_US = {"w": 7 * 86_400_000_000, "d": 86_400_000_000, "h": 3_600_000_000}
MAX_PERIODS = 1000  # periods one back-fill may cut: each becomes a stored run
HINT = "periods are written like 1mo, 3mo, 1w, 7d, 1d or 6h (months, weeks, days, hours)"


@dataclass(frozen=True)
class Every:
    """A period length: ``count`` months, weeks, days or hours (``unit``: mo, w, d, h)."""

    count: int
    unit: str

    @classmethod
    def parse(cls, text: str) -> Every:
        """``"1mo"`` → ``Every(1, "mo")``; a ``ValueError`` saying what is allowed otherwise."""
        match = _EVERY.match(text) if isinstance(text, str) else None
        if match is None or int(match.group(1)) < 1:
            raise ValueError(f"expected a period like '1mo', '7d' or '1d', got {text!r}; {HINT}")
        return cls(int(match.group(1)), match.group(2))

    def __str__(self) -> str:
        return f"{self.count}{self.unit}"

    def _step_us(self) -> int:
        return self.count * _US[self.unit]

    def _anchor(self) -> datetime:
        weekly = self.unit == "w" or (self.unit == "d" and self.count % 7 == 0)
        return _MONDAY if weekly else _EPOCH

    def floor(self, at: datetime) -> datetime:
        """The start of the period ``at`` falls in (a naive ``at`` is UTC)."""
        at = _utc(at)
        if self.unit == "mo":
            index = (at.year - 1970) * 12 + at.month - 1
            index -= index % self.count
            return datetime(1970 + index // 12, index % 12 + 1, 1, tzinfo=UTC)
        anchor = self._anchor()
        micros = (at - anchor) // timedelta(microseconds=1)
        return anchor + timedelta(microseconds=micros - micros % self._step_us())

    def after(self, start: datetime) -> datetime:
        """The end of the period that begins at ``start`` (the next one's start)."""
        if self.unit == "mo":
            index = (start.year - 1970) * 12 + start.month - 1 + self.count
            return datetime(1970 + index // 12, index % 12 + 1, 1, tzinfo=UTC)
        return start + timedelta(microseconds=self._step_us())

    def count_between(self, first: datetime, last: datetime) -> int:
        """How many periods run from the one starting at ``first`` to the one at ``last``."""
        if self.unit == "mo":
            months = (last.year - first.year) * 12 + last.month - first.month
            return months // self.count + 1
        return (last - first) // timedelta(microseconds=self._step_us()) + 1

    def label(self, start: datetime) -> str:
        """``2024-03`` (one month), ``2024-01..2024-03`` (a quarter), ``2024-03-04`` (from a
        day), ``2024-03-04 06:00`` (from an hour)."""
        if self.unit == "mo":
            first = start.strftime("%Y-%m")
            if self.count == 1:
                return first
            last = self.after(start) - timedelta(days=1)
            return f"{first}..{last.strftime('%Y-%m')}"
        if self.unit == "h":
            return start.strftime("%Y-%m-%d %H:%M")
        return start.strftime("%Y-%m-%d")

    def starts(self, times: pl.Series) -> pl.Series:
        """Each timestamp's period start (UTC), vectorised; nulls stay null."""
        utc = as_utc(times)
        if self.unit == "mo":
            index = (utc.dt.year().cast(pl.Int64) - 1970) * 12 + utc.dt.month().cast(pl.Int64) - 1
            index = index - index % self.count
            frame = pl.DataFrame({"i": index})
            return frame.select(
                pl.datetime(
                    1970 + pl.col("i") // 12,
                    pl.col("i") % 12 + 1,
                    1,
                    time_unit="us",
                    time_zone="UTC",
                )
            ).to_series()
        anchor_us = (self._anchor() - _EPOCH) // timedelta(microseconds=1)
        micros = utc.dt.epoch("us") - anchor_us
        floored = micros - micros % self._step_us() + anchor_us
        return floored.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


@dataclass(frozen=True)
class Period:
    """One span ``[start, end)`` of a back-fill, with its label (``2024-03``)."""

    start: datetime
    end: datetime
    label: str


def cut(first: datetime, last: datetime, every: Every) -> list[Period]:
    """Every period from the one holding ``first`` to the one holding ``last``, empty ones
    included, oldest first."""
    start, periods = every.floor(first), []
    stop = every.floor(last)
    count = every.count_between(start, stop)
    if count > MAX_PERIODS:
        raise ValueError(
            f"cutting {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC by {every} makes "
            f"{count:,} periods; at most {MAX_PERIODS:,} (each is kept as a run): "
            "use a longer period"
        )
    while start <= stop:
        end = every.after(start)
        periods.append(Period(start, end, every.label(start)))
        start = end
    return periods


def as_utc(times: pl.Series) -> pl.Series:
    """A datetime column in UTC (a naive one is read as UTC, an aware one converted);
    a text column of ISO 8601 timestamps is parsed first (offsets honoured)."""
    if times.dtype == pl.String:
        times = _parse(times)
    if not isinstance(times.dtype, pl.Datetime):
        raise ValueError(f"'{times.name}' holds {times.dtype}, not timestamps")
    times = times.dt.cast_time_unit("us")
    if getattr(times.dtype, "time_zone", None) is None:  # a Datetime, checked above
        return times.dt.replace_time_zone("UTC")
    return times.dt.convert_time_zone("UTC")


def _parse(text: pl.Series) -> pl.Series:
    """ISO 8601 text as UTC timestamps: with an offset converted, without one read as UTC."""
    frame = pl.DataFrame({"t": text.str.strip_chars().str.replace(r"Z$", "+00:00")})
    aware = pl.col("t").str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.f%z", strict=False, time_unit="us", time_zone="UTC"
    )
    aware_space = pl.col("t").str.to_datetime(
        "%Y-%m-%d %H:%M:%S%.f%z", strict=False, time_unit="us", time_zone="UTC"
    )
    naive = [
        pl.col("t").str.to_datetime(f, strict=False, time_unit="us").dt.replace_time_zone("UTC")
        for f in ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d")
    ]
    parsed = frame.select(pl.coalesce(aware, aware_space, *naive).alias(text.name)).to_series()
    return parsed


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
