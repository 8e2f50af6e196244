"""``shipyard monitor``: watch the models in production, page their owners (``alerts_cmds``
lists and acknowledges what it raised)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click
from rich.table import Table

from shipyard.errors import ConfigError, ShipyardError

from .app import cli, open_from
from .complete import complete_models
from .output import console, err_console, json_option, markup, print_json
from .progress import progress

if TYPE_CHECKING:
    from shipyard.config.schema import ModelConfig
    from shipyard.monitoring import MonitorRun
    from shipyard.monitoring.backfill import Backfill, PeriodRun
    from shipyard.monitoring.report import MonitorReport


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """``--window 1h`` and ``--every 5m`` as seconds; a bad one is a usage error that says why."""
    if value is None:
        return None
    from shipyard.config.schema import parse_duration

    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if seconds <= 0:
        raise click.BadParameter(f"expected a duration above 0, got {value!r}")
    return seconds


@cli.command()
@click.argument("models", nargs=-1, shell_complete=complete_models)
@click.option(
    "--window",
    callback=_duration,
    help="How far back to look: 30m, 1h, 1d (default: monitoring.window).",
)
@click.option(
    "--rows",
    type=click.IntRange(1),
    help="Judge the newest N predictions instead of a time window.",
)
@click.option(
    "--reference",
    type=click.Choice(["training", "previous"]),
    help="Compare with the version's training data or with the window before (default: monitoring.reference).",
)
@click.option(
    "--every",
    help="Without --data/--by: keep monitoring live, once per this interval (5m, 1h) until "
    "Ctrl-C. With --data or --by: cut the rows into calendar periods (1mo, 7d, 1d; UTC) "
    "and give one verdict per period (a back-fill).",
)
@click.option(
    "--data",
    "data",
    metavar="DATASET@V",
    help="Judge this dataset version's rows, scored by the version MODEL's champion serves "
    "(or MODEL@V), instead of the prediction log.",
)
@click.option(
    "--run",
    "batch_run",
    metavar="ID",
    help="Judge the rows batch run ID logged (shipyard score; it must have succeeded): "
    "drift, prediction drift and performance from the feedback joined to them.",
)
@click.option(
    "--by",
    type=click.Choice(["event_time", "arrival"]),
    help="Time rows by when they happened (the dataset's timestamp column; in the log, the "
    "passthrough field of that name) or when they were logged (arrival, the default for the "
    "live log).",
)
@click.option("--no-notify", is_flag=True, help="Move alert state along but send nothing.")
@json_option
@click.pass_context
def monitor(
    ctx: click.Context,
    models: tuple[str, ...],
    window: float | None,
    rows: int | None,
    reference: str | None,
    every: str | None,
    data: str | None,
    batch_run: str | None,
    by: str | None,
    no_notify: bool,
    as_json: bool,
) -> None:
    """Judge MODEL's recent predictions (default: every model): drift per feature, data
    quality, performance from feedback, latency and errors; fire and resolve alerts.

    Runs once (for cron) unless --every is given. Each run keeps a JSON and an HTML
    report and its figures in the metadata store.

    --data DATASET@V judges a dataset version instead (history to back-fill), --run ID
    the rows a batch run logged; with --every 1mo the rows are cut into calendar months
    by their event time, one verdict and one stored run per month. A back-fill moves no
    alert state and pages nobody; one window (no --every) alerts as a live run does.
    """
    if data is not None or batch_run is not None or by is not None:
        source = _Source(data, batch_run, by)
        _batch(ctx, models, window, rows, reference, every, source, no_notify, as_json)
        return
    interval = _interval(ctx, every)
    with open_from(ctx) as project, _unreached_owners_said_here():
        names = list(models) or list(project.config.models)
        for name in names:
            project.models.config(name)  # an unknown model fails before any work
        if not names:
            raise ConfigError("the project declares no models", hint="add one under 'models:'")
        while True:
            runs = []
            for name in names:
                try:
                    with progress(f"monitoring {name}", steps=4, quiet=as_json) as step:
                        run = project.monitor(
                            name,
                            window=window,
                            rows=rows,
                            reference=reference,
                            notify=not no_notify,
                            progress=step,
                        )
                    runs.append(run)
                except ShipyardError as exc:
                    if interval is None:
                        raise
                    err_console.print(
                        f"monitoring {name} failed: {exc}; trying again in {interval:g} s"
                    )
            if as_json and runs:
                print_json([run.as_dict() for run in runs] if len(names) > 1 else runs[0].as_dict())
            elif not as_json:
                for run in runs:
                    _print(run, project.monitoring.link(run.html_key))
            refused = _unreachable(runs, project.monitoring.alerts.models)
            if refused is not None:
                if interval is None:
                    raise refused
                err_console.print(markup("[bold red]error:[/] {}", refused.message), soft_wrap=True)
            if interval is None:
                return
            try:
                time.sleep(interval)
            except KeyboardInterrupt:
                err_console.print("stopped")
                return


def _interval(ctx: click.Context, every: str | None) -> float | None:
    """``--every`` of the live loop: a duration; a calendar period there is a usage error."""
    if every is None:
        return None
    from shipyard.monitoring.periods import Every

    try:
        Every.parse(every)
        months = every.strip().endswith("mo")
    except ValueError:
        months = False
    if months:
        raise click.UsageError(
            f"--every {every} without --data or --by repeats live monitoring, and a month is "
            "no fixed interval; to cut history into calendar months add --by event_time "
            "(or --data DATASET@V); to repeat live monitoring give a duration like 5m or 1h",
            ctx,
        )
    param = next(p for p in ctx.command.params if p.name == "every")
    return _duration(ctx, param, every)


@dataclass(frozen=True)
class _Source:
    """Which rows ``monitor`` judges when they are not the live log's newest window."""

    data: str | None
    run: str | None
    by: str | None


def _batch(
    ctx: click.Context,
    models: tuple[str, ...],
    window: float | None,
    rows: int | None,
    reference: str | None,
    every: str | None,
    source: _Source,
    no_notify: bool,
    as_json: bool,
) -> None:
    """``--data``/``--run``/``--by``: one window of a dataset version, of a batch run or of
    the log by event time, or (``--every``) a back-fill, one verdict per calendar period."""
    from shipyard.monitoring.periods import Every

    if source.data is not None and source.run is not None:
        raise click.UsageError("--data or --run: one source of rows, not both", ctx)
    if len(models) != 1:
        raise click.UsageError(
            "--data, --run and --by judge one model: name it (shipyard monitor MODEL)", ctx
        )
    if rows is not None:
        raise click.UsageError(
            "--rows picks the live log's newest rows: leave it out with --data, --run or --by",
            ctx,
        )
    if reference == "previous":
        raise click.UsageError(
            "--reference previous compares a live window with the one before; a dataset "
            "version, a batch run and periods are compared with the training data: leave out "
            "--reference",
            ctx,
        )
    if every is not None:
        if window is not None:
            raise click.UsageError(
                "--window with --every periods: the periods cut the rows themselves; "
                "leave out --window (or --every, to judge one window)",
                ctx,
            )
        try:
            Every.parse(every)
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx, param_hint="'--every'") from None
    if (source.data is not None or source.run is not None) and window is not None:
        raise click.UsageError(
            "--window picks the live log's rows: leave it out with --data or --run", ctx
        )
    if source.run is not None and "@" in models[0]:
        raise click.UsageError(
            f"--run {source.run} judges the answers the run logged: name the model without a "
            "version (the run says which version scored)",
            ctx,
        )
    name, _, version = models[0].partition("@")
    with open_from(ctx) as project, _unreached_owners_said_here():
        project.models.config(name)  # an unknown model fails before any work
        scorer = f"{name}@{version}" if version else None
        with progress(f"monitoring {name}", steps=4, quiet=as_json) as step:
            if every is not None:
                found = project.monitor(
                    name, data=source.data, scorer=scorer, by=source.by, run=source.run,
                    every=every, progress=step,
                )  # fmt: skip
            else:
                run = project.monitor(
                    name, data=source.data, scorer=scorer, by=source.by, run=source.run,
                    window=window, notify=not no_notify, progress=step,
                )  # fmt: skip
        if every is not None:
            if as_json:
                print_json(found.as_dict())
            else:
                _print_periods(found, project.monitoring.link(found.html_key or ""))
            return
        if as_json:
            print_json(run.as_dict())
        else:
            _print(run, project.monitoring.link(run.html_key))
        refused = _unreachable([run], project.monitoring.alerts.models)
        if refused is not None:
            raise refused


def _what_drifted(period: PeriodRun) -> str:
    """Everything the period's verdict rests on: the drifted features, the model's own
    outputs (``prediction score``) and the features taken together."""
    said = list(period.drifted)
    report = period.report
    if report is not None:
        said += [f"prediction {f.feature}" for f in report.prediction_drift if f.drifted]
        if report.multivariate is not None and report.multivariate.drifted:
            said.append("all features together")
    return ", ".join(said) or "-"


def _print_periods(found: Backfill, link: str) -> None:
    """One line per period: rows, drifted features, the top drift, performance, verdict."""
    console.print(
        markup("[bold]{}[/] by {}: {}; reference {}", found.model, found.every, found.said,
               found.reference),
        soft_wrap=True,
    )  # fmt: skip
    for note in found.notes:
        console.print(markup("  [yellow]{}[/]", note), soft_wrap=True)
    table = Table(box=None)
    for column in ("period", "rows", "drifted", "top drift", "performance", "verdict"):
        # a period and its row count stay whole however narrow the terminal
        table.add_column(column, no_wrap=column in ("period", "rows"))
    for p in found.periods:
        shown = ", ".join(f"{k} {v:.3f}" for k, v in list(p.performance.items())[:2]) or "-"
        colour = {"drifted": "red", "ok": "green"}.get(p.verdict, "dim")
        verdict = p.verdict + (f" ({p.note})" if p.note and p.verdict != "no rows" else "")
        if p.would_fire:
            verdict += f"; would fire {', '.join(p.would_fire)}"
        table.add_row(
            p.period.label, f"{p.rows:,}", _what_drifted(p), p.top or "-", shown,
            markup(f"[{colour}]{{}}[/]", verdict),
        )  # fmt: skip
    console.print(table)
    console.print(
        markup("  [dim]a back-fill moves no alert state and notifies nobody[/]"), soft_wrap=True
    )
    console.print(f"  report: {link}", soft_wrap=True)


@contextmanager
def _unreached_owners_said_here() -> Iterator[None]:
    """Drop the alerting layer's log line of an owner a channel cannot reach: ``monitor``
    says it once, as the error it ends with (:func:`_unreachable`)."""
    from shipyard.monitoring.alerting import UNREACHED

    alerting_log = logging.getLogger("shipyard.monitoring.alerting")

    def not_said_here(record: logging.LogRecord) -> bool:
        return not getattr(record, UNREACHED, False)

    alerting_log.addFilter(not_said_here)
    try:
        yield
    finally:
        alerting_log.removeFilter(not_said_here)


def _unreachable(runs: list[MonitorRun], models: Mapping[str, ModelConfig]) -> ConfigError | None:
    """A run's alert that a channel could not carry for a missing setting, as the error
    ``monitor`` ends with (the alert is recorded, the message stays owed)."""
    from shipyard.monitoring import NOT_CONFIGURED

    missed = [d for run in runs for d in run.deliveries if d.status == NOT_CONFIGURED]
    if not missed:
        return None
    said = []
    for d in missed:
        config = models.get(d.model or "")
        owner = config.owner.name if config else "?"
        said.append(
            f"alert #{d.alert} of {d.model} did not reach its owner {owner}: "
            f"{d.channel.label} is not configured: {d.error}"
        )
    return ConfigError(
        "; ".join(dict.fromkeys(said)),
        hint="or give the owner a webhook, slack or file; the message stays owed and goes out "
        "on the next `shipyard monitor`; `shipyard doctor` lists every destination nothing "
        "can carry",
    )


def _print(run: MonitorRun, link: str) -> None:
    from shipyard.monitoring import NOT_CONFIGURED

    report = run.report
    w = report.window
    console.print(
        markup(
            "[bold]{}[/]: {:,} predictions, {} → {} UTC; reference {}",
            report.model, report.rows, w["start"][:19], w["end"][:19], report.reference,
        )
    )  # fmt: skip
    if report.said:  # a dataset version, a batch run: what the window was
        console.print(markup("  window: {}", report.said), soft_wrap=True)
    if report.outage:
        console.print(markup("  [bold red]{}[/]", report.outage), soft_wrap=True)
    for note in report.notes:
        console.print(markup("  [yellow]{}[/]", note))
    table = Table(
        "feature", "kind", "decided by", "flags when", "rows", "detects", "verdict", box=None
    )
    for f in report.drift + report.prediction_drift:
        if f.drifted is None:
            table.add_row(
                f.feature, f.kind, "-", "-", f"{f.rows:,}", "-", markup("[dim]{}[/]", f.reason)
            )
            continue
        verdict = markup("[red]DRIFTED[/]" if f.drifted else "[green]ok[/]")
        test = "" if f.test_p_value is None else f", {f.test} p {f.test_p_value:.2g}"
        table.add_row(
            f.feature, f.kind, f"{f.method} {f.decisive:.4g}{test}", f.flags_when,
            f"{f.rows:,}", f.detects, verdict,
        )  # fmt: skip
    if report.drift:
        console.print(table)
    m = report.multivariate
    if m is not None:
        if m.drifted is None:
            console.print(markup("  [dim]all features together: {}[/]", m.reason), soft_wrap=True)
        else:
            said = "[red]DRIFTED[/]" if m.drifted else "[green]ok[/]"
            console.print(
                markup(
                    "  all {} features together ({}, {} component(s)): mean error {:.4g} on "
                    "{:,} rows, reference {:.4g}, flags when {}: " + said,
                    len(m.features), m.method, m.components, m.value, m.rows, m.reference,
                    m.flags_when,
                ),
                soft_wrap=True,
            )  # fmt: skip
    worst = [
        q
        for q in report.quality
        if q.null_rate or q.out_of_range or q.unseen_categories or q.rejected
    ]
    for q in worst:
        console.print(
            f"  quality {q.feature}: nulls {q.null_rate:.1%}, outside training range {q.out_of_range:.1%}, "
            f"unseen categories {q.unseen_categories:.1%}, refused requests {q.rejected}"
        )
    p = report.performance
    if p.metrics:
        metrics = ", ".join(f"{k} {v:.4f}" for k, v in p.metrics.items())
        console.print(f"  performance on {p.labelled} labelled rows: {metrics}")
    if p.note:
        console.print(markup("  [dim]feedback: {}[/]", p.note))
    _print_estimates(report)
    s = report.service
    if not s.total:
        console.print("  service: no prediction requests in the window")
    else:
        causes = ", ".join(f"{c} {v:.1%}" for c, v in s.degraded_by_cause.items())
        latency = (
            f"p50/p95/p99 {s.latency_p50}/{s.latency_p95}/{s.latency_p99} ms (budget {s.budget_ms:g})"
            if s.requests
            else "none answered"
        )
        console.print(
            f"  service: {s.requests:,} answered requests, {latency}, "
            f"degraded {s.degraded_rate:.1%}{f' ({causes})' if causes else ''}, "
            f"errors {s.error_rate:.1%}, refused {s.rejected_rate:.1%}, shed {s.shed_rate:.1%}"
        )
    for alert in run.alerts:
        colour = "green" if alert.state == "resolved" else "red"
        console.print(
            markup(
                f"  [{colour}]alert #{{}} {{}} {{}}[/]: {{}}",
                alert.id, alert.rule, alert.state.upper(), alert.message,
            )
        )  # fmt: skip
    for d in run.deliveries:
        if d.ok:
            mark = markup("sent")
        elif d.status == NOT_CONFIGURED:  # why, and what to set: the error at the end
            mark = markup("[bold red]NOT CONFIGURED[/]")
        else:
            mark = markup("[red]FAILED after {} attempt(s)[/]: {}", d.attempts, d.error)
        console.print(markup("  alert #{} to {}: ", d.alert, d.channel.label) + mark)
    console.print(f"  report: {link}")


def _print_estimates(report: MonitorReport) -> None:
    """``monitoring.estimate: cbpe``: each estimate, its interval, the realized figure beside."""
    found = report.estimated
    if found is None:
        return
    if found.estimates:
        shown = ", ".join(
            f"{e.metric} {e.value:.4f} [{e.low:.4f}, {e.high:.4f}]"
            + ("" if e.realized is None else f" (realized {e.realized:.4f})")
            for e in found.estimates
        )
        console.print(
            f"  estimated without labels (cbpe, {found.level:.0%} interval) on "
            f"{found.rows:,} answers: {shown}",
            soft_wrap=True,
        )
        console.print(markup("  [dim]calibration: {}[/]", found.calibration), soft_wrap=True)
    if found.note:
        console.print(markup("  [dim]estimate: {}[/]", found.note), soft_wrap=True)
