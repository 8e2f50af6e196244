"""CSV request bodies: a header row of column names, then one line per row.

What ``pandas.DataFrame.to_csv(index=False)`` writes, and MLflow's scoring server
reads from ``Content-Type: text/csv``. A first column without a name is the index
``to_csv()`` writes by default, and is left out. Read with the stdlib ``csv`` module
(quoted values may hold commas and line breaks; blank lines are skipped), then typed
by the model's features:

- numbers (``int``, ``float``): as Python parses them (``12.5``, ``1e3``); empty, ``NA``,
  ``N/A``, ``null``, ``None``, ``NaN`` and ``#N/A`` are a missing value;
- ``bool``: ``true``/``false``, ``1``/``0``, ``yes``/``no``, ``t``/``f``, ``y``/``n``
  (any case), and the same missing markers;
- text (``string``, ``category``, ``datetime``): as written; only an empty value is missing.

A value that is not of its feature's type stays text, and the row validator names it
(``rows[3].amount: expected a number, got "12,5"``); each problem also says the CSV line.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.serving.validation import FieldSpec, MalformedRequestError, RequestError

# as data/validate.py reads text files (not imported: it brings polars onto the request path)
NULL_MARKERS = frozenset({"", "na", "n/a", "null", "none", "nan", "#n/a"})
BOOLEAN_WORDS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False,
                 "t": True, "f": False, "y": True, "n": False}  # fmt: skip
_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*|\s*[-+]?inf(inity)?\s*", re.I)
_ROW = re.compile(r"rows\[(\d+)\]")
_SHOWN_RAGGED = 10


@dataclass(frozen=True)
class CsvTable:
    """A CSV body: its column names, its rows of text, and the line each row starts on."""

    columns: list[str]
    rows: list[list[str]]
    lines: list[int]


class Unparsed:
    """A CSV value that is not of its feature's type: kept as the text it was, which is
    how the row validator shows it (``expected a number, got "12,5"``)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return '"' + self.text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def read_csv(body: bytes) -> CsvTable:
    """The header and rows of a CSV body; 400 when it is not CSV of one header and rows."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedRequestError(
            f"the CSV body is not valid UTF-8 (byte {exc.start})",
            hint="send the CSV encoded as UTF-8",
        ) from None
    text = text.removeprefix("\ufeff")  # a byte-order mark (spreadsheets write one)
    reader = csv.reader(text.splitlines(keepends=True), strict=True)
    rows: list[list[str]] = []
    lines: list[int] = []
    header: list[str] | None = None
    try:
        start = 1
        for row in reader:
            if row:  # a blank line is no row
                if header is None:
                    header = row
                else:
                    rows.append(row)
                    lines.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise MalformedRequestError(
            f"the CSV body cannot be read at line {reader.line_num}: {exc}",
            hint="quote a value that holds a comma, a quote or a line break, and double "
            'its quotes ("say ""hi""")',
        ) from None
    if header is None:
        raise MalformedRequestError(
            "the request body is empty; expected CSV: a header row of column names, then rows",
            hint="pandas: frame.to_csv(index=False)",
        )
    index = header[0] == ""  # to_csv()'s unnamed index column
    if index:
        header = header[1:]
        rows = [row[1:] for row in rows]
    _check_shape(header, rows, lines, index)
    return CsvTable(header, rows, lines)


def _check_shape(header: list[str], rows: list[list[str]], lines: list[int], index: bool) -> None:
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise MalformedRequestError(
            f"the CSV header names {', '.join(map(repr, duplicated))} more than once"
        )
    width = len(header)
    ragged = [
        f"line {line}: {len(row) + index} values, the header has {width + index}"
        for row, line in zip(rows, lines, strict=True)
        if len(row) != width
    ]
    if ragged:
        shown = ragged[:_SHOWN_RAGGED]
        if len(ragged) > len(shown):
            shown.append(f"... and {len(ragged) - len(shown)} more")
        raise MalformedRequestError(
            f"{len(ragged)} CSV row{'s' if len(ragged) != 1 else ''} "
            f"{'do' if len(ragged) != 1 else 'does'} not have one value per column "
            f"({', '.join(header)})",
            problems=shown,
        )


def typed_columns(table: CsvTable, fields: Sequence[FieldSpec]) -> dict[str, list[Any]]:
    """One list of values per column, each feature's typed as the feature says."""
    specs = {spec.name: spec for spec in fields}
    columns: dict[str, list[Any]] = {}
    for position, name in enumerate(table.columns):
        texts = [row[position] for row in table.rows]
        spec = specs.get(name)
        columns[name] = _typed(texts, spec) if spec is not None else _text(texts)
    return columns


def with_lines(exc: RequestError, table: CsvTable) -> RequestError:
    """``exc`` with the CSV line of each ``rows[i]`` its problems name."""
    exc.problems = [_add_line(problem, table.lines) for problem in exc.problems]
    return exc


def _add_line(problem: str, lines: list[int]) -> str:
    found = _ROW.match(problem)
    if found is None or int(found.group(1)) >= len(lines):
        return problem
    return f"{problem} (CSV line {lines[int(found.group(1))]})"


def _typed(texts: list[str], spec: FieldSpec) -> list[Any]:
    if spec.numeric:
        return [_number(text) for text in texts]
    if spec.type == "bool":
        return [_boolean(text) for text in texts]
    return _text(texts)


def _text(texts: list[str]) -> list[Any]:
    return [text if text != "" else None for text in texts]


def _number(text: str) -> Any:
    if _NUMBER.fullmatch(text):  # not float()'s "1_000" nor its leading/trailing junk
        return float(text)
    if text.strip().lower() in NULL_MARKERS:
        return None
    return Unparsed(text)


def _boolean(text: str) -> Any:
    word = text.strip().lower()
    found = BOOLEAN_WORDS.get(word)
    if found is not None:
        return found
    if word in NULL_MARKERS:
        return None
    return Unparsed(text)
