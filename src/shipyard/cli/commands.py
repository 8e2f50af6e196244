"""Project commands: init, doctor, audit, demo."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from shipyard.errors import ShipyardError

from .app import cli, open_from
from .output import console, json_option, markup, print_json
from .progress import progress

if TYPE_CHECKING:
    from shipyard.demo import DemoSummary
    from shipyard.doctor import DoctorReport


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--name", help="Project name (default: the folder's name).")
@click.option("--force", is_flag=True, help="Overwrite an existing shipyard.yaml.")
@click.option(
    "--example",
    type=click.Choice(["credit"]),
    help="Also write the example's sample data (data/loans.csv), for the README's tour.",
)
def init(directory: Path, name: str | None, force: bool, example: str | None) -> None:
    """Write a commented example shipyard.yaml into DIRECTORY."""
    from shipyard.project import init_project

    file = init_project(directory, name=name, force=force, example=example)
    console.print(markup("wrote [bold]{}[/]", file))
    if example is not None:
        console.print(markup("wrote [bold]{}[/] (sample loan applications)", file.parent / "data"))
        console.print(
            f"next: cd {directory} && shipyard data ingest loans data/loans.csv",
            soft_wrap=True,
        )
    else:
        console.print(f"next: edit it, then run 'shipyard -C {directory} doctor'", soft_wrap=True)


@cli.command()
@json_option
@click.pass_context
def doctor(ctx: click.Context, as_json: bool) -> None:
    """Check the project file, the database and the artifact store; print versions."""
    from shipyard.doctor import run_doctor

    with open_from(ctx) as project:
        report = run_doctor(project)
    if as_json:
        print_json(report.as_dict())
    else:
        _print_doctor(report)
    if not report.ok:
        ctx.exit(1)


def _print_doctor(report: DoctorReport) -> None:
    console.print(markup("project   [bold]{}[/]  ({})", report.project, report.project_file))
    console.print(f"database  {report.database}")
    console.print(f"artifacts {report.artifacts}")
    table = Table(show_header=True, header_style="bold", box=None)
    table.add_column("check")
    table.add_column("")
    table.add_column("detail", overflow="fold")
    for check in report.checks:
        if not check.ok:
            mark = markup("[red]FAILED[/]")
        else:
            mark = markup("[yellow]warning[/]" if check.warning else "[green]ok[/]")
        table.add_row(check.name, mark, check.detail)
    console.print(table)
    console.print("versions  " + ", ".join(f"{k} {v}" for k, v in report.versions.items()))
    if not report.ok:
        console.print(markup("[red]some checks failed[/]"))
    elif report.warnings:
        console.print(markup("[yellow]all checks passed, {} with a warning[/]", report.warnings))
    else:
        console.print(markup("[green]all checks passed[/]"))


@cli.command()
@click.option("--subject", help="Only events about this subject (a model or dataset name).")
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
@json_option
@click.pass_context
def audit(ctx: click.Context, subject: str | None, limit: int, as_json: bool) -> None:
    """List the audit log, newest first: who changed what, when and why."""
    with open_from(ctx) as project:
        events = project.audit(subject=subject, limit=limit)
    if as_json:
        print_json([event.as_dict() for event in events])
        return
    table = Table("id", "at (UTC)", "actor", "action", "subject", "reason", box=None)
    for event in events:
        table.add_row(
            str(event.id),
            event.at.strftime("%Y-%m-%d %H:%M:%S"),
            event.actor,
            event.action,
            event.subject,
            event.reason or "",
        )
    console.print(table if events else "no audit events yet")


@cli.command()
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    help="A new or empty folder for the demo project (default: a new temporary folder).",
)
@click.option(
    "--no-serve",
    is_flag=True,
    help="Exit after the summary instead of serving the champion until Ctrl-C.",
)
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Where the demo serves its champion after the summary (0: any free port).",
)
@json_option
@click.pass_context
def demo(ctx: click.Context, folder: Path | None, no_serve: bool, port: int, as_json: bool) -> None:
    """Create a demo project in a fresh folder and run the whole lifecycle on it.

    Exits 1 if an act was skipped or did not finish (each is named, with why).
    """
    from shipyard.demo import demo_folder, run_demo  # here: the demo pulls in the server
    from shipyard.serving import serve

    target = demo_folder(folder)
    if as_json:
        summary = run_demo(target)
        print_json(summary.as_dict())
        if summary.skipped:
            ctx.exit(1)
        return
    console.rule(markup("[bold]shipyard demo"))
    with progress("demo") as bar:  # on stderr, on a terminal only

        def step(message: str) -> None:
            console.print(markup("[cyan]→[/] {}", message))
            bar(message)

        summary = run_demo(target, on_step=step)
    _print_demo(summary)
    if summary.skipped:
        console.print(markup("[red]the demo did not run its whole story[/]:"))
        for act in summary.skipped:
            console.print(markup("  [red]skipped[/] {}", act))
        ctx.exit(1)
    if no_serve or summary.champion is None:
        console.print(
            f"dashboard: run `shipyard -C {summary.folder} ui`, then open http://127.0.0.1:8080/ui",
            highlight=False,
            soft_wrap=True,
        )
        return
    console.rule(markup("[bold]serving"))
    champion = summary.champion

    def listening(url: str) -> None:
        console.print(
            f"serving {champion} (as default-risk@champion) on {url}; try:\n"
            f"  curl -s {url}/v1/models/default-risk/predict "
            """-d '{"amount": 12000, "age": 31, "country": "PL"}'\n"""
            f"  curl -s {url}/metrics\n"
            f"dashboard: {url}/ui (every model's health and why, drift, alerts, runs)\n"
            "Ctrl-C stops.",
            highlight=False,
            soft_wrap=True,
        )

    targets = {"default-risk": "champion"}
    try:
        serve(summary.folder, targets, port=port, on_listen=listening)
    except ShipyardError as exc:  # most likely the port is taken: any free one will do
        if port == 0 or "cannot listen" not in exc.message:
            raise
        serve(summary.folder, targets, port=0, on_listen=listening)


def _print_demo(summary: DemoSummary) -> None:
    console.rule(markup("[bold]summary"))
    console.print(f"project folder   {summary.folder}")
    console.print(f"project file     {summary.project_file}")
    console.print(f"database schema  revision {summary.schema_revision}")
    for batch, result in zip(summary.batches, summary.ingests, strict=True):
        report = result.report
        console.print(
            markup(
                "ingested         {} → [bold]{}[/]: received {:,}, accepted {:,}, quarantined {:,}",
                batch.name, result.version.ref, report.received, report.accepted,
                report.quarantined,
            )
        )  # fmt: skip
    table = Table(
        "row", "why it was quarantined", box=None, title="some quarantined rows of loans@1"
    )
    for row in summary.quarantine_sample:
        table.add_row(str(row["_row"]), "; ".join(row["_reasons"]))
    console.print(table)
    diff = summary.diff
    console.print(
        f"diff             {diff.a} → {diff.b}: {diff.added:,} rows added, "
        f"{diff.removed:,} removed, {diff.changed:,} changed"
    )
    table = Table("version", "made by", "roc_auc", "evaluation", box=None, title="model versions")
    for version, evaluated in zip(summary.models, summary.evaluations, strict=True):
        outcome = evaluated.report
        mark = "  ← champion" if version.ref == summary.champion else ""
        failed = ", ".join(c.name for c in outcome.failed)
        verdict = (
            markup("[green]passed[/]") if outcome.passed else markup("[red]failed: {}[/]", failed)
        )
        roc_auc = outcome.metrics.get("roc_auc", float("nan"))
        table.add_row(version.ref + mark, version.source, f"{roc_auc:.3f}", verdict)
    console.print(table)
    for message in summary.refused:
        console.print(markup("[yellow]gate[/] {}", message))
    if summary.evaluations:
        console.print(f"evaluation report (open in a browser): {summary.evaluations[0].html_url}")
    if summary.doctor is not None:
        _print_doctor(summary.doctor)
    if summary.serving is not None:
        _print_serving(summary.serving)
    if summary.monitoring is not None:
        _print_monitoring(summary.monitoring)
    if summary.maintenance is not None:
        _print_maintenance(summary.maintenance)
    console.print(f"champion now     {summary.champion or 'none'}")
    table = Table("id", "actor", "action", "subject", box=None, title="audit log")
    for event in summary.audit_events:
        table.add_row(str(event["id"]), event["actor"], event["action"], event["subject"])
    console.print(table)
    # only commands that work on what the demo made: none for a champion that does not exist
    crowned = summary.champion is not None
    commands = [
        "data list",
        "data quarantine loans@1",
        "models show default-risk@champion" if crowned else "models show default-risk",
        "audit",
        *(["monitor default-risk"] if crowned else []),
        *(["alerts list"] if summary.monitoring is not None else []),
        *(["runs list"] if summary.maintenance is not None else []),
    ]
    template = "\nLook around: " + ", ".join(["[bold]shipyard -C {} {}[/]"] * len(commands))
    console.print(markup(template, *(x for c in commands for x in (summary.folder, c))))


def _print_maintenance(maintenance: dict[str, Any]) -> None:
    for run in sorted(maintenance["runs"], key=lambda r: r["id"]):
        by = f" by {run['decided_by']}" if run.get("decided_by") else ""
        console.print(
            f"retraining run  #{run['id']} ({run['trigger']}): {run['model']}@{run['candidate']} "
            f"→ {run['state']}{by}",
            highlight=False,
        )
    console.print(
        f"maintenance      the whole loop took {maintenance['seconds']:.0f} s; "
        f"`shipyard runs list` tells it again",
        highlight=False,
    )


def _print_monitoring(monitoring: dict[str, Any]) -> None:
    verdicts = ", ".join(
        f"{v['feature']} {v['method']} {v['value']:.3g}{' DRIFTED' if v['drifted'] else ''}"
        for v in monitoring["verdicts"]
        if v["drifted"] is not None
    )
    console.print(f"monitoring       {monitoring['rows']} predictions vs {monitoring['reference']}")
    console.print(f"drift            {verdicts}", highlight=False)
    metrics = monitoring["metrics"]
    console.print(
        f"feedback         roc_auc {metrics.get('roc_auc', float('nan')):.3f} on "
        f"{monitoring['labelled']} labelled rows"
    )
    for alert in monitoring["fired"]:
        console.print(
            markup(
                "[red]alert fired[/]      #{} {}: {}", alert["id"], alert["rule"], alert["message"]
            )
        )
    sent = ", ".join(f"{m['rule']} ({m['status']})" for m in monitoring["webhook_messages"])
    console.print(
        f"owner's webhook  received {len(monitoring['webhook_messages'])}: {sent}; "
        f"a second run sent {monitoring['messages_after_second_run']} more"
    )
    console.print(f"monitoring report (open in a browser): {monitoring['report']}")


def _print_serving(serving: dict[str, Any]) -> None:
    def counts(paths: dict[str, int]) -> str:
        return ", ".join(f"{n} by {path}" for path, n in sorted(paths.items()))

    console.print(f"served on        {serving['url']} (stopped; see below to serve again)")
    console.print(f"traffic          {counts(serving['answered'])}")
    for bad in serving["bad_requests"]:
        first = f" — {bad['problems'][0]}" if bad["problems"] else ""
        console.print(f"bad request      {bad['status']}: {bad['error']}{first}", highlight=False)
    reasons = ", ".join(serving["failure_reasons"])
    console.print(
        f"model failing    {counts(serving['while_failing'])} (degraded: {reasons}); "
        f"breaker {serving['breaker_while_failing']}"
    )
    example = serving["degraded_example"]
    console.print(
        f"degraded answer  path={example['path']} reason={example['reason']} "
        f"prediction={example['predictions'][0]} probabilities={example['probabilities'][0]}",
        highlight=False,
    )
    console.print(
        f"recovered        {counts(serving['after_recovery'])}; breaker {serving['breaker_after']}"
    )
    console.print(
        f"feedback         {serving['feedback_accepted']} labels; "
        f"prediction log: {serving['log_segments']} Parquet segment(s)"
    )
