"""The root command group and the one place where errors become exit codes.

A :class:`~shipyard.errors.ShipyardError` prints as one clear message on
stderr and exits with its ``exit_code`` (2); ``--debug`` shows the traceback.
A write the environment refused that no layer below said better (a full disk,
a quota, a read-only file system, a permission) is said the same way: it is
the machine's state, not a bug in shipyard. A reader that closed stdout early
(``shipyard predictions m --csv | head -1``) ends the command quietly with 141,
the status a shell gives git or ls killed by SIGPIPE.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from shipyard import __version__
from shipyard.errors import ShipyardError, StorageError

from .output import err_console, literal, markup

if TYPE_CHECKING:
    from shipyard.project import Project


class _Group(click.Group):
    """A group that turns shipyard errors into a message and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ShipyardError as exc:
            if ctx.params.get("debug"):
                raise
            _print_error(exc)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            err_console.print("interrupted")
            ctx.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except Exception as exc:
            if _stdout_closed(exc):
                raise _StdoutClosed from exc
            if ctx.params.get("debug"):
                raise
            failure = _environmental(exc)
            if failure is not None:  # the machine's state, not a bug
                _print_error(failure)
                ctx.exit(failure.exit_code)
            err_console.print(
                markup(
                    "[bold red]internal error:[/] {}: {}\nThis is a bug in shipyard, not in your "
                    "input: run the command again with --debug and report the traceback.",
                    type(exc).__name__,
                    exc,
                ),
                soft_wrap=True,
            )
            ctx.exit(1)


class _StdoutClosed(Exception):  # a signal to main(), never shown
    """The reader of stdout went away (a pipe to ``head``); main() ends quietly."""


_SIGPIPE_STATUS = 128 + 13  # what a shell reports for a tool SIGPIPE ended


def _stdout_closed(exc: BaseException) -> bool:
    """Whether ``exc`` is a write to a stdout whose reader has closed the pipe."""
    from shipyard.storage.failures import causes

    broken = any(
        isinstance(cause, BrokenPipeError)
        or (isinstance(cause, OSError) and cause.errno == errno.EPIPE)
        or (isinstance(cause, OSError) and "os error 32" in str(cause))  # polars' Rust I/O
        for cause in causes(exc)
    )
    if not broken:
        return False
    try:  # a broken pipe elsewhere (a socket) is not a closed stdout: ask the pipe itself
        import select

        poll = select.poll()
        poll.register(sys.stdout.fileno(), 0)
        return any(events & select.POLLERR for _, events in poll.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows), or no real stdout
        return True


def _quiet_stdout() -> None:
    """Point stdout at the null device, so the flush at exit does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # no real stdout: nothing will be flushed
        pass


def _environmental(exc: BaseException) -> ShipyardError | None:
    """``exc`` as a user error when the environment caused it (no room, read-only, denied)."""
    from shipyard.storage.failures import causes, write_failure

    where = "the disk"
    for cause in causes(exc):
        if isinstance(cause, OSError) and cause.filename:
            where = str(cause.filename)
            break
    for cause in causes(exc):
        if isinstance(cause, PermissionError):  # reading or writing: say only what it is
            return StorageError(
                f"permission denied on {where}",
                hint="give this user access to it, or name a path it can use",
            )
    return write_failure(exc, where)


def _print_error(exc: ShipyardError) -> None:
    err_console.print(markup("[bold red]error:[/] {}", exc.message), soft_wrap=True)
    if exc.hint:
        err_console.print(markup("[yellow]hint:[/] {}", exc.hint), soft_wrap=True)


class _LiteralFormatter(logging.Formatter):
    """Log lines on a terminal: control characters in logged values shown, not obeyed."""

    def format(self, record: logging.LogRecord) -> str:
        return literal(super().format(record))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="shipyard")
@click.option(
    "--project",
    "-C",
    "project_dir",
    type=click.Path(file_okay=True, path_type=Path),
    default=".",
    envvar="SHIPYARD_PROJECT",
    show_default=True,
    help="Project folder (or its shipyard.yaml); folders above it are searched too.",
)
@click.option("--debug", is_flag=True, help="Show the full traceback of errors.")
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
@click.pass_context
def cli(ctx: click.Context, project_dir: Path, debug: bool, verbose: int) -> None:
    """shipyard: take an ML prototype into reliable production and keep it healthy there."""
    level = logging.WARNING - 10 * min(verbose, 2)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LiteralFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    ctx.obj = {"project_dir": project_dir, "debug": debug}


def open_from(ctx: click.Context, *, lazy_stores: bool = False) -> Project:
    """The project the command line names (``--project``, or the current folder).

    ``lazy_stores``: the database is connected on its first query, not when named.
    """
    from shipyard.project import open_project  # here: the data layer is slow to import

    return open_project(ctx.find_root().obj["project_dir"], lazy_stores=lazy_stores)


def main() -> None:
    """Console-script entry point."""
    try:
        try:
            cli(prog_name="shipyard")
        except SystemExit:
            sys.stdout.flush()  # a closed pipe shows here, not as Python's complaint at exit
            raise
    except (_StdoutClosed, BrokenPipeError):
        _quiet_stdout()
        sys.exit(_SIGPIPE_STATUS)
