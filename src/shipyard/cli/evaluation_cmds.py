"""``shipyard evaluate`` and ``shipyard promote``: evidence first, then the gate."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click
from rich.table import Column, Table

from .app import cli, open_from
from .complete import complete_models
from .maintenance_cmds import candidate_run, print_evidence
from .output import console, json_option, markup, print_json
from .progress import progress

if TYPE_CHECKING:
    from shipyard.evaluation import Evaluation


@cli.command()
@click.argument("ref", shell_complete=complete_models)
@click.option(
    "--data",
    "data_ref",
    help="Evaluate on this dataset version (default: the version's recorded holdout).",
)
@json_option
@click.pass_context
def evaluate(ctx: click.Context, ref: str, data_ref: str | None, as_json: bool) -> None:
    """Run MODEL[@V]'s evaluation spec; keep the report (JSON and HTML). Exit 1 when a check fails."""
    if "@" not in ref:
        ref = f"{ref}@latest"
    busy = progress(f"evaluating {ref}", steps=4, quiet=as_json)
    with open_from(ctx) as project, busy as step:
        result = project.evaluate(ref, data=data_ref, progress=step)
    if as_json:
        print_json(result.as_dict())
    else:
        _print(result)
    if not result.report.passed:
        ctx.exit(1)


def _print(result: Evaluation) -> None:
    report = result.report
    verdict = "[green]PASSED[/]" if report.passed else "[red]FAILED[/]"
    rows = "" if (report.dataset or "").endswith(" rows)") else f" ({report.rows:,} rows)"
    console.print(markup("[bold]{}[/] on {}{}: " + verdict, report.ref, report.dataset, rows))
    if report.holdout.get("note"):  # said before any number, so no number is read as a holdout's
        console.print(markup("[yellow]{}[/]", report.holdout["note"]))
    # a setting's key in the detail is folded, never cut: it is what the reader must type
    table = Table("", "check", "value", "needs", Column("detail", overflow="fold"), box=None)
    for check in report.checks:
        mark = markup("[green]pass[/]" if check.passed else "[red]FAIL[/]")
        value = f"{check.value:.4g}" if isinstance(check.value, float) else ""
        table.add_row(mark, check.name, value, check.expected, check.detail)
    console.print(table)
    for check in report.failed:
        for case in check.failures:
            console.print(
                markup(
                    "  [red]{}[/]: {}", check.name, ", ".join(f"{k}={v}" for k, v in case.items())
                )
            )
    console.print("metrics: " + ", ".join(f"{k} {v:.4f}" for k, v in report.metrics.items()))
    console.print(f"report: {result.html_url}")


@cli.command()
@click.argument("ref", shell_complete=complete_models)
@click.option("--to", "alias", default="champion", show_default=True, help="The alias to move.")
@click.option(
    "--force",
    is_flag=True,
    help="Promote although the evaluation failed or is missing (needs --reason).",
)
@click.option("--reason", help="Why: kept in the audit log (required with --force).")
@json_option
@click.pass_context
def promote(
    ctx: click.Context, ref: str, alias: str, force: bool, reason: str | None, as_json: bool
) -> None:
    """Point --to (champion) at NAME@V, if the version's latest evaluation passed.

    When NAME@V is the candidate of a retraining run, its checks and shadow comparison
    are printed first.
    """
    with open_from(ctx) as project:
        evidence = candidate_run(project, ref) if alias == "champion" else None
        if evidence is not None and not as_json:  # the comparison, before the alias moves
            print_evidence(*evidence)
        before, after = project.promote(ref, to=alias, force=force, reason=reason)
    name = ref.split("@", 1)[0]
    if as_json:
        result: dict[str, Any] = {
            "model": name, "alias": alias, "from": before, "to": after, "forced": force,
        }  # fmt: skip
        if evidence is not None:
            run, comparison = evidence
            result["run"] = {
                "id": run.id,
                "state": run.state,
                "checks": [c.as_dict() for c in run.checks],
                "comparison": comparison,
            }
        print_json(result)
        return
    if before == after:
        console.print(markup("{}@{} is already version {}: nothing moved", name, alias, after))
        return
    moved = f" (was {before})" if before else ""
    console.print(
        markup("{}@{} → version {}{}" + (" [yellow](forced)[/]" if force else ""),
               name, alias, after, moved)
    )  # fmt: skip
