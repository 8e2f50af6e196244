"""``shipyard train`` and ``shipyard models …``: list, show, alias, import, delete."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table
from rich.text import Text

from shipyard.errors import ConfigError

from .app import cli, open_from
from .complete import complete_models
from .output import console, json_option, markup, print_json
from .progress import progress

if TYPE_CHECKING:
    from shipyard.models import ModelCard


@cli.command()
@click.argument("model", shell_complete=complete_models)
@click.option(
    "--data", "data_ref", help="Dataset version to train on, e.g. loans@3 (default: the latest)."
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a training param (repeatable).",
)
@json_option
@click.pass_context
def train(
    ctx: click.Context, model: str, data_ref: str | None, params: tuple[str, ...], as_json: bool
) -> None:
    """Train MODEL on a dataset version, measure its holdout and register the new version."""
    from shipyard.training import parse_params

    with open_from(ctx) as project:
        declared = project.models.config(model)
        overrides = parse_params(list(params), declared.params)
        with progress(f"training {model}", steps=4, quiet=as_json) as step:
            version = project.train(model, data=data_ref, params=overrides, progress=step)
    if as_json:
        print_json(version.as_dict())
        return
    console.print(
        markup(
            "[bold]{}[/] trained on {} in {:.2f}s",
            version.ref, version.dataset, version.training.get("seconds", 0),
        )
    )  # fmt: skip
    for name, value in version.metrics.items():
        console.print(f"  {name:18s} {value:.4f}")
    console.print(f"see it with: shipyard models show {version.ref}")


@cli.group()
def models() -> None:
    """The model registry: versions, aliases, model cards, MLflow import."""


@models.command("list")
@json_option
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List the models: owner, task, version count, aliases, newest version."""
    with open_from(ctx) as project:
        summaries = project.models.summaries()
    if as_json:
        print_json([s.as_dict() for s in summaries])
        return
    table = Table("model", "owner", "task", "versions", "aliases", "latest", box=None)
    for s in summaries:
        aliases = ", ".join(f"{a}→{v}" for a, v in sorted(s.aliases.items())) or "-"
        table.add_row(
            s.name, s.owner, s.task, str(s.versions), aliases, s.latest.ref if s.latest else "-"
        )
    console.print(table)


@models.command()
@click.argument("ref", shell_complete=complete_models)
@json_option
@click.pass_context
def show(ctx: click.Context, ref: str, as_json: bool) -> None:
    """The model card of NAME[@V|@alias]: owner, metrics, lineage to the data, audit trail."""
    with open_from(ctx) as project:
        card = project.models.card(ref)
    if as_json:
        print_json(card.as_dict())
        return
    _print_card(card)


def _print_card(card: ModelCard) -> None:
    v = card.version
    here = [a for a, n in card.aliases.items() if n == v.version]
    console.print(
        markup(
            "[bold]{}[/]  {}  ({}{})",
            v.ref,
            v.task,
            v.status,
            ", " + ", ".join(here) if here else "",
        )
    )
    owner = card.owner
    contact = ", ".join(str(owner[k]) for k in ("email", "webhook", "slack") if k in owner)
    console.print(f"  owner       {owner.get('name', '-')} ({contact or 'no contact'})")
    console.print(f"  versions    {', '.join(map(str, card.versions))}; aliases: "
                  + (", ".join(f"{a}→{n}" for a, n in sorted(card.aliases.items())) or "none"))  # fmt: skip
    console.print(f"  artifact    {v.format}, {v.size:,} bytes, sha256 {v.sha256}")
    console.print(
        f"  made by     {v.source} ({v.created_by}, {v.created_at:%Y-%m-%d %H:%M:%S} UTC)"
    )
    console.print(f"  features    {', '.join(v.features)}")
    if v.metrics:
        console.print(
            "  metrics     " + ", ".join(f"{k} {val:.4f}" for k, val in v.metrics.items())
        )
    _print_metric_history(card)
    if v.params:
        console.print("  params      " + ", ".join(f"{k}={val}" for k, val in v.params.items()))
    if v.training:
        split = v.training.get("split", {})
        console.print(
            f"  training    {v.training.get('entry_point')}: {v.training.get('rows_train')} rows, "
            f"holdout {v.training.get('rows_holdout')} ({split.get('strategy')} split, seed {split.get('seed')})"
        )
    git = v.code.get("git")
    console.print(
        f"  code        {('git ' + git[:12] + (' (dirty)' if v.code.get('dirty') else '')) if git else 'not in a git repository'}"
    )
    _print_environment(card)
    if "mlflow" in v.extra:
        console.print(
            f"  mlflow      run {v.extra['mlflow'].get('run_id', '-')}, from {v.extra.get('imported_from')}"
        )
    console.print("  lineage" if card.lineage else "  lineage     no dataset version recorded")
    for step in card.lineage:
        sources = "; ".join(f"{s['kind']} {s['uri']}" for s in step.get("sources", []))
        console.print(
            f"    {step['ref']} ({step.get('rows', '?'):,} rows, {step.get('content_hash', '')[:12]}) ← {sources}"
        )
    table = Table("when (UTC)", "who", "what", "details", "why", box=None, title="audit trail")
    for event in card.history[:20]:
        table.add_row(
            f"{event.at:%Y-%m-%d %H:%M:%S}",
            event.actor,
            event.action,
            _details(event.detail),
            event.reason or "",
        )
    console.print(table)


def _print_metric_history(card: ModelCard) -> None:
    """One line per metric: its value in each version, this version's in bold."""
    if not any(len(points) > 1 for points in card.metric_history.values()):
        return
    console.print("  history")
    width = max(len(name) for name in card.metric_history)
    for name, points in card.metric_history.items():
        line = Text(f"    {name:{width}s}  ")
        for i, (number, value) in enumerate(points):
            line.append(" → " if i else "")
            shown = f"{value:.4f}" if isinstance(value, int | float) else str(value)
            text = f"v{number} {shown}"
            line.append(text, "bold" if number == card.version.version else "")
        console.print(line, soft_wrap=True)


def _print_environment(card: ModelCard) -> None:
    """The recorded environment, each package that differs here marked with what is here."""
    recorded = card.version.environment
    check = card.environment
    parts = [("python", str(recorded.get("python", "?")))]
    parts += [(str(k), str(val)) for k, val in (recorded.get("packages") or {}).items()]
    line = Text("  environment ")
    for i, (name, value) in enumerate(parts):
        found = check.of(name) if check else None
        line.append(", " if i else "")
        if found is None or found.ok:
            line.append_text(markup("{} {}", name, value))
        else:
            line.append_text(markup("[red]{} {} ({})[/]", name, value, found.note()))
    console.print(line)
    if check is not None and not check.ok:
        console.print(markup("  [yellow]MISMATCH[/]    {}", check.summary()))
        console.print(f"              to match it: {check.fix(strict=False)}")


def _details(detail: dict[str, object]) -> str:
    if "alias" in detail:
        return f"{detail['alias']}: {detail.get('from') or '-'} → {detail.get('to') or '-'}"
    if "version" in detail:
        return f"version {detail['version']}"
    return ""


@models.command()
@click.argument("ref", shell_complete=complete_models)
@click.argument("alias")
@click.option(
    "--delete", is_flag=True, help="Remove ALIAS instead (REF is then just the model name)."
)
@click.option(
    "--force",
    is_flag=True,
    help="champion only: move it although the evaluation gate refuses (needs --reason; audited).",
)
@click.option("--reason", help="Why: kept in the audit log (required with --force).")
@json_option
@click.pass_context
def alias(
    ctx: click.Context,
    ref: str,
    alias: str,
    delete: bool,
    force: bool,
    reason: str | None,
    as_json: bool,
) -> None:
    """Point ALIAS (champion, challenger, any name) at NAME@V, or remove it with --delete.

    The champion passes the same evaluation gate as 'shipyard promote': NAME@V's
    latest evaluation must have passed, or --force --reason overrides it (audited).
    """
    name = ref.split("@", 1)[0]
    if force and (delete or alias != "champion"):
        raise ConfigError(
            "--force only overrides the champion's evaluation gate; other aliases are not gated",
            hint=f"drop --force: shipyard models alias {ref} {alias}",
        )
    with open_from(ctx) as project:
        if delete:
            before: int | None = project.models.delete_alias(name, alias, reason=reason)
            after: int | None = None
        elif alias == "champion":  # the gate of 'shipyard promote', not a side door around it
            before, after = project.promote(ref, to=alias, force=force, reason=reason)
        else:
            before, after = project.models.alias(ref, alias, reason=reason)
    result: dict[str, object] = {"model": name, "alias": alias, "from": before, "to": after}
    if alias == "champion" and not delete:
        result["forced"] = force
    if as_json:
        print_json(result)
    elif delete:
        console.print(f"removed {result['model']}@{alias} (it pointed at version {result['from']})")
    elif before == after:
        console.print(f"{result['model']}@{alias} is already version {after}: nothing moved")
    else:
        moved = f" (was {result['from']})" if result["from"] else ""
        forced = " (forced)" if force else ""
        console.print(f"{result['model']}@{alias} → version {result['to']}{moved}{forced}")


@models.command("import")
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", required=True, help="The declared model to import it as.")
@click.option(
    "--data", "data_ref", help="The dataset version it was trained on, if known (lineage)."
)
@click.option(
    "--trust-pickle",
    is_flag=True,
    help="Accept a pickled model (runs code on load); it is stored as skops.",
)
@json_option
@click.pass_context
def import_(
    ctx: click.Context,
    path: Path,
    name: str,
    data_ref: str | None,
    trust_pickle: bool,
    as_json: bool,
) -> None:
    """Import the scikit-learn model of an MLflow model directory as the next version of --name."""
    with open_from(ctx) as project:
        version = project.models.import_mlflow(
            path, name, trust_pickle=trust_pickle, dataset=data_ref
        )
    if as_json:
        print_json(version.as_dict())
        return
    console.print(
        markup("imported {} as [bold]{}[/] (stored as {})", path, version.ref, version.format)
    )


@models.command()
@click.argument("ref", shell_complete=complete_models)
@click.option("--reason", help="Why: kept in the audit log.")
@json_option
@click.pass_context
def delete(ctx: click.Context, ref: str, reason: str | None, as_json: bool) -> None:
    """Delete NAME@V; while an alias points at it, it is archived instead."""
    with open_from(ctx) as project:
        version = project.models.delete(ref, reason=reason)
    if as_json:
        print_json(version.as_dict())
        return
    if version.status == "archived":
        console.print(
            f"{version.ref} is archived, not deleted: an alias points at it (move the alias first)"
        )
    else:
        console.print(f"deleted {version.ref}")
