"""The period cutter: every row in exactly one calendar period (UTC), whatever its zone."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.monitoring.periods import Every, as_utc, cut

ZONES = ["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham", "Europe/Berlin"]
EVERY = st.sampled_from(["1mo", "2mo", "3mo", "12mo", "1w", "7d", "1d", "2d", "6h", "1h"])
INSTANTS = st.datetimes(
    min_value=datetime(1965, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)


LENGTH = {"mo": 31 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600}


@given(
    INSTANTS,
    st.lists(st.floats(0, 1), min_size=1, max_size=40),
    EVERY,
    st.sampled_from(ZONES),
    st.booleans(),
)
@settings(max_examples=60, deadline=None)
def test_every_row_lands_in_exactly_one_period(
    base: datetime, spread: list[float], every: str, zone: str, naive: bool
) -> None:
    """The vectorised cut agrees with the scalar one; each row's period holds it; the
    periods from the first to the last tile the span with no gap and no overlap; a row
    written in another zone (or naive, read as UTC) lands by its UTC instant."""
    period = Every.parse(every)
    reach = 900 * period.count * LENGTH[period.unit]  # under MAX_PERIODS periods
    instants = [
        (base + timedelta(seconds=round(f * reach))).replace(microsecond=base.microsecond)
        for f in spread
    ]
    local = [i.astimezone(ZoneInfo(zone)) for i in instants]
    if naive:  # a naive timestamp is read as UTC
        series = pl.Series("t", [i.replace(tzinfo=None) for i in instants])
    else:
        series = pl.Series("t", local, dtype=pl.Datetime("us", zone))
    starts = period.starts(series).to_list()
    periods = cut(min(instants), max(instants), period)
    by_start = {p.start: p for p in periods}
    for at, start in zip(instants, starts, strict=True):
        assert start == period.floor(at)
        assert start in by_start, (at, start)
        assert by_start[start].start <= at < by_start[start].end
    for a, b in itertools.pairwise(periods):
        assert a.end == b.start
    counts = pl.Series(starts).value_counts()
    assert counts.get_column("count").sum() == len(instants)


@pytest.mark.parametrize(
    ("at", "start", "end", "label"),
    [
        (datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC), datetime(2024, 2, 1), datetime(2024, 3, 1), "2024-02"),
        (datetime(2023, 2, 28, 12, tzinfo=UTC), datetime(2023, 2, 1), datetime(2023, 3, 1), "2023-02"),
        (datetime(2024, 12, 31, 23, tzinfo=UTC), datetime(2024, 12, 1), datetime(2025, 1, 1), "2024-12"),
        # 2024-03-31 23:30 in New York is 2024-04-01 03:30 UTC: April
        (datetime(2024, 3, 31, 23, 30, tzinfo=ZoneInfo("America/New_York")), datetime(2024, 4, 1), datetime(2024, 5, 1), "2024-04"),
        (datetime(1969, 12, 31, 23, tzinfo=UTC), datetime(1969, 12, 1), datetime(1970, 1, 1), "1969-12"),
    ],
)  # fmt: skip
def test_months_are_calendar_months_in_utc(
    at: datetime, start: datetime, end: datetime, label: str
) -> None:
    every = Every.parse("1mo")
    found = every.floor(at)
    assert found == start.replace(tzinfo=UTC)
    assert every.after(found) == end.replace(tzinfo=UTC)
    assert every.label(found) == label


def test_weeks_start_on_monday_and_quarters_on_the_first_month() -> None:
    assert Every.parse("7d").floor(datetime(2024, 3, 6, tzinfo=UTC)) == datetime(
        2024, 3, 4, tzinfo=UTC
    )
    assert Every.parse("1w").floor(datetime(2024, 3, 4, tzinfo=UTC)) == datetime(
        2024, 3, 4, tzinfo=UTC
    )
    q = Every.parse("3mo")
    assert q.floor(datetime(2024, 6, 30, tzinfo=UTC)) == datetime(2024, 4, 1, tzinfo=UTC)
    assert q.label(datetime(2024, 4, 1, tzinfo=UTC)) == "2024-04..2024-06"
    assert cut(datetime(2024, 1, 5, tzinfo=UTC), datetime(2024, 1, 5, tzinfo=UTC), q)[0].end == (
        datetime(2024, 4, 1, tzinfo=UTC)
    )  # fmt: skip


def test_too_many_periods_are_refused_before_any_work() -> None:
    with pytest.raises(ValueError, match=r"makes 8,785 periods; at most 1,000"):
        cut(datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC), Every.parse("1h"))


@pytest.mark.parametrize("bad", ["1m", "0mo", "mo", "1 year", "-1d", "1.5d", ""])
def test_a_bad_period_says_what_is_allowed(bad: str) -> None:
    with pytest.raises(ValueError, match=r"1mo, 3mo, 1w, 7d, 1d or 6h"):
        Every.parse(bad)


def test_text_timestamps_honour_their_offsets_and_naive_ones_are_utc() -> None:
    parsed = as_utc(
        pl.Series("t", ["2024-03-31T23:30:00-04:00", "2024-03-01T10:00:00Z", "2024-03-01 10:00:00", "2024-03-02", "yesterday"])
    ).to_list()  # fmt: skip
    assert parsed == [
        datetime(2024, 4, 1, 3, 30, tzinfo=UTC),
        datetime(2024, 3, 1, 10, tzinfo=UTC),
        datetime(2024, 3, 1, 10, tzinfo=UTC),
        datetime(2024, 3, 2, tzinfo=UTC),
        None,
    ]
    assert Every.parse("1d").after(datetime(2024, 2, 28, tzinfo=UTC)) - datetime(
        2024, 2, 28, tzinfo=UTC
    ) == timedelta(days=1)
