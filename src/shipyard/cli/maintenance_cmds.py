"""``shipyard retrain``, ``runs``, ``rollback`` and ``worker``: the models kept current."""

from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime
from types import FrameType
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from shipyard.errors import ShipyardError

from .app import cli, open_from
from .complete import complete_models
from .output import console, err_console, json_option, markup, print_json
from .progress import progress

if TYPE_CHECKING:
    from shipyard.maintenance import Check, RetrainRun
    from shipyard.project import Project

MARKS = {True: "[green]pass[/]", False: "[red]FAIL[/]", None: "[yellow]not judged[/]"}
# runs that ended without a model the policy accepted: `shipyard retrain` exits 1
UNACCEPTED = ("rejected", "failed")
RUNS_SEARCHED = 50  # a model's newest runs searched for the one that made a candidate


@cli.command()
@click.argument("name", shell_complete=complete_models)
@click.option("--reason", help="Why: kept in the run and the audit log.")
@json_option
@click.pass_context
def retrain(ctx: click.Context, name: str, reason: str | None, as_json: bool) -> None:
    """Retrain NAME now by its policy: data, train, evaluate, challenger, then shadow or decide.

    Exit 1 when the candidate was rejected or a step failed (the run says why).
    """
    status = progress(f"retraining {name}", quiet=as_json)
    with open_from(ctx) as project:
        project.models.config(name)  # an unknown model fails before any work
        with status:
            run = project.retrain(name, reason=reason)
    if as_json:
        print_json(run.as_dict())
    else:
        print_run(run)
    if run.state in UNACCEPTED:
        ctx.exit(1)


@cli.group()
def runs() -> None:
    """Retraining runs: what started them, on what data, every check, the decision."""


@runs.command("list")
@click.argument("name", required=False, shell_complete=complete_models)
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@json_option
@click.pass_context
def runs_list(ctx: click.Context, name: str | None, limit: int, as_json: bool) -> None:
    """Retraining runs, newest first (of model NAME only, if given)."""
    with open_from(ctx) as project:
        if name:
            project.models.config(name)
        found = project.maintenance.runs(name, limit=limit)
    if as_json:
        print_json([run.as_dict() for run in found])
        return
    if not found:
        console.print("no retraining runs yet" + (f" of {name}" if name else ""))
        return
    table = Table(box=None)
    for column in ("id", "model", "state", "trigger", "data", "versions", "decision"):
        table.add_column(column, no_wrap=column in ("id", "state", "versions"))
    table.add_column("started", no_wrap=True)
    table.add_column("took", no_wrap=True)
    for run in found:
        versions = f"{_version(run.champion)}→{_version(run.candidate)}"
        table.add_row(
            str(run.id), run.model, run.state, run.trigger, run.dataset or "-", versions,
            run.decision or "-", f"{run.started_at:%m-%d %H:%M}", _took(run),
        )  # fmt: skip
    console.print(table)


@runs.command("show")
@click.argument("run_id", metavar="ID", type=int)
@json_option
@click.pass_context
def runs_show(ctx: click.Context, run_id: int, as_json: bool) -> None:
    """One run: trigger, data version, feedback rows, candidate, every check with its
    figures, the shadow comparison, the decision and who made it, the steps."""
    with open_from(ctx) as project:
        run = project.maintenance.run(run_id)
        comparison = run.comparison
        if run.state == "shadowing":  # the comparison so far, read from the log now
            comparison = project.maintenance.comparison(run.id)
    if as_json:
        data = run.as_dict()
        data["comparison"] = comparison
        print_json(data)
        return
    print_run(run, comparison=comparison, steps=True)


@runs.command("reject")
@click.argument("run_id", metavar="ID", type=int)
@click.option("--reason", required=True, help="Why: kept in the run and the audit log (required).")
@json_option
@click.pass_context
def runs_reject(ctx: click.Context, run_id: int, reason: str, as_json: bool) -> None:
    """Say no to run ID (in shadow or awaiting approval): its candidate is never promoted,
    the challenger alias goes and the model may be retrained again."""
    with open_from(ctx) as project:
        run = project.maintenance.reject_by_hand(run_id, reason)
    if as_json:
        print_json(run.as_dict())
        return
    print_run(run)


@cli.command()
@click.argument("name", shell_complete=complete_models)
@click.option(
    "--to",
    "to",
    type=click.IntRange(1),
    help="The version to go back to (default: the previous champion).",
)
@click.option("--reason", required=True, help="Why: kept in the audit log (required).")
@json_option
@click.pass_context
def rollback(ctx: click.Context, name: str, to: int | None, reason: str, as_json: bool) -> None:
    """Move NAME's champion back to the previous champion (from the audit trail), in one step."""
    with open_from(ctx) as project:
        project.models.config(name)
        before, after = project.rollback(name, to=to, reason=reason)
    if as_json:
        print_json({"model": name, "alias": "champion", "from": before, "to": after})
        return
    console.print(markup("{}@champion → version {} (was {}), rolled back", name, after, before))
    console.print("serving follows within server.alias_poll_s")


@cli.command()
@click.option(
    "--once",
    is_flag=True,
    help="One round (if the lease is free), wait for the runs it started, then exit.",
)
@click.pass_context
def worker(ctx: click.Context, once: bool) -> None:
    """Monitor and retrain every model of the project, as the one holder of its lease.

    Run one per project (more are fine: one acts, the others wait and take over
    within worker.lease_s when it dies). SIGTERM or Ctrl-C: it finishes the step,
    gives the lease up and exits 0; a second one stops at once.
    """
    maintenance_log = logging.getLogger("shipyard.maintenance")
    level = maintenance_log.level
    if maintenance_log.getEffectiveLevel() > logging.INFO:
        maintenance_log.setLevel(logging.INFO)  # one line per lifecycle event
    try:
        _work(ctx, once)
    finally:
        maintenance_log.setLevel(level)


def _work(ctx: click.Context, once: bool) -> None:
    from shipyard.maintenance.worker import Worker  # the triggers read the prediction log

    with open_from(ctx, lazy_stores=True) as project:  # a database still starting: ticks wait
        keeper = Worker(project)
        if once:
            try:
                acted = keeper.tick()
            finally:
                keeper.shutdown()
            if not acted:
                held = keeper.lease.held_by()
                who = f"{held[0]} until {held[1]:%H:%M:%S} UTC" if held else "another worker"
                err_console.print(f"the worker lease is held by {who}; nothing done")
            return
        stop = threading.Event()

        def _stop(signum: int, _frame: FrameType | None) -> None:
            if stop.is_set():
                raise KeyboardInterrupt
            err_console.print(
                f"{signal.Signals(signum).name}: stopping after this step (again to stop at once)"
            )
            stop.set()

        previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            keeper.run_forever(stop)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


# -- printing a run (also used by `shipyard promote`) -----------------------------------------


def candidate_run(project: Project, ref: str) -> tuple[RetrainRun, dict[str, Any] | None] | None:
    """The newest run whose candidate ``ref`` is, with its comparison (read live from the
    log while it shadows); ``None`` when no run made it."""
    try:
        version = project.models.resolve(ref)
        runs = project.maintenance.runs(version.model, limit=RUNS_SEARCHED)
    except ShipyardError:  # a wrong ref: `promote` itself says what is wrong
        return None
    made = [run for run in runs if run.candidate == version.version]
    if not made:
        return None
    run = next((r for r in made if r.active), made[0])
    comparison = run.comparison
    if run.state == "shadowing":
        comparison = project.maintenance.comparison(run.id)
    return run, comparison


def print_evidence(run: RetrainRun, comparison: dict[str, Any] | None) -> None:
    """What `shipyard promote` shows of a candidate's run before it moves the alias."""
    console.print(
        markup(
            "[bold]{}[/] is the candidate of run #{} ({}, {})",
            run.candidate_ref, run.id, run.trigger, run.state.replace("_", " "),
        )
    )  # fmt: skip
    print_checks(run.checks)
    if comparison:
        print_comparison(comparison)
    elif run.state in ("shadowing", "awaiting_approval"):
        console.print("  comparison  none (no shadow period in the policy, or no requests yet)")


def print_run(
    run: RetrainRun, *, comparison: dict[str, Any] | None = None, steps: bool = False
) -> None:
    """A run for people: what started it, on what data, its checks, its decision."""
    console.print(
        markup("[bold]run #{}[/] of {}: {}", run.id, run.model, run.state.replace("_", " "))
    )
    console.print(f"  trigger     {run.trigger}" + (f" ({run.reason})" if run.reason else ""))
    console.print(f"  data        {run.dataset or '-'}")
    console.print(f"  feedback    {_feedback(run.feedback)}")
    console.print(f"  candidate   {_ref(run.model, run.candidate)}")
    console.print(f"  champion    {_ref(run.model, run.champion)} (when the run started)")
    print_checks(run.checks)
    comparison = comparison if comparison is not None else run.comparison
    if comparison:
        print_comparison(comparison)
    decided = f" by {run.decided_by}" if run.decided_by else ""
    console.print(f"  decision    {run.decision or 'not yet'}{decided}")
    if run.error:
        console.print(markup("  [red]error[/]       {}", run.error))
    console.print(f"  holder      {run.holder}")
    console.print(
        f"  started     {run.started_at:%Y-%m-%d %H:%M:%S} UTC, took {_took(run)}"
        + ("" if run.finished_at else " so far")
    )
    if steps and run.steps:
        console.print("  steps")
        for step in run.steps:
            at = _clock(step.get("at"))
            detail = f": {step['detail']}" if step.get("detail") else ""
            console.print(f"    {at}  {step.get('step', '?')}{detail}")


def print_checks(checks: list[Check]) -> None:
    """Each check: pass / FAIL / not judged, its name and why, then its figures."""
    if not checks:
        console.print("  checks      none yet")
        return
    console.print("  checks")
    for check in checks:
        console.print(
            markup("    " + MARKS[check.passed] + " {}: {}", check.name, check.detail or "-"),
            soft_wrap=True,
        )
        for key, value in check.figures.items():
            console.print(f"        {key}: {figure(value)}", soft_wrap=True)


def print_comparison(comparison: dict[str, Any]) -> None:
    """The shadow comparison: the champion and the challenger on the same requests."""
    console.print("  comparison" + ("" if comparison else "  no requests compared yet"))
    listed = comparison.get("checks")
    for key, value in comparison.items():
        if key != "checks":
            console.print(f"        {key}: {figure(value)}", soft_wrap=True)
    if isinstance(listed, list) and listed and all(isinstance(c, dict) for c in listed):
        from shipyard.maintenance import Check

        print_checks([Check.from_dict(c) for c in listed])


def figure(value: Any) -> str:
    """A figure for people: numbers to four significant digits, nested ones flattened
    (``accuracy 0.8879, recall 0.07143``), listed checks as ``name pass 0.71 (>= 0.5)``."""
    if isinstance(value, dict):
        if "name" in value and "passed" in value:
            verdict = {True: "pass", False: "FAIL", None: "not judged"}.get(value["passed"], "?")
            shown = f" {figure(value['value'])}" if value.get("value") is not None else ""
            needs = f" ({value['expected']})" if value.get("expected") else ""
            return f"{value['name']} {verdict}{shown}{needs}"
        return ", ".join(f"{k} {figure(v)}" for k, v in value.items() if v is not None) or "-"
    if isinstance(value, list):
        return "; ".join(figure(v) for v in value) or "none"
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def _feedback(feedback: dict[str, Any] | None) -> str:
    if feedback is None:
        return "none used (labels: dataset)"
    if not feedback.get("dataset"):
        return f"no labelled predictions since {_clock(feedback.get('since'), day=True)}"
    return (
        f"{feedback.get('rows', 0)} labelled rows → {feedback['dataset']} "
        f"({feedback.get('accepted', '?')} accepted, {feedback.get('quarantined', 0)} "
        f"quarantined; from {len(feedback.get('segments') or [])} log segments)"
    )


def _ref(model: str, version: int | None) -> str:
    return "-" if version is None else f"{model}@{version}"


def _version(version: int | None) -> str:
    return "-" if version is None else str(version)


def _took(run: RetrainRun) -> str:
    seconds = run.duration_s
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


def _clock(at: Any, *, day: bool = False) -> str:
    """A step's time (an ISO string in the record): ``22:29:41``, or with the day."""
    if isinstance(at, str):
        try:
            at = datetime.fromisoformat(at)
        except ValueError:
            return str(at)
    if isinstance(at, datetime):
        return f"{at:%Y-%m-%d %H:%M:%S} UTC" if day else f"{at:%H:%M:%S}"
    return str(at or "")
