"""``shipyard predictions``: the prediction log as a query (a table, JSON, CSV or Parquet)."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from .app import cli, open_from
from .output import console, csv_to_stdout, err_console, literal, print_json, wide_console

if TYPE_CHECKING:
    import polars as pl

    from shipyard.predlog.query import PredictionRows

TABLE_ROWS = 20  # the table and --json show the newest 20 unless --limit says


@cli.command()
@click.argument("name")
@click.option(
    "--since", help="From this long ago (30m, 1h, 7d) or this time (ISO, UTC unless it says)."
)
@click.option("--until", help="Up to this long ago or this time (default: now).")
@click.option(
    "--version", "version", type=click.IntRange(1), help="Only the answers of this version."
)
@click.option("--where", help="""A filter, e.g. "amount > 1000 and country in ('DE', 'FR')".""")
@click.option(
    "--with-feedback", is_flag=True, help="Join each answer's label (null until one came)."
)
@click.option("--fallback-only", is_flag=True, help="Only the answers a fallback gave.")
@click.option(
    "--source",
    type=click.Choice(["serve", "batch"]),
    help="Only served answers or only batch-scored ones (shipyard score).",
)
@click.option("--run", "run_id", metavar="RUN", help="Only the rows of this batch run.")
@click.option(
    "--limit",
    type=click.IntRange(1),
    help=f"The newest N rows (default: {TABLE_ROWS} for the table and --json, all for files).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON records.")
@click.option("--csv", "as_csv", is_flag=True, help="Write the rows as CSV to stdout.")
@click.option(
    "--parquet",
    "parquet_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the rows to this Parquet file (whole or not at all).",
)
@click.pass_context
def predictions(
    ctx: click.Context,
    name: str,
    since: str | None,
    until: str | None,
    version: int | None,
    where: str | None,
    with_feedback: bool,
    fallback_only: bool,
    source: str | None,
    run_id: str | None,
    limit: int | None,
    as_json: bool,
    as_csv: bool,
    parquet_file: Path | None,
) -> None:
    """NAME's logged predictions, newest first: time, id, version, answer, probabilities,
    what answered (model or fallback), latency, the features and (--with-feedback) labels.

    Reads the Parquet segments serving wrote, only the days of the span, and keeps
    only the matching rows.
    """
    from shipyard.predlog.query import PredictionLog

    chosen = [flag for flag, on in (("--json", as_json), ("--csv", as_csv),
                                    ("--parquet", parquet_file is not None)) if on]  # fmt: skip
    if len(chosen) > 1:
        raise click.UsageError(f"choose one of {' and '.join(chosen)}")
    if limit is None and not (as_csv or parquet_file is not None):
        limit = TABLE_ROWS
    with open_from(ctx) as project:
        rows = PredictionLog(project.artifacts, project.config).select(
            name, since=since, until=until, version=version, where=where,
            with_feedback=with_feedback, fallback_only=fallback_only, limit=limit,
            source=source, run=run_id,
        )  # fmt: skip
    if not rows.logged:
        err_console.print(
            f"no predictions logged for {name} yet; serve it with 'shipyard serve {name}' "
            "and send it requests",
            soft_wrap=True,
        )
    if as_json:
        print_json(_records(rows.frame))
    elif as_csv:
        csv_to_stdout(rows.frame)
    elif parquet_file is not None:
        _write_parquet(rows, parquet_file)
    elif rows.logged:
        _print_table(rows, where)


def _records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
        for row in frame.iter_rows(named=True)
    ]


def _write_parquet(rows: PredictionRows, path: Path) -> None:
    from shipyard.storage.safe_files import write_atomic

    write_atomic(path, lambda out: rows.frame.write_parquet(out))
    err_console.print(
        f"wrote {rows.frame.height:,} predictions of {rows.model} to {path}", soft_wrap=True
    )


def _print_table(rows: PredictionRows, where: str | None) -> None:
    frame = rows.frame
    wide = not console.is_terminal  # piped: columns keep their width, nothing wraps
    if frame.height:
        table = Table(box=None, header_style="bold")
        for column in frame.columns:
            right = frame.schema[column].is_numeric()
            table.add_column(literal(column), justify="right" if right else "left", no_wrap=wide)
        for row in frame.iter_rows():
            table.add_row(*(literal(_cell(value)) for value in row))
        if wide:  # a console as wide as the table: rich caps a print at its console's width
            wide_console(sys.stdout).print(table, crop=False)
        else:
            console.print(table)
    console.print(_footer(rows, where), soft_wrap=True)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):  # probabilities
        return " ".join("" if v is None else f"{v:.3f}" for v in value)
    return str(value)


def _footer(rows: PredictionRows, where: str | None) -> str:
    span = f"since {rows.start:%Y-%m-%d %H:%M:%S} UTC" if rows.start else "in the whole log"
    matching = f" matching {where!r}" if where else ""
    if not rows.matched:
        return f"no predictions of {rows.model} {span}{matching}"
    shown = rows.frame.height
    if shown < rows.matched:
        return (
            f"the newest {shown:,} of {rows.matched:,} predictions of {rows.model} {span}"
            f"{matching}, newest first (--limit N for more)"
        )
    return f"{rows.matched:,} predictions of {rows.model} {span}{matching}, newest first"
