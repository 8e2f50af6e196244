"""``shipyard score``: a dataset version or files scored with a model, logged like served rows."""

from __future__ import annotations

from pathlib import Path

import click

from .app import cli, open_from
from .output import console, json_option, markup, print_json
from .progress import progress


@cli.command()
@click.argument("name")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--data", "data", metavar="DATASET@V", help="Score this dataset version.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the answers here (.parquet or .csv), whole or not at all "
    "(default: the artifact store).",
)
@click.option("--id", "id_column", metavar="COLUMN", help="The input column naming each row.")
@click.option(
    "--engine",
    default="local",
    show_default=True,
    help="Where to score: local (every core of this machine) or ray (a Ray cluster).",
)
@click.option("--address", help="The Ray cluster to use with --engine ray (auto, ray://host:port).")
@click.option(
    "--chunk-rows",
    type=click.IntRange(1),
    default=100_000,
    show_default=True,
    help="Rows read and scored at a time (memory grows with it).",
)
@click.option(
    "--workers", type=click.IntRange(1), help="Threads to score with (default: one per core)."
)
@json_option
@click.pass_context
def score(
    ctx: click.Context,
    name: str,
    files: tuple[Path, ...],
    data: str | None,
    out: Path | None,
    id_column: str | None,
    engine: str,
    address: str | None,
    chunk_rows: int,
    workers: int | None,
    as_json: bool,
) -> None:
    """Score FILES (Parquet, CSV, JSON lines) or a dataset version (--data) with NAME
    (NAME@V, NAME@alias; NAME alone: its champion, refused when it has none).

    Columns are read as ingest reads them (a column's source: header too). Rows are
    checked against the model's schema; refused rows, and CSV lines with too many or too
    few fields, go to a quarantine with their reasons. Every prediction is logged to the prediction log with source 'batch'
    and the run's id, so feedback and monitoring see it like a served one.
    """
    options = {"address": address} if address else {}
    with open_from(ctx) as project:
        with progress(f"scoring with {name}", quiet=as_json) as step:
            record = project.score(
                name,
                data=data,
                files=list(files),
                out=out,
                id_column=id_column,
                engine=engine,
                chunk_rows=chunk_rows,
                workers=workers,
                options=options,
                progress=step,
            )
        shown = project.batch.run(record.run_id)
    if as_json:
        print_json(shown.as_dict())
        return
    console.print(
        markup(
            "scored [bold]{:,}[/] of {:,} rows with {}@{} (run {})",
            shown.rows_scored,
            shown.rows_in,
            shown.model,
            shown.version,
            shown.run_id,
        ),
        soft_wrap=True,
    )
    console.print(markup("answers: {}", shown.output), soft_wrap=True)
    if shown.rows_quarantined:
        console.print(
            markup(
                "[yellow]{:,} rows quarantined[/] (with reasons): {}",
                shown.rows_quarantined,
                shown.quarantine_link,
            ),
            soft_wrap=True,
        )
    console.print(
        f"logged to the prediction log ({len(shown.segments)} segment(s)); "
        f"see 'shipyard predictions {shown.model} --source batch --run {shown.run_id}'",
        soft_wrap=True,
    )
