"""``shipyard reports list / open``: the evaluation and monitoring reports, by id.

A report's path is the one thing a person copies from this output, so it is printed
whole on its own line's end (never wrapped or cut, whatever the terminal's width).
"""

from __future__ import annotations

import sys
import webbrowser
from pathlib import Path

import click
from rich.text import Text

from shipyard.errors import NotFoundError

from .app import cli, open_from
from .output import console, err_console, json_option, markup, print_json

_VERDICT_STYLE = {True: "green", False: "red", None: "yellow"}


@cli.group()
def reports() -> None:
    """The HTML reports of evaluations and monitoring runs: list them, open one."""


@reports.command("list")
@click.argument("name", required=False)
@click.option(
    "--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Newest N only."
)
@json_option
@click.pass_context
def list_(ctx: click.Context, name: str | None, limit: int, as_json: bool) -> None:
    """List the reports (of model NAME), newest first: id, kind, model@version, created,
    verdict, path."""
    with open_from(ctx) as project:
        entries = project.reports.list(name, limit=limit)
    if as_json:
        print_json([e.as_dict() for e in entries])
        return
    if not entries:
        what = f"model '{name}'" if name else "this project"
        console.print(
            f"no reports for {what} yet: 'shipyard evaluate' and 'shipyard monitor' write them"
        )
        return
    cells = [
        (e.id, e.kind, e.subject, f"{e.created_at:%Y-%m-%d %H:%M:%S}", e.verdict) for e in entries
    ]
    header = ("id", "kind", "model", "created (UTC)", "verdict")
    widths = [max(len(header[i]), *(len(c[i]) for c in cells)) for i in range(len(header))]
    console.print(
        Text("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + "  path", "bold"),
        soft_wrap=True,
    )
    for entry, row in zip(entries, cells, strict=True):
        line = Text("  ".join(c.ljust(w) for c, w in zip(row[:4], widths, strict=False)) + "  ")
        line.append(row[4].ljust(widths[4]), _VERDICT_STYLE[entry.passed])
        line.append("  " + entry.path)
        console.print(line, soft_wrap=True)  # the path whole, however narrow the terminal


@reports.command("open")
@click.argument("report_id", metavar="ID")
@click.option("--no-browser", is_flag=True, help="Only print the path; never start a browser.")
@click.pass_context
def open_(ctx: click.Context, report_id: str, no_browser: bool) -> None:
    """Print report ID's path (eval-N, mon-N, as 'shipyard reports list' shows) and open it
    in a browser when stdout is a terminal and a browser is available."""
    with open_from(ctx) as project:
        entry = project.reports.get(report_id)
    local = "://" not in entry.path
    if local and not Path(entry.path).is_file():
        raise NotFoundError(
            f"report {entry.id} ({entry.kind} of {entry.subject}) is missing from the "
            f"artifact store: {entry.path}",
            hint=f"run 'shipyard {'evaluate' if entry.kind == 'evaluation' else 'monitor'} "
            f"{entry.subject if entry.kind == 'evaluation' else entry.model}' to write a new one",
        )
    sys.stdout.write(entry.path + "\n")  # exactly, for a script or a copy: no wrapping
    sys.stdout.flush()
    if no_browser or not sys.stdout.isatty():
        return
    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        err_console.print("no browser found here: open the path above yourself", soft_wrap=True)
        return
    target = Path(entry.path).resolve().as_uri() if local else entry.path
    if not browser.open(target):
        err_console.print(
            markup("could not start a browser ({}): open the path above yourself", browser.name),
            soft_wrap=True,
        )
