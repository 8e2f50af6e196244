"""``shipyard models compare``: versions side by side, what differs marked.

On a terminal a differing row is bold with its best metric value green; in plain
output (a pipe, a file) the same rows carry a ``*`` in front, so the mark
survives without colour. Rows equal across every version are folded into one
line unless ``--all``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table
from rich.text import Text

from .app import open_from
from .models_cmds import models
from .output import console, json_option, print_json

if TYPE_CHECKING:  # the evaluation stage loads numpy: only when the command runs
    from shipyard.evaluation import ComparisonRow, VersionComparison

MARK = "*"
_FOLDABLE = ("param", "metric", "evaluated")  # the rows --all unfolds
_FIGURES = ("metric", "evaluated")


@models.command()
@click.argument("name")
@click.argument("versions", nargs=-1)
@click.option(
    "--all", "show_all", is_flag=True, help="Show params and metrics equal in every version too."
)
@click.option(
    "--latest",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Without VERSIONS: how many of the newest versions join the champion and challenger.",
)
@json_option
@click.pass_context
def compare(
    ctx: click.Context,
    name: str,
    versions: tuple[str, ...],
    show_all: bool,
    latest: int,
    as_json: bool,
) -> None:
    """Compare versions of model NAME (default: champion, challenger and the newest few):
    params, metrics, dataset version, evaluation verdict, with the differences marked.

    VERSIONS are numbers or aliases: 'shipyard models compare risk 3 5 champion'.
    """
    with open_from(ctx) as project:
        result = project.compare(name, list(versions) or None, latest=latest)
    if as_json:
        print_json(result.as_dict())
        return
    _print(result, show_all=show_all)


def _print(result: VersionComparison, *, show_all: bool) -> None:
    styled = console.is_terminal
    table = Table(box=None, title=f"{result.model}: {len(result.versions)} versions")
    table.add_column("", no_wrap=True)
    table.add_column("", no_wrap=True)
    for number in result.versions:
        aliases = result.aliases.get(number) or []
        table.add_column(f"@{number}" + (f" ({', '.join(aliases)})" if aliases else ""))
    hidden = 0
    section = ""
    for row in result.rows:
        if row.section in _FOLDABLE and not row.differs and not show_all:
            hidden += 1
            continue
        if row.name == "aliases":  # in the column headers already
            continue
        label = row.section if row.section != section else ""
        section = row.section
        cells = [
            _cell(row, value, number, styled)
            for value, number in zip(row.values, result.versions, strict=True)
        ]
        mark = f"{MARK} " if row.differs else "  "
        name = Text(mark + row.name, style="bold yellow" if row.differs and styled else "")
        table.add_row(Text(label, style="dim" if styled else ""), name, *cells)
    console.print(table)
    notes = []
    if result.differing:
        notes.append(f"{MARK} differs between the versions")
    if hidden:
        notes.append(f"{hidden} params/metrics equal in every version hidden (--all shows them)")
    if notes:
        console.print("; ".join(notes), soft_wrap=True)


def _cell(row: ComparisonRow, value: Any, number: int, styled: bool) -> Text:
    """A value; on a terminal the best of a differing metric is green."""
    best = styled and row.best == number
    text = _format(value) if row.section in _FIGURES else _plain(value)
    return Text(text, style="bold green" if best else "")


def _plain(value: Any) -> str:
    """A param or a fact as it was recorded (``0.1`` stays ``0.1``)."""
    if value is None:
        return "-"
    return str(value)


def _format(value: Any) -> str:
    """A figure to four decimals."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.4f}" if abs(value) < 1e5 else f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)
