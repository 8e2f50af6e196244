"""``shipyard data …``: infer, ingest, list, show, log, diff, export, quarantine."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from shipyard.errors import BatchQuarantinedError, BatchRejectedError, DataError

from .app import cli, open_from
from .complete import complete_datasets
from .output import console, csv_to_stdout, err_console, json_option, markup, print_json
from .progress import progress

if TYPE_CHECKING:
    from shipyard.data import DatasetVersion, IngestResult
    from shipyard.data.watch import WatchEvent
    from shipyard.project import Project

RANGE_MARGIN = "10%"  # shipyard.data.infer.MARGIN, said here so --help need not import polars


@cli.group()
def data() -> None:
    """Datasets: infer a schema, ingest batches, inspect versions and quarantine."""


@data.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dataset", "name", required=True, help="Name of the dataset to declare.")
@click.option("--dry-run", is_flag=True, help="Print the proposal; write nothing.")
@click.option(
    "--ranges",
    is_flag=True,
    help=f"Propose min/max for numeric columns: the sample's, widened {RANGE_MARGIN} "
    "(never on ids or times).",
)
@click.option("--force", is_flag=True, help="Replace the dataset if it is already declared.")
@click.pass_context
def infer(
    ctx: click.Context, file: Path, name: str, dry_run: bool, ranges: bool, force: bool
) -> None:
    """Propose a schema from FILE and write it into shipyard.yaml for review.

    Headers the project file would refuse as names ('mean radius') are proposed
    sanitised ('mean_radius') with 'source:' naming the header, so FILE is ingested
    as it is.
    """
    from shipyard.data.infer import infer_schema, render, write_into_project
    from shipyard.data.names import is_valid_name, sanitise

    if not is_valid_name(name):
        raise click.BadParameter(
            f"'{name}' is not a dataset name: use letters, digits, '.', '_' or '-' "
            f"(e.g. '{sanitise([name])[name]}')",
            param_hint="'--dataset'",
        )
    proposal = infer_schema(file, ranges=ranges)
    click.echo(render(name, proposal), nl=False)  # YAML as it is: never wrapped or styled
    renamed = sum(1 for spec in proposal.columns.values() if "source" in spec)
    if renamed:
        err_console.print(
            f"{renamed} header{'s' if renamed != 1 else ''} renamed to valid column names; "
            "'source:' keeps each header, so the file is read as it is"
        )
    if dry_run:
        err_console.print("dry run: nothing written")
        return
    with open_from(ctx) as project:
        write_into_project(project.file, name, proposal, force=force)
        console.print(
            markup(
                "[green]wrote datasets.{} into {}[/]: review it, set 'target'", name, project.file
            )
        )


@data.command()
@click.argument("name", shell_complete=complete_datasets)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--sql", "query", help="A SQL query to ingest (with --url).")
@click.option("--url", help="The SQLAlchemy URL the --sql query runs on (${VAR} is expanded).")
@click.option(
    "--mode", type=click.Choice(["append", "replace"]), help="Override the dataset's mode."
)
@click.option("--delimiter", help="CSV field separator (default ',' or tab for .tsv).")
@click.option(
    "--watch",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep ingesting new files from this folder.",
)
@click.option(
    "--interval",
    type=click.FloatRange(0.1),
    default=2.0,
    show_default=True,
    help="Seconds between looks at the --watch folder.",
)
@click.option("--once", is_flag=True, help="With --watch: ingest what is there, then exit.")
@json_option
@click.pass_context
def ingest(
    ctx: click.Context,
    name: str,
    paths: tuple[Path, ...],
    query: str | None,
    url: str | None,
    mode: str | None,
    delimiter: str | None,
    folder: Path | None,
    interval: float,
    once: bool,
    as_json: bool,
) -> None:
    """Validate files (or a SQL query) and commit them as NAME's next version."""
    from shipyard.data import SqlQuery

    sources: list[Any] = list(paths)
    if query or url:
        if not (query and url):
            raise DataError("--sql and --url go together: the query and the database it runs on")
        sources.append(SqlQuery(url, query))
    if folder is not None:
        if sources:
            raise DataError("--watch ingests the files arriving in a folder; give no PATHS with it")
        _watch(ctx, name, folder, interval, once, as_json)
        return
    if not sources:
        raise DataError(
            f"nothing to ingest into '{name}'", hint="give PATHS, --sql with --url, or --watch DIR"
        )
    with open_from(ctx) as project:
        try:
            # a step to read each source, then validate, merge, store, commit
            with progress(f"ingesting into {name}", steps=len(sources) + 4, quiet=as_json) as step:
                result = project.ingest(
                    name, *sources, mode=mode, delimiter=delimiter, progress=step
                )
        except BatchRejectedError as exc:
            if as_json:
                print_json(exc.report)
            raise
        if as_json:
            print_json(result.as_dict())
        elif result.nothing_new:
            console.print(
                markup("[bold]nothing new[/]: {}; no version written", result.nothing_new)
            )
        else:
            _print_ingest(result, project)
        if result.too_many_quarantined:
            ref = result.version.ref
            raise BatchQuarantinedError(
                f"{ref} is written, but {result.too_many_quarantined}",
                hint=f"see the rows with 'shipyard data quarantine {ref}'; fix the data or the "
                f"schema in shipyard.yaml, or raise datasets.{name}.checks.max_quarantined "
                "(up to 1.0) if such batches are expected",
            )


def _print_ingest(result: IngestResult, project: Project) -> None:
    version, report = result.version, result.report
    for skipped in result.skipped:
        console.print(markup("[yellow]skipped[/] {}", skipped))
    console.print(
        markup(
            "[bold]{}[/]  received {:,}  accepted {:,}  quarantined {:,}  ({:,} rows in the version)",
            version.ref, report.received, report.accepted, report.quarantined, version.rows,
        )
    )  # fmt: skip
    for check in report.warnings:
        console.print(markup("[yellow]warning[/] {}: {}", check.name, check.detail))
    failing = [c for c in report.checks if c.level == "row" and c.failed]
    if failing:
        table = Table("check", "rows", box=None, title="row checks that quarantined rows")
        for check in failing:
            table.add_row(check.name, f"{check.failed:,}")
        console.print(table)
    if report.quarantined:
        console.print(f"see them with: shipyard data quarantine {version.ref}")


def _watch(
    ctx: click.Context, name: str, folder: Path, interval: float, once: bool, as_json: bool
) -> None:
    from shipyard.data.watch import watch

    events: list[WatchEvent] = []

    def show(event: WatchEvent) -> None:
        events.append(event)
        if not as_json:
            colour = {
                "ingested": "green",
                "unchanged": "yellow",
                "quarantined": "red",
                "rejected": "red",
                "unreadable": "red",
            }.get(event.outcome, "white")
            console.print(
                markup(
                    f"[{colour}]{{}}[/] {{}}: {{}}", event.outcome, event.path.name, event.detail
                )
            )

    with open_from(ctx) as project:
        if not once and not as_json:
            err_console.print(f"watching {folder} for '{name}' every {interval:g}s; Ctrl-C to stop")
        stop = threading.Event()
        try:
            watch(
                project.data, name, folder, interval=interval, once=once, on_event=show, stop=stop
            )
        except KeyboardInterrupt:
            stop.set()
    if as_json:
        print_json(
            [{"path": str(e.path), "outcome": e.outcome, "detail": e.detail} for e in events]
        )


@data.command("list")
@json_option
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List the datasets, how many versions each has and the newest."""
    with open_from(ctx) as project:
        summaries = project.data.summaries()
    if as_json:
        print_json([s.as_dict() for s in summaries])
        return
    table = Table(
        "dataset", "versions", "latest", "rows", "content hash", "created (UTC)", box=None
    )
    for s in summaries:
        latest = s.latest
        table.add_row(
            s.name,
            str(s.versions),
            latest.ref if latest else "-",
            f"{latest.rows:,}" if latest else "-",
            latest.content_hash[:12] if latest else "-",
            latest.created_at.strftime("%Y-%m-%d %H:%M") if latest else "-",
        )
    console.print(table)


@data.command()
@click.argument("ref", shell_complete=complete_datasets)
@json_option
@click.pass_context
def show(ctx: click.Context, ref: str, as_json: bool) -> None:
    """Show one version: counts, content hash, lineage, sources, failed checks."""
    with open_from(ctx) as project:
        version = project.data.show(ref)
        report = project.data.report(ref)
    if as_json:
        print_json({**version.as_dict(), "report": report})
        return
    _print_version(version)
    failed = [c for c in report["checks"] if not c["passed"]]
    for check in failed:
        console.print(
            f"  check {check['name']}: {check['failed']:,} failed {check['detail']}".rstrip()
        )


def _print_version(version: DatasetVersion) -> None:
    console.print(markup("[bold]{}[/]  ({})", version.ref, version.mode))
    console.print(f"  content hash   {version.content_hash}")
    console.print(f"  rows           {version.rows:,}")
    console.print(
        f"  this ingest    received {version.rows_received:,}, accepted {version.rows_accepted:,}, "
        f"quarantined {version.rows_quarantined:,}"
    )
    parents = ", ".join(f"{version.dataset}@{p}" for p in version.parents) or "none"
    console.print(f"  parents        {parents}")
    for source in version.sources:
        digest = f" sha256 {source['sha256'][:12]}" if source.get("sha256") else ""
        console.print(
            f"  source         {source['kind']} {source['uri']}{digest} ({source['rows']:,} rows)"
        )
    console.print(f"  schema hash    {version.schema_hash[:12]}")
    console.print(
        f"  created        {version.created_at:%Y-%m-%d %H:%M:%S} UTC by {version.created_by}"
    )


@data.command()
@click.argument("name", shell_complete=complete_datasets)
@json_option
@click.pass_context
def log(ctx: click.Context, name: str, as_json: bool) -> None:
    """The versions of dataset NAME, newest first."""
    with open_from(ctx) as project:
        versions = project.data.log(name)
    if as_json:
        print_json([v.as_dict() for v in versions])
        return
    table = Table(
        "version",
        "mode",
        "received",
        "accepted",
        "quarantined",
        "rows",
        "hash",
        "created (UTC)",
        "by",
        box=None,
    )
    for v in versions:
        table.add_row(
            v.ref, v.mode, f"{v.rows_received:,}", f"{v.rows_accepted:,}", f"{v.rows_quarantined:,}",
            f"{v.rows:,}", v.content_hash[:12], f"{v.created_at:%Y-%m-%d %H:%M}", v.created_by,
        )  # fmt: skip
    console.print(table if versions else f"dataset '{name}' has no versions yet")


@data.command()
@click.argument("a", shell_complete=complete_datasets)
@click.argument("b", shell_complete=complete_datasets)
@json_option
@click.pass_context
def diff(ctx: click.Context, a: str, b: str, as_json: bool) -> None:
    """What changed from version A to version B: rows and per-column statistics."""
    with open_from(ctx) as project:
        result = project.data.diff(a, b)
    if as_json:
        print_json(result.as_dict())
        return
    by = f"by key '{result.key}'" if result.key else "as whole rows (no key)"
    console.print(
        markup(
            "[bold]{} → {}[/]  ({:,} → {:,} rows, compared {})",
            result.a, result.b, result.rows_a, result.rows_b, by,
        )
    )  # fmt: skip
    console.print(
        f"  added {result.added:,}  removed {result.removed:,}  changed {result.changed:,}"
    )
    table = Table("column", "nulls", "distinct", "min", "max", "mean", "changed", box=None)
    for name, (before, after) in result.columns.items():

        def pair(attr: str, before: Any = before, after: Any = after) -> str:
            left = getattr(before, attr) if before else "-"
            right = getattr(after, attr) if after else "-"
            return _short(left) if left == right else f"{_short(left)} → {_short(right)}"

        table.add_row(
            name, pair("nulls"), pair("distinct"), pair("min"), pair("max"), pair("mean"),
            str(result.changed_by_column.get(name, "")),
        )  # fmt: skip
    console.print(table)


def _short(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)[:25]


@data.command()
@click.argument("ref", shell_complete=complete_datasets)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--raw",
    is_flag=True,
    help="CSV: keep cells starting with = + - @ as they are (default: escape them with ').",
)
@click.pass_context
def export(ctx: click.Context, ref: str, file: Path, raw: bool) -> None:
    """Write version REF to FILE (.parquet: the stored bytes exactly; .csv; .jsonl).

    In a CSV, text cells a spreadsheet would run as a formula are escaped with a
    leading ' unless --raw. FILE is written whole or not at all, and never through
    a symbolic link (a link at FILE is refused).
    """
    with open_from(ctx) as project:
        version = project.data.show(ref)
        written = project.data.export(ref, file, raw=raw)
    console.print(f"wrote {version.ref} ({written.rows:,} rows) to {written.path}")
    if written.escaped:
        console.print(_escaped_note(written.escaped, "--raw keeps them as they are"))


def _escaped_note(count: int, then: str) -> str:
    return (
        f"escaped {count:,} cell{'s' if count != 1 else ''} a spreadsheet would run as a "
        f"formula (a leading '); {then}"
    )


@data.command()
@click.argument("ref", shell_complete=complete_datasets)
@click.option(
    "--limit", type=click.IntRange(1), default=50, show_default=True, help="Rows to show."
)
@click.option(
    "--csv",
    "csv_file",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="Write every quarantined row with its reasons to this CSV file ('-': stdout).",
)
@json_option
@click.pass_context
def quarantine(
    ctx: click.Context, ref: str, limit: int, csv_file: Path | None, as_json: bool
) -> None:
    """The rows REF's ingest quarantined, as they arrived, with every reason."""
    with open_from(ctx) as project:
        version = project.data.show(ref)
        if csv_file is not None and str(csv_file) != "-":
            written = project.data.export_quarantine(ref, csv_file)
            err_console.print(
                f"wrote {written.rows:,} quarantined rows of {version.ref} to {written.path}"
            )
            if written.escaped:
                err_console.print(
                    _escaped_note(written.escaped, "the values are otherwise as they arrived")
                )
            return
        rows = project.data.quarantine(ref)
    if csv_file is not None:  # '-': the CSV itself on stdout, escaped the same way
        csv_to_stdout(rows)
        return
    if as_json:
        print_json(rows.head(limit).to_dicts())
        return
    if rows.height == 0:
        console.print(f"{version.ref}: nothing was quarantined")
        return
    console.print(
        f"{version.ref}: {rows.height:,} rows quarantined (showing {min(limit, rows.height)})"
    )
    table = Table("source", "row", "reasons", "values", box=None)
    for row in rows.head(limit).iter_rows(named=True):
        values = ", ".join(f"{k}={v}" for k, v in row.items() if not k.startswith("_"))
        table.add_row(
            Path(str(row["_source"])).name,
            str(row["_row"] or ""),
            "; ".join(row["_reasons"]),
            values,
        )
    console.print(table)
