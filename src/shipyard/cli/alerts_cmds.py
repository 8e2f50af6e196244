"""``shipyard alerts``: list, show, acknowledge and export the alerts monitoring raised."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from shipyard.errors import StorageError

from .app import cli, open_from
from .complete import complete_models
from .output import console, err_console, json_option, markup, print_json


@cli.group()
def alerts() -> None:
    """Alerts: list them, show one with every delivery, acknowledge one, export the rules."""


@alerts.command("list")
@click.option("--model", help="Only this model's alerts.", shell_complete=complete_models)
@click.option("--all", "every", is_flag=True, help="Resolved and cancelled alerts too.")
@json_option
@click.pass_context
def alerts_list(ctx: click.Context, model: str | None, every: bool, as_json: bool) -> None:
    """Pending and firing alerts, newest first."""
    with open_from(ctx) as project:
        if model:
            project.models.config(model)
        found = project.monitoring.alerts.list(model=model, every=every)
    if as_json:
        print_json([a.as_dict() for a in found])
        return
    if not found:
        console.print("no open alerts" if not every else "no alerts yet")
        return
    rows = [("id", "model", "rule", "severity", "status", "since", "owner")]
    rows += [
        (
            f"#{a.id}", a.model, a.rule, a.severity,
            a.state + (" (acked)" if a.acked_at else "") + (" (owed)" if a.owed else ""),
            a.started_at.strftime("%Y-%m-%d %H:%M"), a.owner or "-",
        )
        for a in found
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:  # one line per alert, however narrow the terminal
        line = "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        console.print(line, soft_wrap=True)
    console.print(
        markup("[dim]details and every delivery: shipyard alerts show ID[/]"), soft_wrap=True
    )


@alerts.command("show")
@click.argument("alert_id", type=int)
@json_option
@click.pass_context
def alerts_show(ctx: click.Context, alert_id: int, as_json: bool) -> None:
    """Alert ID in full: its rule, figures, owner, route, and every delivery of its messages."""
    with open_from(ctx) as project:
        alert = project.monitoring.alerts.get(alert_id)
    if as_json:
        print_json(alert.as_dict())
        return
    at = "%Y-%m-%d %H:%M:%S UTC"
    console.print(
        markup(
            "[bold]alert #{}[/] {} {}: {}", alert.id, alert.model, alert.rule, alert.state.upper()
        ),
        soft_wrap=True,
    )
    fields = [
        ("severity", alert.severity),
        ("owner", alert.owner or "- (the model is no longer declared)"),
        ("route", alert.route),
        ("message", alert.message),
        ("value", alert.value),
        ("threshold", alert.threshold),
        ("started", alert.started_at.strftime(at)),
        ("fired", alert.fired_at.strftime(at) if alert.fired_at else "-"),
        ("notified", alert.notified_at.strftime(at) if alert.notified_at else "-"),
        ("resolved", alert.resolved_at.strftime(at) if alert.resolved_at else "-"),
        (
            "acknowledged",
            f"{alert.acked_by} at {alert.acked_at.strftime(at)}" if alert.acked_at else "-",
        ),
        ("owed", alert.owed or "-"),
        ("report", alert.detail.get("report", "-")),
    ]
    for name, value in fields:
        console.print(f"  {name + ':':<14}{value}", soft_wrap=True)
    if not alert.deliveries:
        console.print("  deliveries:   none yet", soft_wrap=True)
        return
    console.print("  deliveries:", soft_wrap=True)
    for d in alert.deliveries:
        colour = {"sent": "green", "failed": "red"}.get(d.status, "bold red")
        console.print(
            markup(
                f"    {{}} {{}} to {{}}: [{colour}]{{}}[/]{{}}",
                d.at.strftime(at), d.kind, d.channel, d.status,
                f" after {d.attempts} attempt(s): {d.error}" if d.status == "failed" else
                (f": {d.error}" if d.error else ""),
            ),
            soft_wrap=True,
        )  # fmt: skip


@alerts.command("ack")
@click.argument("alert_id", type=int)
@click.option("--reason", help="Kept in the audit log.")
@json_option
@click.pass_context
def alerts_ack(ctx: click.Context, alert_id: int, reason: str | None, as_json: bool) -> None:
    """Acknowledge alert ID: no more reminders; it still resolves by itself."""
    with open_from(ctx) as project:
        alert = project.monitoring.alerts.ack(alert_id, now=datetime.now(UTC), reason=reason)
    if as_json:
        print_json(alert.as_dict())
    else:
        console.print(
            f"alert #{alert.id} ({alert.model} {alert.rule}) acknowledged by {alert.acked_by}"
        )


@alerts.command("export")
@click.option(
    "--format", "fmt", type=click.Choice(["prometheus"]), default="prometheus", show_default=True,
    help="What to write.",
)  # fmt: skip
@click.option(
    "--model",
    "models",
    multiple=True,
    help="Only these models (repeatable).",
    shell_complete=complete_models,
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file, not stdout.",
)
@click.pass_context
def alerts_export(
    ctx: click.Context, fmt: str, models: tuple[str, ...], output: Path | None
) -> None:
    """The project's alert rules as Prometheus alerting rules (`promtool check rules` accepts them)."""
    from shipyard.monitoring.prometheus import prometheus_rules, unexported
    from shipyard.storage.safe_files import write_atomic

    with open_from(ctx) as project:
        for name in models:
            project.models.config(name)
        text = prometheus_rules(project.config, list(models) or None)
        silent = unexported(project.config, list(models) or None)
    if silent:  # said, not refused: the counted rules work still, and the file is the same
        err_console.print(
            markup(
                "[bold yellow]warning:[/] {} read figures only a server that monitors in the "
                "background exports; set server.monitor_every (e.g. '5m') for `shipyard serve`, "
                "or they never fire",
                ", ".join(silent),
            ),
            soft_wrap=True,
        )
    if output is None:
        click.echo(text, nl=False)
        return
    try:  # whole or not at all, and never through a link planted at FILE
        write_atomic(output, text.encode("utf-8"))
    except StorageError:
        raise
    except OSError as exc:
        raise StorageError(f"cannot write {output}: {exc}") from exc
    err_console.print(f"wrote {output}")
