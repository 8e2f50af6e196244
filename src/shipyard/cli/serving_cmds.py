"""``shipyard serve``: answer predictions over HTTP."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import click

from shipyard.errors import UnreachableError

from .app import cli, open_from
from .complete import complete_models
from .output import err_console

if TYPE_CHECKING:
    from shipyard.project import Project
    from shipyard.serving.targets import Targets


@cli.command()
@click.argument("models", nargs=-1, shell_complete=complete_models)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port (0: any free one).",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes sharing the port (one event loop and one model thread each).",
)
@click.option(
    "--threads",
    default=1,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Native threads (OpenMP/BLAS) per worker.",
)
@click.option(
    "--public",
    is_flag=True,
    help="Allow a non-loopback --host with no token (server.require_token off), on purpose.",
)
@click.pass_context
def serve(
    ctx: click.Context,
    models: tuple[str, ...],
    host: str,
    port: int,
    workers: int,
    threads: int,
    public: bool,
) -> None:
    """Serve MODEL[@ALIAS|@N]... (default: every model's champion) until Ctrl-C or SIGTERM.

    The server follows aliases: when `champion` moves, every worker loads, warms
    and switches to the new version without failing a request. A model whose alias
    names no version yet (no champion) is served not ready (503, and /readyz says
    why) while the others answer, and loads once the alias names a version. Several
    versions of one model (`serve m@4 m@3`): the first at /v1/models/m/predict, each
    other at /v1/models/m/versions/N/predict. A --host other than a loopback address
    needs SHIPYARD_API_TOKEN with server.require_token, or --public. If the database
    or the object store does not answer yet, the server starts live but not ready,
    and loads the models once they answer.
    """
    from shipyard.serving.server import collector_paused

    with collector_paused():  # a start makes objects that live as long as the server
        _serve(ctx, list(models), host, port, workers, threads, public)


def _serve(
    ctx: click.Context,
    models: list[str],
    host: str,
    port: int,
    workers: int,
    threads: int,
    public: bool,
) -> None:
    from shipyard.serving import serve as run_server
    from shipyard.serving.exposure import is_loopback

    # the project file is read and the stores reached once: the server takes the project over
    project = open_from(ctx, lazy_stores=True)
    try:
        targets = _targets(project, models)
    except BaseException:
        project.close()
        raise
    root = project.root
    open_to_all = not is_loopback(host) and not project.config.server.require_token
    level = logging.getLogger().level

    def listening(url: str) -> None:
        err_console.print(
            f"serving {', '.join(_served(targets))} on {url} "
            f"({workers} worker{'s' if workers > 1 else ''}); Ctrl-C stops",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        for ref, why in targets.not_ready.items():
            err_console.print(
                f"not ready: {ref} — {why}; its routes answer 503 until it names a version",
                style="yellow",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        if open_to_all:
            err_console.print(
                f"PUBLIC: no token protects {url}; anyone who can reach it can predict, "
                "read the models and send feedback",
                style="bold red",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )

    run_server(
        root,
        targets.models,
        host=host,
        port=port,
        workers=workers,
        threads=threads,
        log_level=level,
        on_listen=listening,
        public=public,
        project=project,
    )


def _served(targets: Targets) -> list[str]:
    """``m@4``, and ``m@3 at /v1/models/m/versions/3/predict`` for a further version."""
    shown = []
    for name, wanted in targets.models.items():
        shown.append(f"{name}@{wanted[0]}")
        shown += [f"{name}@{t} at /v1/models/{name}/versions/{t}/predict" for t in wanted[1:]]
    return shown


def _targets(project: Project, specs: list[str]) -> Targets:
    """The targets: names checked against the project file always, and against the registry
    when the stores answer (a store that does not is waited for, not fatal)."""
    from shipyard.serving import resolve_targets
    from shipyard.serving.targets import Targets, declared_targets
    from shipyard.serving.waiting import waiting_for

    declared = declared_targets(project, specs)
    try:
        project.ping()
        return resolve_targets(project, specs)
    except UnreachableError as exc:
        err_console.print(
            f"{waiting_for(exc)}; starting anyway, not ready (/readyz 503) until it answers",
            style="yellow",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return Targets(declared)
