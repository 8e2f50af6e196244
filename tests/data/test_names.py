"""Headers made into column names: valid, distinct, and mapped back to the header."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipyard.config import parse_config
from shipyard.data.names import is_valid_name, sanitise, to_column_names
from shipyard.errors import DataError

headers = st.lists(st.text(min_size=1, max_size=80), max_size=30, unique=True)
some_headers = st.lists(st.text(min_size=1, max_size=80), min_size=1, max_size=30, unique=True)
valid_names = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")


@given(headers)
def test_every_name_is_valid_and_distinct_headers_stay_distinct(given_headers: list[str]) -> None:
    names = sanitise(given_headers)
    assert list(names) == given_headers
    assert all(is_valid_name(n) for n in names.values())
    assert len(set(names.values())) == len(given_headers)


@given(st.lists(valid_names, max_size=20, unique=True), headers)
def test_valid_names_are_unchanged(valid: list[str], others: list[str]) -> None:
    mixed = valid + [h for h in others if h not in valid]
    names = sanitise(mixed)
    assert all(names[v] == v for v in valid)


@given(some_headers)
def test_the_mapping_round_trips_through_a_frame(given_headers: list[str]) -> None:
    names = sanitise(given_headers)
    back = {name: header for header, name in names.items()}
    assert {back[name]: name for name in back} == names  # one-to-one
    frame = pl.DataFrame({h: [i] for i, h in enumerate(given_headers)})
    renamed = frame.rename(names)
    assert renamed.rename(back).columns == given_headers
    assert renamed.row(0) == frame.row(0)


def test_scikit_learns_feature_names() -> None:
    assert sanitise(
        ["mean radius", "worst concave points", "od280/od315_of_diluted_wines",
         "sepal length (cm)", "target", "Größe", "日本", "a b", "a_b"]
    ) == {
        "mean radius": "mean_radius",
        "worst concave points": "worst_concave_points",
        "od280/od315_of_diluted_wines": "od280_od315_of_diluted_wines",
        "sepal length (cm)": "sepal_length_cm",
        "target": "target",
        "Größe": "Groe",
        "日本": "column_7",
        "a b": "a_b_2",  # 'a_b' is a header of its own, and keeps its name
        "a_b": "a_b",
    }  # fmt: skip


PROJECT = """
project: t
datasets:
  d:
    columns:
      mean_radius: {type: float, source: mean radius}
      target: {type: int}
"""


def test_the_source_header_is_renamed_and_the_name_itself_reads_too() -> None:
    dataset = parse_config(PROJECT).datasets["d"]
    frame = pl.DataFrame({"mean radius": [1.0], "target": [0]})
    assert to_column_names(frame, dataset, "f.csv").columns == ["mean_radius", "target"]
    already = pl.DataFrame({"mean_radius": [1.0], "target": [0]})
    assert to_column_names(already, dataset, "f.csv").columns == ["mean_radius", "target"]
    both = pl.DataFrame({"mean radius": [1.0], "mean_radius": [2.0], "target": [0]})
    with pytest.raises(DataError, match="has both the header 'mean radius'"):
        to_column_names(both, dataset, "f.csv")


@pytest.mark.parametrize(
    ("columns", "problem"),
    [
        ("a: {type: int, source: x}\n      b: {type: int, source: x}", "already the source of"),
        ("a: {type: int, source: b}\n      b: {type: int}", "another column's name"),
        ("a: {type: int, source: ' '}", "the source header is empty"),
    ],
)
def test_the_project_file_refuses_ambiguous_sources(columns: str, problem: str) -> None:
    from shipyard.errors import ConfigError

    text = f"project: t\ndatasets:\n  d:\n    columns:\n      {columns}\n"
    with pytest.raises(ConfigError, match=problem):
        parse_config(text)
