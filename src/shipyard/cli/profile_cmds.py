"""``shipyard data profile NAME@V``: every column of a dataset version, summarised.

A block per column (a table of quantiles wraps badly in 80 columns): its type, nulls,
distinct values; then its range and quantiles with a one-line histogram, or its most
frequent values with their shares.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.text import Text

from shipyard.errors import ConfigError

from .app import open_from
from .data_cmds import data
from .output import console, json_option, print_json

if TYPE_CHECKING:
    from shipyard.monitoring import ColumnSummary, DatasetProfile

_BLOCKS = " ▁▂▃▄▅▆▇█"


@data.command()
@click.argument("ref")
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the profile as an HTML page to this file.",
)
@json_option
@click.pass_context
def profile(ctx: click.Context, ref: str, html_file: Path | None, as_json: bool) -> None:
    """Profile dataset version NAME@V: per column its type, nulls, distinct values,
    min/max and quantiles with a histogram, or its top categories."""
    if html_file is not None and not html_file.parent.is_dir():
        raise ConfigError(
            f"cannot write {html_file}: the folder {html_file.parent} does not exist",
            hint="create it first, or name a file in an existing folder",
        )
    with open_from(ctx) as project:
        result = project.profile(ref)
    if html_file is not None:
        from shipyard.monitoring import render_profile
        from shipyard.storage.safe_files import write_atomic

        write_atomic(html_file, render_profile(result).encode())  # whole or not at all
    if as_json:
        print_json(result.as_dict())
        return
    _print(result)
    if html_file is not None:
        console.print(f"page: {html_file}", soft_wrap=True)


def _print(result: DatasetProfile) -> None:
    console.print(
        Text(f"{result.ref}: {result.rows:,} rows, {len(result.columns)} columns", "bold"),
        soft_wrap=True,
    )
    width = max((len(c.name) for c in result.columns), default=0)
    pad = " " * (width + 2)
    for column in result.columns:
        console.print(Text(f"{column.name:{width}s}  ", "bold") + _head(column), soft_wrap=True)
        for line in _body(column):
            console.print(pad + line, soft_wrap=True)


def _head(column: ColumnSummary) -> Text:
    declared = f" ({column.declared})" if column.declared else f" ({column.dtype})"
    nulls = f"nulls {column.nulls:,}"
    if column.rows:
        nulls += f" ({column.nulls / column.rows:.1%})"
    parts = [column.kind + declared, nulls, f"distinct {column.distinct:,}"]
    if column.invalid:
        parts.append(f"NaN/inf {column.invalid:,}")
    return Text("   ".join(parts), "red" if column.rows and column.nulls == column.rows else "")


def _body(column: ColumnSummary) -> list[str]:
    if column.rows == 0:
        return ["no rows"]
    if column.values == 0:
        return ["no values: every row is null" if column.invalid == 0 else "no usable values"]
    if column.kind in ("numeric", "datetime"):
        show = _time if column.kind == "datetime" else _num
        figures = [f"min {show(column.min)}"]
        figures += [f"p{q * 100:g} {show(v)}" for q, v in column.quantiles.items()]
        figures += [f"max {show(column.max)}", f"mean {show(column.mean)}"]
        lines = ["  ".join(figures)]
        if column.histogram is not None:
            lines.append(_spark(column.histogram[1]))
        return lines
    total = column.values
    shares = [f"{value} {count:,} ({count / total:.0%})" for value, count in column.top.items()]
    if column.other:
        shares.append(f"other {column.other:,} ({column.other / total:.0%})")
    return [", ".join(shares)]


def _spark(counts: tuple[int, ...]) -> str:
    """The histogram as one line of block characters (the tallest bin full)."""
    top = max(counts) or 1
    return "".join(_BLOCKS[0 if c == 0 else max(1, round(8 * c / top))] for c in counts)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _time(value: float | None) -> str:
    from datetime import UTC, datetime

    return "-" if value is None else f"{datetime.fromtimestamp(value, UTC):%Y-%m-%d %H:%M:%S}"
