"""Sources: read a file, a SQL query or a frame into a table of values *as they arrived*.

Text formats (CSV, JSON lines) are read with every column as text, so a value
that does not parse is kept exactly as it was for the quarantine; typed formats
(Parquet, SQL, frames) keep their types. Reading never validates against the
schema: that is :mod:`.validate`'s job. What cannot be read as a table at all
(not UTF-8, no header, a different format than the name says, a failing query)
is a :class:`~shipyard.errors.DataError` naming the file, the line and the rule.

Every batch carries ``_row``: the line in a CSV file (when each record is one
line), otherwise the 1-based record number.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from shipyard.errors import DataError, first_line

ROW = "_row"
TEXT_FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
TYPED_FORMATS = {".parquet": "parquet", ".pq": "parquet"}
_MAGIC = {b"PAR1": "a Parquet file", b"PK\x03\x04": "a zip archive", b"\x1f\x8b": "gzip-compressed"}


@dataclass(frozen=True)
class SourceInfo:
    """Where a batch came from: kind, location, the sha256 of its bytes (files) and its rows."""

    kind: str
    uri: str
    sha256: str | None = None
    rows: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "uri": self.uri, "sha256": self.sha256, "rows": self.rows}


@dataclass(frozen=True)
class Ragged:
    """A line that could not be split into the header's columns: kept for the quarantine."""

    source: str
    line: int
    text: str
    reason: str


@dataclass(frozen=True)
class RawBatch:
    """A table as it arrived, with ``_row`` numbers, plus rows that could not even be split."""

    frame: pl.DataFrame
    source: SourceInfo
    ragged: list[Ragged] = field(default_factory=list)

    @property
    def received(self) -> int:
        return self.frame.height + len(self.ragged)


@dataclass(frozen=True)
class SqlQuery:
    """A SQL query on any SQLAlchemy URL, as a source: ``SqlQuery(url, "SELECT ...")``."""

    url: str
    query: str


@dataclass(frozen=True)
class NamedFrame:
    """A polars frame that names its own origin (e.g. rows read from the prediction log):
    its ``kind`` and ``uri`` are what the version's ``sources`` record."""

    frame: pl.DataFrame
    kind: str
    uri: str


def read_source(source: Any, *, delimiter: str | None = None) -> RawBatch:
    """Read a path, :class:`SqlQuery`, polars or pandas frame into a :class:`RawBatch`."""
    if isinstance(source, SqlQuery):
        return read_sql(source)
    if isinstance(source, NamedFrame):
        _check_names(source.uri, source.frame.columns)
        info = SourceInfo(source.kind, source.uri, None, source.frame.height)
        return _numbered(source.frame, info)
    if isinstance(source, str | os.PathLike):
        return read_path(Path(source), delimiter=delimiter)
    return read_frame(source)


def read_path(path: Path, *, delimiter: str | None = None) -> RawBatch:
    """Read a file by its extension: .csv/.tsv/.txt, .jsonl/.ndjson, .parquet/.pq."""
    suffix = path.suffix.lower()
    kind = TEXT_FORMATS.get(suffix) or TYPED_FORMATS.get(suffix)
    if kind is None:
        known = ", ".join(sorted({*TEXT_FORMATS, *TYPED_FORMATS}))
        raise DataError(
            f"{path}: cannot tell the format from the extension '{suffix or '(none)'}'",
            hint=f"use one of {known}",
        )
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    digest = hashlib.sha256(data).hexdigest()
    if kind == "parquet":
        return _read_parquet(path, data, digest)
    _refuse_binary(path, data, kind)
    text = _decode(path, data)
    if kind == "jsonl":
        return _read_jsonl(path, text, digest)
    sep = delimiter or ("\t" if suffix == ".tsv" else ",")
    return _read_csv(path, data, text, sep, digest)


def _refuse_binary(path: Path, data: bytes, kind: str) -> None:
    if not data:
        raise DataError(f"{path}: the file is empty (0 bytes); expected a header line and rows")
    for magic, what in _MAGIC.items():
        if data.startswith(magic):
            raise DataError(
                f"{path}: the name says {kind.upper()}, but the content is {what}",
                hint=f"rename it to what it is (e.g. .parquet) or export it as {kind.upper()}",
            )
    if b"\x00" in data[:65536]:
        raise DataError(f"{path}: the name says {kind.upper()}, but the content is binary")


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(
            f"{path}: line {line}: bytes are not valid UTF-8 (byte 0x{data[exc.start]:02x} "
            f"at offset {exc.start})",
            hint="save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
        ) from None


CSV_BLOCK = 1 << 24  # bytes Arrow parses at once


def _read_csv(path: Path, data: bytes, text: str, sep: str, digest: str) -> RawBatch:
    import pyarrow as pa
    from pyarrow import csv as pacsv

    header_line = text.split("\n", 1)[0].rstrip("\r")
    if not header_line.strip():
        raise DataError(f"{path}: line 1 is empty; expected a header naming the columns")
    header = next(csv.reader([header_line], delimiter=sep))
    _check_header(path, header, sep)
    invalid: list[tuple[str, int, int]] = []  # (text, fields, expected)

    def on_invalid(row: Any) -> str:
        invalid.append((row.text, row.actual_columns, row.expected_columns))
        return "skip"

    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            # Arrow's threads parse one block each, so a file of one block gains nothing from
            # them; and a process that exits just after it started them can abort in their
            # teardown ("terminate called without an active exception", exit 134).
            read_options=pacsv.ReadOptions(use_threads=len(data) > CSV_BLOCK, block_size=CSV_BLOCK),
            parse_options=pacsv.ParseOptions(
                delimiter=sep, newlines_in_values=True, invalid_row_handler=on_invalid
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                null_values=[""],  # only an empty field is null here; validation knows the rest
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise DataError(f"{path}: not a readable CSV: {first_line(exc)}") from None
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    ragged = _locate(path, data, invalid)
    if frame.height == 0 and not ragged:
        raise DataError(f"{path}: has a header but no rows: nothing to read")
    frame = frame.with_columns(_csv_lines(text, frame.height, ragged).alias(ROW))
    return RawBatch(
        frame, SourceInfo("csv", str(path.resolve()), digest, frame.height + len(ragged)), ragged
    )


def _locate(path: Path, data: bytes, invalid: list[tuple[str, int, int]]) -> list[Ragged]:
    """Find the line of each row the CSV reader could not split (it does not say which)."""
    if not invalid:
        return []
    newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    searched_from: dict[bytes, int] = {}
    found = []
    for text, fields, expected in invalid:
        needle = text.encode("utf-8")
        offset = data.find(needle, searched_from.get(needle, 0))
        searched_from[needle] = offset + 1
        line = int(np.searchsorted(newlines, offset)) + 1 if offset >= 0 else 0
        where = f"line {line}" if line else "a record"
        hint = " (an unclosed quote?)" if fields < expected and '"' in text else ""
        reason = f"{where}: {fields} fields, the header has {expected}{hint}"
        found.append(Ragged(str(path), line, text, reason))
    return sorted(found, key=lambda r: r.line)


def _csv_lines(text: str, rows: int, ragged: list[Ragged]) -> pl.Series:
    """Physical line of each parsed record, when every record is one line; else record numbers."""
    records = rows + len(ragged)
    newlines = text.count("\n") + (0 if text.endswith("\n") else 1)
    if newlines - 1 != records:  # some record spans lines: fall back to record numbers
        return pl.Series(ROW, range(1, rows + 1), dtype=pl.Int64)
    # parsed record k sits at record position q = k + #{skipped j: p_j - j <= k}
    skipped = np.sort(np.array([r.line - 2 for r in ragged], dtype=np.int64))
    parsed = np.arange(rows, dtype=np.int64)
    shift = np.searchsorted(skipped - np.arange(len(skipped)), parsed, side="right")
    return pl.Series(ROW, parsed + shift + 2, dtype=pl.Int64)


def _check_header(path: Path, header: list[str], sep: str) -> None:
    if ROW in header:
        raise DataError(f"{path}: line 1: column name '{ROW}' is reserved by shipyard; rename it")
    seen: dict[str, int] = {}
    for index, name in enumerate(header, start=1):
        if not name.strip():
            raise DataError(f"{path}: line 1, column {index}: the header has an empty column name")
        if name in seen:
            raise DataError(
                f"{path}: line 1: column name '{name}' appears twice (columns {seen[name]} and "
                f"{index}); every column needs its own name"
            )
        seen[name] = index
    if len(header) == 1:
        for other in (";", "\t", "|", ","):
            if other != sep and other in header[0]:
                shown = "\\t" if other == "\t" else other
                raise DataError(
                    f"{path}: line 1 has a single column '{header[0][:60]}', which looks "
                    f"'{shown}'-separated, not '{sep}'-separated",
                    hint=f"pass --delimiter '{shown}'",
                )


def _read_jsonl(path: Path, text: str, digest: str) -> RawBatch:
    rows: list[dict[str, Any]] = []
    numbers: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: line {number}: not valid JSON: {exc.msg}") from None
        if not isinstance(value, dict):
            raise DataError(
                f"{path}: line {number}: expected a JSON object per line, got {type(value).__name__}"
            )
        rows.append({k: _as_text(v) for k, v in value.items()})
        numbers.append(number)
    if not rows:
        raise DataError(f"{path}: has no JSON objects; nothing to ingest")
    columns = list(dict.fromkeys(key for row in rows for key in row))
    frame = pl.DataFrame(
        {name: [row.get(name) for row in rows] for name in columns},
        schema=dict.fromkeys(columns, pl.String),
    ).with_columns(pl.Series(ROW, numbers, dtype=pl.Int64))
    return RawBatch(frame, SourceInfo("jsonl", str(path.resolve()), digest, frame.height))


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, sort_keys=True)


def _read_parquet(path: Path, data: bytes, digest: str) -> RawBatch:
    if not data:
        raise DataError(f"{path}: the file is empty (0 bytes), not a Parquet file")
    if not (data.startswith(b"PAR1") and data.endswith(b"PAR1")):
        looks = "text (CSV or JSON?)" if _looks_like_text(data) else "not Parquet"
        raise DataError(
            f"{path}: the name says Parquet, but the content is {looks}: a Parquet file "
            "starts and ends with 'PAR1'",
            hint="rename it to what it is (e.g. .csv), or re-export it as Parquet",
        )
    try:
        frame = pl.read_parquet(io.BytesIO(data))
    except Exception as exc:
        raise DataError(f"{path}: not a readable Parquet file: {first_line(exc)}") from None
    _check_names(str(path), frame.columns)
    return _numbered(frame, SourceInfo("parquet", str(path.resolve()), digest, frame.height))


def _looks_like_text(data: bytes) -> bool:
    try:
        data[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def read_sql(source: SqlQuery) -> RawBatch:
    """Run ``source.query`` on ``source.url`` (any SQLAlchemy URL; ``${VAR}`` expanded)."""
    import sqlalchemy as sa

    from shipyard.config import expand_env
    from shipyard.storage.urls import psycopg_url, redact

    shown = redact(source.url)
    url = psycopg_url(expand_env(source.url, where="the SQL source URL"))
    try:
        engine = sa.create_engine(url)
    except Exception as exc:
        raise DataError(
            f"SQL source {shown}: not a usable database URL: {first_line(exc)}"
        ) from None
    try:
        with engine.connect() as conn:
            frame = pl.read_database(sa.text(source.query), conn, infer_schema_length=None)
    except Exception as exc:
        raise DataError(
            f"SQL source {shown}: the query failed: {first_line(getattr(exc, 'orig', None) or exc)}",
            hint="run the query in your SQL client to see what is wrong",
        ) from None
    finally:
        engine.dispose()
    _check_names(f"SQL source {shown}", frame.columns)
    info = SourceInfo("sql", f"{shown} :: {source.query}", None, frame.height)
    return _numbered(frame, info)


def read_frame(frame: Any) -> RawBatch:
    """A polars or pandas DataFrame as a batch."""
    if isinstance(frame, pl.DataFrame):
        table = frame
    elif type(frame).__module__.startswith("pandas") and hasattr(frame, "columns"):
        names = [str(c) for c in frame.columns]
        _check_names("the pandas frame", names)
        try:
            table = pl.from_pandas(frame.set_axis(names, axis=1).reset_index(drop=True))
        except Exception as exc:
            raise DataError(f"the pandas frame cannot be converted: {first_line(exc)}") from None
    else:
        raise DataError(
            f"cannot ingest a {type(frame).__name__}: expected a file path, a SqlQuery, "
            "or a polars or pandas DataFrame"
        )
    return _numbered(
        table, SourceInfo("frame", f"{type(frame).__module__}.DataFrame", None, table.height)
    )


def _numbered(frame: pl.DataFrame, info: SourceInfo) -> RawBatch:
    if ROW in frame.columns:
        raise DataError(f"{info.uri}: column name '{ROW}' is reserved by shipyard; rename it")
    return RawBatch(frame.with_columns(row_numbers(frame)), info)


def row_numbers(frame: pl.DataFrame) -> pl.Series:
    """``_row`` (1-based), chunked like the frame's columns so polars need not realign them."""
    lengths = frame.to_series(0).chunk_lengths() if frame.width else [frame.height]
    start, parts = 1, []
    for length in lengths:
        parts.append(pl.Series(ROW, np.arange(start, start + length, dtype=np.int64)))
        start += length
    if len(parts) == 1:
        return parts[0]
    return pl.concat(parts, rechunk=False)


def _check_names(where: str, names: list[str]) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise DataError(f"{where}: column name '{name}' appears twice")
        seen.add(name)


SOURCE = "_source"


def combine(batches: list[RawBatch]) -> RawBatch:
    """Several batches as one: every column as text, and ``_source`` naming each row's origin."""
    if len(batches) == 1:
        return batches[0]
    frames = [
        b.frame.select(
            *(pl.col(c).cast(pl.String, strict=False) for c in b.frame.columns if c != ROW),
            pl.col(ROW),
            pl.lit(b.source.uri).alias(SOURCE),
        )
        for b in batches
    ]
    frame = pl.concat(frames, how="diagonal")
    info = SourceInfo(
        "batch", "; ".join(b.source.uri for b in batches), None, sum(b.received for b in batches)
    )
    return RawBatch(frame, info, [r for b in batches for r in b.ragged])
