"""``--where``: generated filters select exactly the rows a reference evaluation in Python
selects (SQL's unknown for a missing value included), and any text at all either
compiles or is refused with a QueryError naming the position."""

from __future__ import annotations

import operator
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipyard.predlog.where import (
    BOOL,
    LIST,
    NUMBER,
    TEXT,
    TIME,
    QueryError,
    compile_where,
    parse,
    referenced,
)

SCHEMA = {"n": NUMBER, "x": NUMBER, "s": TEXT, "b": BOOL, "my col": NUMBER}
KIND_OF = {"n": NUMBER, "x": NUMBER, "s": TEXT, "b": BOOL, "my col": NUMBER}
SAFE_INT = 2**53  # beyond it an int compared with a float column loses digits in any engine

ints = st.integers(-SAFE_INT, SAFE_INT)
floats = st.floats(allow_nan=False, allow_infinity=False, width=64)
texts = st.text(max_size=6)


@st.composite
def frames(draw: st.DrawFn) -> pl.DataFrame:
    size = draw(st.integers(0, 12))

    def column(values: st.SearchStrategy[Any]) -> list[Any]:
        return draw(st.lists(st.one_of(st.none(), values), min_size=size, max_size=size))

    return pl.DataFrame(
        {
            "n": pl.Series(column(ints), dtype=pl.Int64),
            "x": pl.Series(column(floats), dtype=pl.Float64),
            "s": pl.Series(column(texts), dtype=pl.String),
            "b": pl.Series(column(st.booleans()), dtype=pl.Boolean),
            "my col": pl.Series(column(st.integers(-5, 5)), dtype=pl.Int64),
        }
    )


# -- filters as a tree the test builds, renders and evaluates itself ----------------


def literal_of(kind: str) -> st.SearchStrategy[tuple[str, Any]]:
    values = {NUMBER: st.one_of(ints, floats), TEXT: texts, BOOL: st.booleans()}[kind]
    return values.map(lambda v: ("lit", v))


def operand_of(kind: str) -> st.SearchStrategy[tuple[str, Any]]:
    columns = [name for name, k in KIND_OF.items() if k == kind]
    return st.one_of(st.sampled_from(columns).map(lambda c: ("col", c)), literal_of(kind))


@st.composite
def predicates(draw: st.DrawFn) -> tuple[Any, ...]:
    kind = draw(st.sampled_from([NUMBER, TEXT, BOOL]))
    shape = draw(st.sampled_from(["compare", "in", "null", "truth"]))
    if shape == "truth":
        return ("truth", draw(operand_of(BOOL)))
    left = draw(operand_of(kind))
    if shape == "in":
        values = draw(st.lists(literal_of(kind), min_size=1, max_size=4))
        return ("in", left, tuple(values), draw(st.booleans()))
    if shape == "null":
        return ("null", left, draw(st.booleans()))
    ops = ["=", "==", "!=", "<>"] + ([] if kind == BOOL else ["<", "<=", ">", ">="])
    return ("compare", draw(st.sampled_from(ops)), left, draw(operand_of(kind)))


filters = st.recursive(
    predicates(),
    lambda inner: st.one_of(
        st.tuples(st.just("and"), inner, inner),
        st.tuples(st.just("or"), inner, inner),
        st.tuples(st.just("not"), inner),
    ),
    max_leaves=8,
)


def keyword(word: str, upper: bool) -> str:
    return word.upper() if upper else word


def render_literal(value: Any, quote: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return quote + value.replace(quote, quote * 2) + quote
    return repr(value)


def render_operand(operand: tuple[str, Any], quote: str) -> str:
    kind, value = operand
    if kind == "col":
        return f"`{value}`" if " " in value or value == "b" else value
    return render_literal(value, quote)


def render(node: tuple[Any, ...], upper: bool = False, quote: str = "'") -> str:
    tag = node[0]
    if tag in ("and", "or"):
        return f"({render(node[1], upper, quote)}) {keyword(tag, upper)} ({render(node[2], upper, quote)})"
    if tag == "not":
        return f"{keyword('not', upper)} ({render(node[1], upper, quote)})"
    if tag == "truth":
        return render_operand(node[1], quote)
    if tag == "in":
        items = ", ".join(render_operand(v, quote) for v in node[2])
        word = keyword("not in" if node[3] else "in", upper)
        return f"{render_operand(node[1], quote)} {word} ({items})"
    if tag == "null":
        word = keyword("is not null" if node[2] else "is null", upper)
        return f"{render_operand(node[1], quote)} {word}"
    return f"{render_operand(node[2], quote)} {node[1]} {render_operand(node[3], quote)}"


COMPARE = {
    "=": operator.eq, "==": operator.eq, "!=": operator.ne, "<>": operator.ne,
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}  # fmt: skip


def value_of(operand: tuple[str, Any], row: dict[str, Any]) -> Any:
    kind, value = operand
    return row[value] if kind == "col" else value


def truth(node: tuple[Any, ...], row: dict[str, Any]) -> bool | None:
    """SQL's three-valued logic: None is unknown."""
    tag = node[0]
    if tag == "and":
        a, b = truth(node[1], row), truth(node[2], row)
        return False if False in (a, b) else (None if None in (a, b) else True)
    if tag == "or":
        a, b = truth(node[1], row), truth(node[2], row)
        return True if True in (a, b) else (None if None in (a, b) else False)
    if tag == "not":
        inner = truth(node[1], row)
        return None if inner is None else not inner
    if tag == "truth":
        return value_of(node[1], row)
    if tag == "null":
        missing = value_of(node[1], row) is None
        return not missing if node[2] else missing
    if tag == "in":
        value = value_of(node[1], row)
        if value is None:
            return None
        found = any(value == v for _, v in node[2])
        return not found if node[3] else found
    a, b = value_of(node[2], row), value_of(node[3], row)
    if a is None or b is None:
        return None
    return COMPARE[node[1]](a, b)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames(), filters, st.booleans(), st.sampled_from(["'", '"']))
def test_a_generated_filter_keeps_the_rows_python_keeps(
    frame: pl.DataFrame, node: tuple[Any, ...], upper: bool, quote: str
) -> None:
    text = render(node, upper, quote)
    kept = frame.with_row_index("_i").filter(compile_where(text, SCHEMA))["_i"].to_list()
    expected = [i for i, row in enumerate(frame.iter_rows(named=True)) if truth(node, row) is True]
    assert kept == expected, text


TOKENS = [
    "n", "x", "s", "`my col`", "b", "and", "or", "not", "in", "is", "null", "true", "false",
    "(", ")", ",", "=", "==", "!=", "<>", "<", "<=", ">", ">=", "-", "1", "2.5", "1e3",
    "'a'", '"b"', "'", "`", "amount", "$", ";", "\n", "é",
]  # fmt: skip


@settings(max_examples=120, deadline=None)
@given(
    st.one_of(st.text(max_size=30), st.lists(st.sampled_from(TOKENS), max_size=12).map(" ".join))
)
def test_any_text_compiles_or_is_refused_clearly(text: str) -> None:
    frame = pl.DataFrame(
        {"n": [1, None], "x": [0.5, 2.0], "s": ["a", None], "b": [True, None], "my col": [1, 2]}
    )
    try:
        test = compile_where(text, SCHEMA)
    except QueryError as exc:
        assert "\n" not in exc.message.replace(repr(text), "")  # one line, the text as typed
        assert exc.message.startswith(("cannot read the filter", "the filter"))
        return
    frame.filter(test)  # what compiles also applies: the kinds were checked


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            "amount >",
            "at position 9: expected a column, a number, a 'text', true or false, found the end",
        ),
        ("n > 1 n", "at position 7: expected 'and', 'or' or the end of the filter, found 'n'"),
        ("(n > 1", "at position 7: expected ')' to close the '(' at position 1"),
        ("s in 'a'", "at position 6: expected '(' and a list of values after 'in'"),
        ("s = 'open", "at position 5: a text opened here is never closed with '"),
        ("n = null", "at position 5: null is compared with 'is null' or 'is not null'"),
        ("n is 3", "at position 6: expected 'null' after 'is'"),
        ("n $ 1", "at position 3: expected a column, a value, an operator or a parenthesis"),
        ("s > 3", "at position 3: cannot compare column 's' (text) with 3 (number)"),
        ("n", "expected a yes/no column or a comparison, not column 'n' (number) alone"),
        ("b < true", "expected '=' or '!=' between yes/no values"),
    ],
)
def test_mistakes_name_the_position_and_what_was_expected(text: str, says: str) -> None:
    with pytest.raises(QueryError) as raised:
        compile_where(text, {**SCHEMA, "amount": NUMBER})
    assert says in raised.value.message


def test_an_unknown_column_names_the_columns_there_are() -> None:
    with pytest.raises(QueryError) as raised:
        compile_where("amout > 1", {"amount": NUMBER, "age": NUMBER})
    assert "column 'amout' at position 1" in raised.value.message
    assert "did you mean 'amount'?" in raised.value.message
    assert raised.value.hint == "columns: amount, age"


def test_precedence_and_keywords_read_as_sql_does() -> None:
    frame = pl.DataFrame({"n": [1, 2, 3, None], "b": [True, False, None, True]})
    schema = {"n": NUMBER, "b": BOOL}

    def kept(text: str) -> list[Any]:
        return frame.filter(compile_where(text, schema))["n"].to_list()

    assert kept("n = 1 or n = 2 and b") == [1]  # and binds tighter than or
    assert kept("NOT b AND n > 1") == [2]  # not binds tighter than and
    assert kept("n not in (1, 2)") == [3]  # a missing n is unknown, not kept
    assert kept("n is null or n >= 3") == [3, None]
    assert kept("-1 < n and n <> 2") == [1, 3]
    assert referenced(parse("`n` > 1 or b")) == {"n", "b"}


def test_times_compare_with_iso_text_and_lists_not_at_all() -> None:
    from datetime import UTC, datetime

    frame = pl.DataFrame(
        {"time": [datetime(2026, 12, 3, 9, tzinfo=UTC), datetime(2026, 12, 3, 11, tzinfo=UTC)]}
    )
    test = compile_where("time >= '2026-12-03T10:00Z'", {"time": TIME})
    assert frame.filter(test).height == 1
    with pytest.raises(QueryError, match="is a list and cannot be compared"):
        compile_where("probabilities > 0.5", {"probabilities": LIST})
    with pytest.raises(QueryError, match="expected an ISO time"):
        compile_where("time > 'yesterday'", {"time": TIME})
