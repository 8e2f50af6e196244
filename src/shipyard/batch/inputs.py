"""The rows to score, read in chunks: Parquet, CSV or JSON-lines files, or a dataset version.

Never the whole input in memory: Parquet is read batch by batch
(``ParquetFile.iter_batches``), CSV and JSON lines block by block through Arrow's
streaming readers, and chunks are cut to ``chunk_rows`` rows. CSV values are read as
text (validation coerces them, as ingest does); Parquet keeps its types, so a column of
the wrong type is said before anything is scored (:func:`check_columns`).

A dataset version scored on Ray from an S3 artifact store is not copied here: its input
names the object in the store (:class:`StoredObject`), and whoever reads it (the driver
its footer, each Ray actor its row groups) opens it there with its own credentials.
"""

from __future__ import annotations

import contextlib
import csv
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from shipyard.errors import DataError

from .records import ScoreInputError
from .scorer import Scorer

PARQUET, CSV, JSONL = "parquet", "csv", "jsonl"
FORMATS = {
    ".parquet": PARQUET,
    ".pq": PARQUET,
    ".csv": CSV,
    ".tsv": CSV,
    ".txt": CSV,
    ".jsonl": JSONL,
    ".ndjson": JSONL,
}
CHUNK_ROWS = 100_000
MALFORMED = "_malformed"
"""A CSV input's column saying why a row could not be read (a line with too many or too
few fields), null for the others; :func:`~.chunk.score_chunk` quarantines those rows."""
_BLOCK = 16 << 20  # bytes a text reader takes at a time
_PARQUET_BUFFER = 1 << 20  # bytes a Parquet reader takes at a time


@dataclass(frozen=True)
class StoredObject:
    """A Parquet object in an S3 artifact store, named so that any machine can open it
    itself: its ``s3://`` URL and, as JSON (it travels as text to the Ray actors), the
    store's fsspec options that are not secret (its endpoint). Never a credential: the
    reader takes its own from its environment. Read in place, it is not checked against
    the hash in its key as a download is (that would read it whole)."""

    url: str
    options: str = "{}"

    @contextlib.contextmanager
    def opened(self) -> Iterator[Any]:
        """The object as a binary file, read in ranges as asked (no read-ahead cache)."""
        import fsspec

        options = json.loads(self.options)
        filesystem = fsspec.filesystem(
            "s3", skip_instance_cache=True, use_listings_cache=False, **options
        )
        with filesystem.open(self.url, "rb", block_size=_PARQUET_BUFFER, cache_type="none") as f:
            yield f


@dataclass(frozen=True)
class InputFile:
    """One file to score, with its format (from its extension); ``stored``: the object in
    the artifact store it is read from instead (``path`` is then only its name, not read).
    ``id_column``: the run's ``--id`` column, whose type a CSV reader infers (an int id
    stays an int in the answers) where it reads every other column as text."""

    path: Path
    format: str
    stored: StoredObject | None = None
    id_column: str | None = None

    @property
    def where(self) -> str:
        """The file as said to the user: its path, or its object's URL."""
        return self.stored.url if self.stored is not None else str(self.path)

    @classmethod
    def of(cls, path: Path) -> InputFile:
        kind = FORMATS.get(path.suffix.lower())
        if kind is None:
            known = ", ".join(sorted(FORMATS))
            raise DataError(
                f"{path}: cannot tell the format from the extension '{path.suffix or '(none)'}'",
                hint=f"use one of {known}",
            )
        if not path.is_file():
            raise DataError(f"{path}: no such file", hint="name a Parquet, CSV or JSON-lines file")
        return cls(path, kind)

    def columns(self) -> dict[str, pa.DataType | None]:
        """The file's columns and, for Parquet, their types (``None``: text to coerce)."""
        try:
            if self.format == PARQUET:
                with parquet(self.stored or self.path) as file:
                    return {f.name: f.type for f in file.schema_arrow}
            if self.format == CSV:
                with self.path.open(newline="", encoding="utf-8-sig") as handle:
                    header = next(csv.reader(handle, delimiter=self._delimiter), [])
                return dict.fromkeys(header)
            first = next(self._json_batches(), None)
            return {} if first is None else {f.name: f.type for f in first.schema}
        except (OSError, pa.ArrowException, UnicodeDecodeError, StopIteration) as exc:
            raise _unread(self.where, self.format, exc) from None

    @property
    def _delimiter(self) -> str:
        return "\t" if self.path.suffix.lower() == ".tsv" else ","

    def batches(self, chunk_rows: int) -> Iterator[pa.RecordBatch]:
        """The file's rows, a batch at a time (at most ``chunk_rows`` rows for Parquet)."""
        try:
            if self.format == PARQUET:
                with parquet(self.stored or self.path) as file:
                    yield from file.iter_batches(batch_size=chunk_rows)
            elif self.format == CSV:
                yield from self._csv_batches()
            else:
                yield from self._json_batches()
        except pa.ArrowException as exc:
            raise _unread(self.where, self.format, exc) from None

    def _csv_batches(self) -> Iterator[pa.RecordBatch]:
        """The CSV rows, with a ``_malformed`` column: null, or for a line Arrow cannot
        split into the header's fields a row of nulls in its place saying why (so every
        row keeps its position in the file, and the run's row numbers name its rows)."""
        import pyarrow.csv as pcsv

        names = [n for n in self.columns() if n != self.id_column]
        bad: dict[int, str] = {}  # data row (1-based) -> why it was not read

        def refused(row: Any) -> str:
            text = row.text if len(row.text) <= 80 else row.text[:77] + "..."
            bad[row.number - 1] = (  # Arrow counts the header as row 1
                f"a malformed line: {row.actual_columns} fields where the header has "
                f"{row.expected_columns} ('{text}')"
            )
            return "skip"

        reader = pcsv.open_csv(
            self.path,
            # one thread: the handler is then told each line's number
            read_options=pcsv.ReadOptions(block_size=_BLOCK, use_threads=False),
            parse_options=pcsv.ParseOptions(delimiter=self._delimiter, invalid_row_handler=refused),
            convert_options=pcsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True
            ),
        )
        schema = reader.schema.append(pa.field(MALFORMED, pa.string()))
        done = 0  # rows given so far, the malformed ones' places included
        for batch in reader:
            good = batch.append_column(MALFORMED, pa.nulls(batch.num_rows, pa.string()))
            taken = 0
            while taken < good.num_rows or done + 1 in bad:
                if done + 1 in bad:
                    yield pa.RecordBatch.from_pylist([{MALFORMED: bad.pop(done + 1)}], schema)
                    done += 1
                    continue
                upto = min((b for b in bad if b > done), default=done + good.num_rows + 1)
                take = min(good.num_rows - taken, upto - done - 1)
                yield good.slice(taken, take)
                taken += take
                done += take
        for number in sorted(bad):  # the last lines, after every good one
            yield pa.RecordBatch.from_pylist([{MALFORMED: bad[number]}], schema)

    def _json_batches(self) -> Iterator[pa.RecordBatch]:
        import pyarrow.json as pjson

        done = 0  # rows given so far: Arrow counts a bad row from 0 within its block
        try:
            for batch in pjson.open_json(
                self.path, read_options=pjson.ReadOptions(block_size=_BLOCK)
            ):
                done += batch.num_rows
                yield batch
        except pa.ArrowInvalid as exc:
            found = _JSON_ROW.search(str(exc))
            if found is None:
                raise
            line = _line_of(self.path, done + int(found[1]))
            raise pa.ArrowInvalid(_JSON_ROW.sub(f" on line {line}", str(exc), count=1)) from None


def _line_of(path: Path, row: int) -> int:
    """The 1-based line of the file holding JSON row ``row`` (0-based; blank lines hold none)."""
    with path.open("rb") as lines:
        seen = -1
        for number, text in enumerate(lines, start=1):
            if text.strip():
                seen += 1
                if seen == row:
                    return number
    return row + 1  # not found (the file changed): the row's own count, from 1


_JSON_ROW = re.compile(r"\.? in row (\d+)")  # Arrow's JSON parse error's row, from 0
_JSON_TYPES = re.compile(r"Column\(/(.+?)\) changed from (\w+) to (\w+)")


def _unread(where: str, kind: str, exc: Exception) -> DataError:
    """What Arrow could not read, in one line; a JSON column of two types named with the
    fix (Arrow reads a column as one type: ``"15.2"`` in a column of numbers is refused)."""
    found = _JSON_TYPES.search(str(exc)) if kind == JSONL else None
    if found is None:
        return DataError(f"{where}: cannot read it as {kind}: {exc}")
    column, first, then = found.groups()
    return DataError(
        f"{where}: cannot read it as {kind}: the column '{column}' holds a {first} and "
        f"then a {then} (Arrow reads each JSON column as one type); nothing was scored",
        hint=f"write every '{column}' value as one JSON type (a number unquoted: 15.2, not "
        '"15.2"), or score the rows as CSV, whose values are checked as text',
    )


def open_parquet(source: str | Path | Any) -> Any:
    """``source`` (a path or a binary file) as a ``pyarrow.parquet.ParquetFile`` read in
    bounded memory: without ``pre_buffer`` (Arrow's read cache keeps every row group read
    so far until the file is closed: 10 M rows held ~1.5 GB) and through a 1 MB read
    buffer."""
    import pyarrow.parquet as pq

    return pq.ParquetFile(source, pre_buffer=False, buffer_size=_PARQUET_BUFFER)


@contextlib.contextmanager
def parquet(source: Path | StoredObject) -> Iterator[Any]:
    """The Parquet file at ``source``, a path or an object in the store, opened by
    :func:`open_parquet` (for an object: only the footer and the row groups read)."""
    if isinstance(source, Path):
        with open_parquet(source) as file:
            yield file
        return
    with source.opened() as handle, open_parquet(handle) as file:
        yield file


def chunks(files: Sequence[InputFile], chunk_rows: int) -> Iterator[pa.Table]:
    """Every file's rows in order, cut into tables of ``chunk_rows`` rows (the last fewer)."""
    pending: list[pa.RecordBatch] = []
    held = 0
    for file in files:
        for batch in file.batches(chunk_rows):
            while batch.num_rows:
                take = min(batch.num_rows, chunk_rows - held)
                pending.append(batch.slice(0, take))
                held += take
                batch = batch.slice(take)
                if held == chunk_rows:
                    yield _table(pending)
                    pending, held = [], 0
        if pending:  # a chunk never spans two files: their columns may differ in type
            yield _table(pending)
            pending, held = [], 0


def _table(batches: list[pa.RecordBatch]) -> pa.Table:
    return pa.Table.from_batches(batches).combine_chunks()


_COMPATIBLE = {
    "int": (pa.types.is_integer, pa.types.is_floating, pa.types.is_decimal, pa.types.is_null),
    "float": (pa.types.is_integer, pa.types.is_floating, pa.types.is_decimal, pa.types.is_null),
    "bool": (pa.types.is_boolean, pa.types.is_null),
    "string": (pa.types.is_string, pa.types.is_large_string, pa.types.is_dictionary,
               pa.types.is_string_view, pa.types.is_null),
    "category": (pa.types.is_string, pa.types.is_large_string, pa.types.is_dictionary,
                 pa.types.is_string_view, pa.types.is_null),
    "datetime": (pa.types.is_timestamp, pa.types.is_date, pa.types.is_string,
                 pa.types.is_large_string, pa.types.is_null),
}  # fmt: skip


def named(
    where: str, columns: dict[str, pa.DataType | None], scorer: Scorer
) -> dict[str, pa.DataType | None]:
    """``columns`` with each feature's ``source`` header renamed to the feature's name, as
    ingest reads a batch (:func:`shipyard.data.to_column_names`; an input with both the
    header and the name is refused there as ambiguous)."""
    import polars as pl

    from shipyard.data import to_column_names

    empty = pl.DataFrame(schema=dict.fromkeys(columns, pl.String))
    renamed = to_column_names(empty, scorer.dataset, where).columns
    return dict(zip(renamed, columns.values(), strict=True))


def check_columns(
    where: str, columns: dict[str, pa.DataType | None], scorer: Scorer, model: str
) -> None:
    """Refuse input whose columns do not fit the model: one line naming every missing
    feature (by its header, when the dataset reads it from another one, as ingest says
    it) and every feature stored as a type the model cannot take. ``columns`` are the
    input's as :func:`named` renamed them."""
    missing = [_with_header(f, scorer.column(f).source) for f in scorer.features
               if f not in columns]  # fmt: skip
    mistyped = []
    for name in scorer.features:
        kind = columns.get(name)
        if kind is None:
            continue
        wanted = scorer.column(name).type
        if not any(test(kind) for test in _COMPATIBLE.get(wanted, ())):
            mistyped.append(f"{name} ({kind}, the model takes {wanted})")
    if not missing and not mistyped:
        return
    said = []
    if missing:
        said.append(f"missing {', '.join(missing)}")
    if mistyped:
        said.append(f"mistyped {', '.join(mistyped)}")
    raise ScoreInputError(
        f"{where}: the columns do not fit {model}: {'; '.join(said)}; nothing was scored",
        hint=f"the model takes {', '.join(scorer.features)}",
    )


def _with_header(name: str, source: str | None) -> str:
    """A feature as the input must bring it: by its header, when that is not its name."""
    return f"{name} (header '{source}')" if source and source != name else name


def check_id(where: str, columns: dict[str, pa.DataType | None], id_column: str | None) -> None:
    """Refuse an ``--id`` the input has no column for (exit 2: the option is wrong, the
    rows were not judged), naming the input's columns (the first 20, and how many more)."""
    if id_column is not None and id_column not in columns:
        names = list(columns)
        shown = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
        raise DataError(
            f"{where}: no column '{id_column}' to take the rows' ids from (--id); "
            f"it has {shown}; nothing was scored",
            hint="name one of its columns with --id, or leave --id out to name rows by number",
        )
