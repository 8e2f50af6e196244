"""Request validation: every problem named by row and field; never a crash, never a wrong row through."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.config import ColumnConfig
from shipyard.serving.validation import FieldSpec, RequestError, RowValidator

FIELDS = [
    FieldSpec.from_column("amount", ColumnConfig(type="float", min=0, max=1e6, nullable=False)),
    FieldSpec.from_column("age", ColumnConfig(type="int", min=18, max=120, nullable=True)),
    FieldSpec.from_column("country", ColumnConfig(type="category", categories=["DE", "PL"])),
    FieldSpec.from_column("code", ColumnConfig(type="string", regex=r"[A-Z]{2}\d")),
    FieldSpec.from_column("vip", ColumnConfig(type="bool", nullable=False)),
    FieldSpec.from_column("seen", ColumnConfig(type="datetime")),
]
VALIDATOR = RowValidator(FIELDS)
GOOD = {
    "amount": 10.5,
    "age": 30,
    "country": "DE",
    "code": "AB1",
    "vip": True,
    "seen": "2024-05-01T10:00:00",
}


def problems(rows: list[object]) -> list[str]:
    with pytest.raises(RequestError) as caught:
        VALIDATOR.records(rows)  # type: ignore[arg-type]
    return caught.value.problems


def test_good_rows_become_arrays() -> None:
    rows = VALIDATOR.records([GOOD, {**GOOD, "age": None, "country": None}])
    assert rows.n == 2 and not rows.numeric
    assert rows.columns["amount"].dtype == np.float64
    assert math.isnan(rows.columns["age"][1])
    assert rows.columns["country"].tolist() == ["DE", None]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "amount",
            "12,5",
            'rows[0].amount: expected a number, got "12,5" (a string; send a JSON number)',
        ),
        ("amount", None, "rows[0].amount: may not be null"),
        ("amount", -1, "rows[0].amount: expected a number at least 0, got -1"),
        ("age", 30.5, "rows[0].age: expected a whole number, got 30.5"),
        ("age", 200, "rows[0].age: expected a number at most 120, got 200"),
        ("age", False, "rows[0].age: expected a number, got false"),
        ("country", "FR", 'rows[0].country: expected one of DE, PL, got "FR"'),
        ("country", 3, "rows[0].country: expected a string, got 3"),
        ("code", "abc", 'rows[0].code: expected a value matching /[A-Z]{2}\\d/, got "abc"'),
        ("vip", "yes", 'rows[0].vip: expected true or false, got "yes"'),
        ("seen", "yesterday", 'rows[0].seen: expected an ISO 8601 date-time, got "yesterday"'),
    ],
)
def test_each_kind_of_bad_value(field: str, value: object, message: str) -> None:
    assert problems([{**GOOD, field: value}]) == [message]


def test_every_problem_of_every_row_is_listed() -> None:
    found = problems([GOOD, {**GOOD, "amount": "x"}, {"age": 20}, {**GOOD, "extra": 1}])
    assert (
        "rows[3].extra: unknown field; this model takes amount, age, country, code, vip, seen"
        in found
    )
    found = problems([GOOD, {**GOOD, "amount": "x"}, {**GOOD, "age": 1.5, "vip": None}])
    assert found == [
        'rows[1].amount: expected a number, got "x" (a string; send a JSON number)',
        "rows[2].age: expected a whole number, got 1.5",
        "rows[2].age: expected a number at least 18, got 1.5",
        "rows[2].vip: may not be null",
    ]


def test_many_problems_are_capped() -> None:
    found = problems([{**GOOD, "amount": "x"}] * 500)
    assert len(found) == 51 and found[-1] == "... and 450 more"


def test_columns_and_matrix_shapes() -> None:
    numeric = RowValidator(FIELDS[:2])
    rows = numeric.columns({"amount": [1.0, 2.0], "age": [20, 30]})
    assert rows.numeric and rows.matrix().tolist() == [[1.0, 20.0], [2.0, 30.0]]
    assert numeric.matrix([[1.0, 20], [2.0, 30]]).matrix().tolist() == rows.matrix().tolist()
    with pytest.raises(RequestError) as caught:
        numeric.columns({"amount": [1.0], "age": [1, 2]})
    assert "different numbers of values" in caught.value.problems[0]
    with pytest.raises(RequestError) as caught:
        numeric.matrix([[1.0]])
    assert caught.value.problems == [
        "rows[0]: expected a list of 2 values (amount, age), got [1.0]"
    ]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)  # fmt: skip
row_values = st.fixed_dictionaries(
    {},
    optional={
        "amount": st.one_of(
            st.floats(-10, 2e6, allow_nan=False), st.integers(-5, 10**7), json_values
        ),
        "age": st.one_of(st.integers(0, 200), st.floats(0, 200, allow_nan=False), json_values),
        "country": st.sampled_from(["DE", "PL", "FR", None]) | json_values,
        "code": st.from_regex(r"[A-Z]{2}\d", fullmatch=True) | json_values,
        "vip": st.booleans() | json_values,
        "seen": st.just("2024-01-01") | json_values,
    },
)


def _row_ok(row: dict[str, object]) -> bool:
    if set(row) != {f.name for f in FIELDS}:
        return False
    a, g = row["amount"], row["age"]
    if type(a) not in (int, float) or not 0 <= a <= 1e6:  # type: ignore[operator]
        return False
    if g is not None and (type(g) not in (int, float) or not 18 <= g <= 120 or g != int(g)):  # type: ignore[operator, call-overload]
        return False
    if row["country"] not in ("DE", "PL", None):
        return False
    code = row["code"]
    if code is not None and not (isinstance(code, str) and re.fullmatch(r"[A-Z]{2}\d", code)):
        return False
    if type(row["vip"]) is not bool:
        return False
    return row["seen"] is None or row["seen"] == "2024-01-01"


@settings(max_examples=300, deadline=None)
@given(st.lists(row_values, min_size=1, max_size=6) | st.lists(json_values, min_size=1, max_size=3))
def test_any_json_is_either_all_good_rows_or_a_listed_refusal(rows: list[object]) -> None:
    valid = all(isinstance(r, dict) and _row_ok(r) for r in rows)
    try:
        result = VALIDATOR.records(rows)
    except RequestError as exc:
        assert not valid, exc.problems
        assert exc.problems and all(p.startswith("rows[") for p in exc.problems)
        return
    assert valid
    assert result.n == len(rows)
    assert result.columns["amount"].tolist() == [float(r["amount"]) for r in rows]  # type: ignore[index]
