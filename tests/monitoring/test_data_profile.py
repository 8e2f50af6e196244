"""`shipyard data profile` / `project.profile`: the figures of each column, checked against
polars on random frames, and the CLI's output for ordinary, empty and all-null data."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

import shipyard
from shipyard.cli import cli
from shipyard.monitoring.data_profile import BINS, QUANTILES, TOP, profile_frame
from shipyard.project import Project

PROJECT = """\
project: profile-test
datasets:
  loans:
    target: defaulted
    columns:
      amount: {type: float, min: 0}
      age: {type: int, min: 18, max: 120}
      note: {type: string}
      country: {type: category, categories: [DE, FR, PL, US, UK]}
      applied: {type: datetime}
      defaulted: {type: bool}
"""

floats = st.floats(min_value=-1e12, max_value=1e12) | st.sampled_from(
    [math.nan, math.inf, -math.inf]
)


@st.composite
def frames(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(0, 60))
    column = st.lists  # one value per row, each maybe null

    def values(elements: st.SearchStrategy[object]) -> list[object]:
        return draw(column(st.none() | elements, min_size=n, max_size=n))

    return pl.DataFrame(
        {
            "f": pl.Series(values(floats), dtype=pl.Float64),
            "i": pl.Series(values(st.integers(-(2**40), 2**40)), dtype=pl.Int64),
            "small": pl.Series(values(st.integers(0, 5)), dtype=pl.Int32),
            "s": pl.Series(values(st.text("abcxyz", max_size=3)), dtype=pl.String),
            "b": pl.Series(values(st.booleans()), dtype=pl.Boolean),
            "t": pl.Series(
                values(
                    st.integers(0, 10**9).map(
                        lambda s: datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=s)
                    )
                ),
                dtype=pl.Datetime("us", "UTC"),
            ),
        }
    )


@settings(max_examples=40, deadline=None)
@given(frames())
def test_every_figure_matches_polars(frame: pl.DataFrame) -> None:
    profile = profile_frame(frame, "x@1")
    assert profile.rows == frame.height and [c.name for c in profile.columns] == frame.columns
    for series in frame.iter_columns():
        column = profile.column(series.name)
        assert column.rows == series.len() and column.nulls == series.null_count()
        kept = series.drop_nulls()
        if series.dtype == pl.Float64:
            assert column.invalid == int((~kept.is_finite()).sum())
            kept = kept.filter(kept.is_finite())
        else:
            assert column.invalid == 0
        assert column.distinct == kept.n_unique()
        assert column.values == kept.len()
        if series.dtype in (pl.String, pl.Boolean):
            counts = {
                str(v).lower() if isinstance(v, bool) else v: c
                for v, c in kept.value_counts().iter_rows()
            }
            assert all(counts[k] == c for k, c in column.top.items())
            assert len(column.top) == min(TOP, len(counts))
            assert sum(column.top.values()) + column.other == kept.len()
            assert sorted(column.top.values(), reverse=True) == list(column.top.values())
            assert min(column.top.values(), default=0) >= max(
                (c for k, c in counts.items() if k not in column.top), default=0
            )
            continue
        if series.dtype.is_temporal():
            kept = kept.dt.epoch("us").cast(pl.Float64) / 1e6
        if kept.len() == 0:
            assert column.min is None and column.histogram is None and column.quantiles == {}
            continue
        scale = max(abs(kept.min()), abs(kept.max()), 1.0)  # type: ignore[arg-type]
        close = {"rel": 1e-9, "abs": 1e-9 * scale}
        assert column.min == kept.min() and column.max == kept.max()
        assert column.mean == pytest.approx(kept.mean(), **close)
        for q in QUANTILES:
            assert column.quantiles[q] == pytest.approx(kept.quantile(q, "linear"), **close)
        assert column.histogram is not None
        edges, counts = column.histogram
        assert sum(counts) == kept.len() and len(edges) == len(counts) + 1
        assert len(counts) <= BINS and list(edges) == sorted(edges)
        assert edges[0] <= kept.min() and edges[-1] >= kept.max()  # type: ignore[operator]
        first = sum(1 for v in kept if edges[0] <= v <= edges[1]) if len(counts) == 1 else None
        assert first is None or counts[0] == first


def test_each_integer_of_a_narrow_column_has_its_own_bin() -> None:
    column = profile_frame(pl.DataFrame({"k": [1, 1, 2, 4, 4, 4]})).column("k")
    assert column.histogram == ((0.5, 1.5, 2.5, 3.5, 4.5), (2, 1, 0, 3))


def test_huge_floats_and_a_single_value() -> None:
    wide = profile_frame(pl.DataFrame({"x": [-1.7e308, 1.7e308, 0.0]})).column("x")
    assert wide.histogram is not None and sum(wide.histogram[1]) == 3
    assert all(math.isfinite(e) for e in wide.histogram[0])
    one = profile_frame(pl.DataFrame({"x": [2.5, 2.5]})).column("x")
    assert one.histogram == ((2.0, 3.0), (2,)) and one.distinct == 1


# -- through the project ------------------------------------------------------------------


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """loans@1: 6 rows, `note` null in every row; loans@2: every row quarantined, 0 rows."""
    folder = tmp_path_factory.mktemp("profile") / "proj"
    folder.mkdir()
    (folder / "shipyard.yaml").write_text(PROJECT)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = pl.DataFrame(
        {
            "amount": [100.0, 250.0, None, 400.0, 1000.0, 50.0],
            "age": [20, 30, 40, 30, 60, 70],
            "note": pl.Series([None] * 6, dtype=pl.String),
            "country": ["DE", "DE", "FR", "DE", None, "PL"],
            "applied": [start + timedelta(days=d) for d in range(6)],
            "defaulted": [True, False, False, False, True, False],
        }
    )
    with shipyard.open(folder) as opened:
        assert opened.ingest("loans", rows).version is not None
        bad = rows.with_columns(pl.lit(-1.0).alias("amount"))  # every row out of range
        empty = opened.ingest("loans", bad, mode="replace").version
        assert empty is not None and empty.rows == 0
        yield opened


def run(project: Project, *args: str) -> Result:
    return CliRunner().invoke(cli, ["-C", str(project.root), *args], catch_exceptions=False)


def test_profile_through_the_cli_and_the_api(project: Project) -> None:
    document = json.loads(run(project, "data", "profile", "loans@1", "--json").stdout)
    assert document["ref"] == "loans@1" and document["rows"] == 6
    columns = {c["name"]: c for c in document["columns"]}
    amount = columns["amount"]
    assert (amount["kind"], amount["declared"], amount["nulls"], amount["distinct"]) == (
        "numeric", "float", 1, 5,
    )  # fmt: skip
    assert (amount["min"], amount["max"], amount["quantiles"]["p50"]) == (50.0, 1000.0, 250.0)
    assert sum(amount["histogram"]["counts"]) == 5
    assert columns["age"]["histogram"]["counts"][0] == 1  # 20 alone in the first bin
    assert columns["country"]["top"] == {"DE": 3, "FR": 1, "PL": 1}
    assert columns["country"]["nulls"] == 1 and columns["country"]["kind"] == "categorical"
    assert columns["defaulted"]["top"] == {"false": 4, "true": 2}
    applied = columns["applied"]
    assert applied["kind"] == "datetime" and applied["min"].startswith("2026-01-01T00:00:00")
    assert applied["max"].startswith("2026-01-06")
    assert project.profile("loans@1").as_dict()["columns"] == document["columns"]
    assert project.profile("loans@1").column("amount").mean == pytest.approx(360.0)


def test_an_all_null_column_has_counts_and_no_figures(project: Project) -> None:
    note = project.profile("loans@1").column("note")
    assert (note.rows, note.nulls, note.distinct, note.top, note.other) == (6, 6, 0, {}, 0)
    assert note.null_rate == 1.0
    text = " ".join(run(project, "data", "profile", "loans@1").stdout.split())
    assert (
        "note categorical (string) nulls 6 (100.0%) distinct 0 no values: every row is null" in text
    )
    assert "amount numeric (float) nulls 1 (16.7%) distinct 5 min 50 p1" in text
    assert (
        "country categorical (category) nulls 1 (16.7%) distinct 3 DE 3 (60%), FR 1 (20%)" in text
    )


def test_a_version_with_zero_rows(project: Project) -> None:
    document = json.loads(run(project, "data", "profile", "loans@2", "--json").stdout)
    assert document["rows"] == 0
    for column in document["columns"]:
        assert (column["rows"], column["nulls"], column["distinct"], column["null_rate"]) == (
            0, 0, 0, None,
        )  # fmt: skip
    amount = document["columns"][0]
    assert amount["min"] is None and amount["histogram"] is None and amount["quantiles"] == {}
    text = run(project, "data", "profile", "loans@latest").stdout
    assert text.startswith("loans@2: 0 rows, 6 columns") and "no rows" in text


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("loans@9", "dataset 'loans' has no version '9'; it has 1, 2"),
        ("nope@1", "no dataset named 'nope'"),
        ("loans@", "loans@"),
    ],
)
def test_unknown_datasets_and_versions(project: Project, ref: str, message: str) -> None:
    result = run(project, "data", "profile", ref)
    assert result.exit_code == 2 and message in result.stderr and result.stdout == ""
    assert "Traceback" not in result.stderr


def test_the_html_page_draws_each_column(project: Project, tmp_path: Path) -> None:
    page = tmp_path / "loans.html"
    result = run(project, "data", "profile", "loans@1", "--html", str(page), "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["ref"] == "loans@1"
    document = page.read_text()
    profile = project.profile("loans@1")
    svgs = re.findall(r"<svg.*?</svg>", document, flags=re.S)
    assert len(svgs) == 5  # amount, age, applied: histograms; country, defaulted: bars
    bars = {
        name: [float(v) for v in re.findall(r"class='bar'[^>]*?data-value='([^']+)'", svg)]
        for name, svg in zip(
            ["amount", "age", "country", "applied", "defaulted"], svgs, strict=True
        )
    }
    for name in ("amount", "age", "applied"):
        histogram = profile.column(name).histogram
        assert histogram is not None and bars[name] == [float(c) for c in histogram[1]]
    assert bars["country"] == [3.0, 1.0, 1.0] and bars["defaulted"] == [4.0, 2.0]
    assert "no values: every row is null" in document and "<script" not in document
    assert "amount: histogram" in document and "country: most frequent values" in document
    empty = tmp_path / "empty.html"
    assert run(project, "data", "profile", "loans@2", "--html", str(empty)).exit_code == 0
    assert "<svg" not in empty.read_text() and empty.read_text().count("no rows") == 6


def test_html_values_are_escaped_and_a_missing_folder_writes_nothing(tmp_path: Path) -> None:
    from shipyard.monitoring import render_profile

    evil = "<img src=x onerror=alert(1)>"
    document = render_profile(profile_frame(pl.DataFrame({evil: [evil, "b"]}), "x@1"))
    assert evil not in document and "&lt;img src=x onerror=alert(1)&gt;" in document
    result = CliRunner().invoke(
        cli,
        ["-C", str(tmp_path), "data", "profile", "x@1", "--html", str(tmp_path / "no" / "p.html")],
    )
    assert (
        result.exit_code == 2
        and "the folder" in result.stderr
        and "does not exist" in result.stderr
    )
    assert not (tmp_path / "no").exists()
