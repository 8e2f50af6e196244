"""Reading sources, and every way a file can fail to be a table: one clear message each."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from sample_data import GOOD, HEADER, write
from shipyard.data.sources import SqlQuery, read_path, read_source
from shipyard.errors import DataError
from shipyard.project import Project


def test_csv_is_read_as_text_with_line_numbers(tmp_path: Path) -> None:
    batch = read_path(write(tmp_path / "b.csv", HEADER + "".join(GOOD)))
    assert batch.frame.schema["age"] == pl.String
    assert batch.frame["_row"].to_list() == [2, 3, 4]
    assert batch.frame["age"].to_list() == ["34", "51", None]
    assert batch.source.kind == "csv"
    assert batch.source.sha256 and len(batch.source.sha256) == 64


def test_ragged_lines_are_kept_with_their_line(tmp_path: Path) -> None:
    text = HEADER + GOOD[0] + "2,Bob,51\n" + GOOD[2] + "4,Dan,1,0.1,DE,2026-01-01,true,extra\n"
    batch = read_path(write(tmp_path / "b.csv", text))
    assert batch.received == 4
    assert batch.frame["_row"].to_list() == [2, 4]
    assert [(r.line, r.reason) for r in batch.ragged] == [
        (3, "line 3: 3 fields, the header has 7"),
        (5, "line 5: 8 fields, the header has 7"),
    ]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "the file is empty (0 bytes)"),
        ("header.csv", HEADER.encode(), "has a header but no rows"),
        (
            "latin1.csv",
            (HEADER + "1,J\xf6rg,3,0.1,DE,2026-01-01,true\n").encode("latin-1"),
            "line 2: bytes are not valid UTF-8",
        ),
        ("dupes.csv", b"id,name,id\n1,a,2\n", "column name 'id' appears twice (columns 1 and 3)"),
        ("semi.csv", b"id;name;age\n1;a;2\n", "looks ';'-separated"),
        ("blank.csv", b"id,,age\n1,a,2\n", "line 1, column 2: the header has an empty column name"),
        (
            "really.csv",
            b"PAR1\x00\x00\x00PAR1",
            "the name says CSV, but the content is a Parquet file",
        ),
        ("zipped.csv", b"PK\x03\x04rest", "the content is a zip archive"),
        ("binary.csv", b"id,name\n\x00\x01\x02", "the content is binary"),
        ("zero.parquet", b"", "the file is empty (0 bytes), not a Parquet file"),
        ("text.parquet", HEADER.encode(), "the name says Parquet, but the content is text"),
        ("cut.parquet", b"PAR1" + b"\x00" * 20 + b"PAR1", "not a readable Parquet file"),
        ("rows.jsonl", b'{"id": 1}\n[1, 2]\n', "line 2: expected a JSON object per line"),
        ("bad.jsonl", b'{"id": 1}\n{"id": \n', "line 2: not valid JSON"),
        ("data.xlsx", b"whatever", "cannot tell the format from the extension '.xlsx'"),
    ],
)
def test_unreadable_files_name_the_file_and_the_rule(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = write(tmp_path / name, content)
    with pytest.raises(DataError) as info:
        read_path(path)
    assert message in str(info.value)
    assert str(path) in info.value.message


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        read_path(tmp_path / "nope.csv")


def test_a_truncated_parquet_file(tmp_path: Path) -> None:
    good = tmp_path / "good.parquet"
    pl.DataFrame({"id": list(range(1000))}).write_parquet(good)
    cut = write(tmp_path / "cut.parquet", good.read_bytes()[:-100] + b"PAR1")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        read_path(cut)


def test_parquet_keeps_its_types(tmp_path: Path) -> None:
    path = tmp_path / "b.parquet"
    pl.DataFrame({"id": [1, 2], "score": [0.5, 0.25]}).write_parquet(path)
    batch = read_path(path)
    assert batch.frame.schema["score"] == pl.Float64
    assert batch.frame["_row"].to_list() == [1, 2]


def test_jsonl_values_become_text(tmp_path: Path) -> None:
    path = write(tmp_path / "b.jsonl", '{"id": 1, "ok": true, "x": 1.5}\n\n{"id": 2, "y": [1]}\n')
    frame = read_path(path).frame
    assert frame.to_dicts() == [
        {"id": "1", "ok": "true", "x": "1.5", "y": None, "_row": 1},
        {"id": "2", "ok": None, "x": None, "y": "[1]", "_row": 3},
    ]


def test_tsv_and_an_explicit_delimiter(tmp_path: Path) -> None:
    assert read_path(write(tmp_path / "b.tsv", "a\tb\n1\t2\n")).frame.columns == ["a", "b", "_row"]
    batch = read_path(write(tmp_path / "b.csv", "a;b\n1;2\n"), delimiter=";")
    assert batch.frame["b"].to_list() == ["2"]


def test_frames_pandas_and_polars() -> None:
    pandas_frame = pd.DataFrame({"id": [1, 2], "name": ["a", "b"]})
    assert read_source(pandas_frame).frame["id"].to_list() == [1, 2]
    assert read_source(pl.from_pandas(pandas_frame)).source.kind == "frame"
    with pytest.raises(DataError, match="cannot ingest a list"):
        read_source([1, 2])


def test_sql_source(tmp_path: Path) -> None:
    db = tmp_path / "crm.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE people (id INTEGER, name TEXT)")
        conn.execute("INSERT INTO people VALUES (1, 'Ann'), (2, 'Bob')")
    batch = read_source(SqlQuery(f"sqlite:///{db}", "SELECT * FROM people ORDER BY id"))
    assert batch.frame.select("id", "name").rows() == [(1, "Ann"), (2, "Bob")]
    assert batch.source.kind == "sql"


def test_a_failing_sql_query(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"the query failed: .*no such table: nope"):
        read_source(SqlQuery(f"sqlite:///{tmp_path}/x.db", "SELECT * FROM nope"))


def test_sql_url_password_is_not_shown() -> None:
    with pytest.raises(DataError) as info:
        read_source(SqlQuery("postgresql://app:hunter2@127.0.0.1:1/db", "SELECT 1"))
    assert "hunter2" not in str(info.value)
    assert "app:***@" in str(info.value)


def test_every_bad_file_leaves_no_version(data_project: Project, tmp_path: Path) -> None:
    for name, content in [("e.csv", b""), ("h.csv", HEADER.encode()), ("z.parquet", b"")]:
        with pytest.raises(DataError):
            data_project.ingest("people", write(tmp_path / name, content))
    assert data_project.data.log("people") == []


def test_an_unclosed_quote_is_quarantined_with_its_line(tmp_path: Path) -> None:
    text = HEADER + GOOD[0] + '2,"Bob,51,0.2,FR,2026-01-01,true\n'
    batch = read_path(write(tmp_path / "b.csv", text))
    assert batch.received == 2
    [ragged] = batch.ragged
    assert ragged.line == 3
    assert ragged.reason == "line 3: 2 fields, the header has 7 (an unclosed quote?)"
