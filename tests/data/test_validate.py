"""Validation: each rule, the reasons it gives, and the promise that no row is lost."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sample_data import GOOD, HEADER, PROJECT, write
from shipyard.config import DatasetConfig, parse_config
from shipyard.data.sources import RawBatch, SourceInfo, read_path, read_source
from shipyard.data.validate import validate

PEOPLE = parse_config(PROJECT, environ={}).datasets["people"]


def check(rows: list[str], dataset: DatasetConfig = PEOPLE, tmp: Path | None = None):  # type: ignore[no-untyped-def]
    path = (tmp or Path("/tmp")) / f"batch-{abs(hash(tuple(rows)))}.csv"
    return validate(read_path(write(path, HEADER + "".join(rows))), dataset)


def reasons(result) -> list[list[str]]:  # type: ignore[no-untyped-def]
    return result.quarantine["_reasons"].to_list()


def test_good_rows_are_accepted_and_typed(tmp_path: Path) -> None:
    result = check(GOOD, tmp=tmp_path)
    assert result.report.quarantined == 0
    frame = result.accepted
    assert frame["age"].to_list() == [34, 51, None]
    assert frame["churned"].to_list() == [False, True, False]
    assert frame["seen_at"].to_list() == [
        datetime(2026, 1, 1, 10, tzinfo=UTC),
        datetime(2026, 1, 2, 9, tzinfo=UTC),  # +02:00 converted to UTC
        datetime(2026, 1, 3, tzinfo=UTC),
    ]
    assert frame.schema["seen_at"] == pl.Datetime("us", "UTC")


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("4,Dan,12.5,0.1,DE,2026-01-01,true\n", "age: expected a whole number, got '12.5'"),
        ("4,Dan,30,0,5,DE,2026-01-01,true\n", None),  # a ragged line: see the next test
        ("4,Dan,30,abc,DE,2026-01-01,true\n", "score: expected a number, got 'abc'"),
        ("4,Dan,30,inf,DE,2026-01-01,true\n", "score: inf is above the maximum 1"),
        ("4,Dan,30,-inf,DE,2026-01-01,true\n", "score: -inf is below the minimum 0"),
        ("4,Dan,130,0.1,DE,2026-01-01,true\n", "age: 130 is above the maximum 120"),
        ("4,Dan,-1,0.1,DE,2026-01-01,true\n", "age: -1 is below the minimum 0"),
        ("4,Dan,30,0.1,US,2026-01-01,true\n", "country: 'US' is not one of DE, FR, PL"),
        ("4,dan,30,0.1,DE,2026-01-01,true\n", "name: 'dan' does not match ^[A-Z]"),
        ("4,,30,0.1,DE,2026-01-01,true\n", "name: missing, and the column may not be empty"),
        (",Dan,30,0.1,DE,2026-01-01,true\n", "id: missing, and the column may not be empty"),
        (
            "4,Dan,30,0.1,DE,yesterday,true\n",
            "seen_at: expected a date and time (ISO 8601), got 'yesterday'",
        ),
        ("4,Dan,30,0.1,DE,2026-01-01,maybe\n", "churned: expected true or false, got 'maybe'"),
    ],
)
def test_each_rule_quarantines_with_its_reason(
    tmp_path: Path, row: str, reason: str | None
) -> None:
    result = check([*GOOD, row], tmp=tmp_path)
    assert result.report.accepted == 3
    assert result.report.quarantined == 1
    if reason is not None:
        assert reasons(result) == [[reason]]
        [quarantined] = result.quarantine.to_dicts()
        assert quarantined["_row"] == 5
        assert quarantined["_source"].endswith(".csv")
        assert quarantined["name"] == row.split(",")[1] or quarantined["name"] is None


def test_an_unbounded_float_column_refuses_infinity(tmp_path: Path) -> None:
    dataset = PEOPLE.model_copy(
        update={
            "columns": {
                **PEOPLE.columns,
                "score": PEOPLE.columns["score"].model_copy(update={"min": None, "max": None}),
            }
        }
    )
    result = check([*GOOD, "4,Dan,30,-inf,DE,2026-01-01,true\n"], dataset, tmp=tmp_path)
    assert reasons(result) == [["score: expected a finite number, got '-inf'"]]


def test_missing_markers_are_missing_values_in_typed_columns(tmp_path: Path) -> None:
    result = check([*GOOD, "4,NA,NA,NaN,DE,null,N/A\n"], tmp=tmp_path)
    assert result.report.quarantined == 0  # name is text, so 'NA' is a name here
    row = result.accepted.row(3, named=True)
    assert (row["name"], row["age"], row["score"], row["seen_at"], row["churned"]) == (
        "NA",
        None,
        None,
        None,
        None,
    )


def test_a_row_failing_several_checks_has_every_reason(tmp_path: Path) -> None:
    result = check([*GOOD, "4,dan,200,7,XX,2026-01-01,true\n"], tmp=tmp_path)
    [row_reasons] = reasons(result)
    assert sorted(row_reasons) == sorted(
        [
            "name: 'dan' does not match ^[A-Z]",
            "age: 200 is above the maximum 120",
            "score: 7.0 is above the maximum 1",
            "country: 'XX' is not one of DE, FR, PL",
        ]
    )


def test_duplicate_keys_quarantine_every_row_sharing_them(tmp_path: Path) -> None:
    result = check([*GOOD, "2,Zed,40,0.1,PL,2026-01-04,false\n"], tmp=tmp_path)
    assert result.report.accepted == 2
    assert sorted(result.quarantine["_row"].to_list()) == [3, 5]
    assert reasons(result) == [["id: 2 appears more than once in the batch"]] * 2


def test_ragged_lines_are_quarantined(tmp_path: Path) -> None:
    result = check([*GOOD, "4,Dan,30\n"], tmp=tmp_path)
    assert result.report.received == 4
    assert result.report.quarantined == 1
    [row] = result.quarantine.to_dicts()
    assert row["_row"] == 5
    assert row["_reasons"] == ["line 5: 3 fields, the header has 7: '4,Dan,30'"]


def test_safe_coercion_of_typed_sources() -> None:
    frame = pl.DataFrame(
        {
            "id": [1.0, 2.5, 3.0],  # 2.5 is not a whole number
            "name": ["Ann", "Bob", "Cem"],
            "age": [30, 40, 50],
            "score": [0.1, 0.2, 0.3],
            "country": ["DE", "FR", "PL"],
            "seen_at": [datetime(2026, 1, 1)] * 3,
            "churned": [1, 0, 2],  # 2 is not a boolean
        }
    )
    result = validate(read_source(frame), PEOPLE)
    assert result.accepted["id"].to_list() == [1]
    assert sorted(r[0] for r in reasons(result)) == [
        "churned: expected true or false, got '2'",
        "id: expected a whole number, got '2.5'",
    ]


def test_missing_and_extra_columns_are_schema_drift(tmp_path: Path) -> None:
    path = write(
        tmp_path / "b.csv",
        "id,name,age,score,country,seen_at,nickname\n1,Ann,3,0.1,DE,2026-01-01,x\n",
    )
    result = validate(read_path(path), PEOPLE)
    [drift] = [c for c in result.report.checks if c.name == "schema_drift"]
    assert not drift.passed
    assert drift.action == "reject"
    assert drift.detail == "missing column(s) churned; column(s) not in the schema: nickname"
    assert result.report.rejected_by == [drift]


def test_null_rate_and_row_count_and_freshness() -> None:
    text = PROJECT.replace(
        "      score: {type: float, min: 0, max: 1}",
        "      score: {type: float, min: 0, max: 1, max_null_fraction: 0.2}",
    ).replace(
        "    target: churned\n",
        "    target: churned\n    checks:\n      row_count: {min: 5}\n"
        "      freshness: {max_age_hours: 24, action: reject}\n",
    )
    dataset = parse_config(text, environ={}).datasets["people"]
    frame = pl.DataFrame(
        {
            "id": [1, 2],
            "name": ["Ann", "Bob"],
            "age": [1, 2],
            "score": [None, 0.5],
            "country": ["DE", "DE"],
            "seen_at": [datetime(2026, 1, 1, tzinfo=UTC)] * 2,
            "churned": [True, False],
        }
    )
    result = validate(read_source(frame), dataset, now=datetime(2026, 1, 3, tzinfo=UTC))
    failed = {c.name: c for c in result.report.rejected_by}
    assert set(failed) == {"null_rate:score", "row_count", "freshness"}
    assert failed["null_rate:score"].detail == "50.00% nulls, at most 20.00% allowed"
    assert failed["row_count"].detail == "2 rows, 5..∞ allowed"


def test_custom_checks() -> None:
    text = PROJECT.replace(
        "    target: churned\n",
        "    target: churned\n    checks:\n      custom: [{name: adult_scores, function: 'm:f'}]\n",
    )
    dataset = parse_config(text, environ={}).datasets["people"]
    frame = pl.DataFrame({"id": [1, 2], "name": ["A", "B"], "age": [10, 30], "score": [0.1, 0.2],
                          "country": ["DE", "DE"], "seen_at": ["2026-01-01"] * 2, "churned": [True, True]})  # fmt: skip
    result = validate(
        read_source(frame), dataset, custom={"adult_scores": lambda f: pl.col("age") >= 18}
    )
    assert result.accepted["id"].to_list() == [2]
    assert reasons(result) == [["custom check 'adult_scores' failed"]]


# -- nothing is lost, whatever arrives ----------------------------------------------

messy_text = st.one_of(
    st.none(),
    st.sampled_from(
        ["", " ", "NaN", "nan", "inf", "-inf", "1e400", "12,5", "true", "null", "DE", "ü", "0"]
    ),
    st.text(max_size=12),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.fixed_dictionaries(dict.fromkeys(PEOPLE.columns, messy_text)), max_size=30))
def test_every_row_is_accepted_or_quarantined(rows: list[dict[str, str | None]]) -> None:
    frame = pl.DataFrame(rows, schema=dict.fromkeys(PEOPLE.columns, pl.String))
    batch = RawBatch(frame.with_row_index("_row", offset=1).with_columns(pl.col("_row").cast(pl.Int64)),
                     SourceInfo("frame", "test", None, frame.height))  # fmt: skip
    result = validate(batch, PEOPLE)
    report = result.report
    assert report.accepted + report.quarantined == report.received == len(rows)
    assert sorted(
        [*result.accepted["_row"].to_list(), *result.quarantine["_row"].to_list()]
    ) == list(range(1, len(rows) + 1))
    # quarantined rows keep exactly what arrived, and say why
    for row in result.quarantine.iter_rows(named=True):
        assert row["_reasons"]
        original = rows[row["_row"] - 1]
        assert {c: row[c] for c in PEOPLE.columns} == original
    # accepted rows satisfy the schema
    accepted = result.accepted
    assert accepted["id"].null_count() == 0 and accepted["id"].is_unique().all()
    assert accepted["name"].null_count() == 0
    ages = accepted["age"].drop_nulls()
    assert ages.is_empty() or (ages.min() >= 0 and ages.max() <= 120)  # type: ignore[operator]
    scores = accepted["score"].drop_nulls()
    assert all(math.isfinite(s) and 0 <= s <= 1 for s in scores)
    assert set(accepted["country"].drop_nulls()) <= {"DE", "FR", "PL"}
