"""A progress bar on stderr for work that can take more than a second.

The stages report their steps through a ``progress`` callback (``shipyard.data.api.Progress``:
one message a step); :func:`progress` turns those calls into a bar with the current
step, how many of ``steps`` are done and the time taken. It shows only when stderr is
a real terminal (not a pipe, a file or a CI log, whatever ``FORCE_COLOR`` says), only
when the work is still going after :data:`SHOW_AFTER_S`, and never with ``--json``;
it is transient, so it leaves nothing behind in the terminal or on stdout.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .output import err_console, literal, on_terminal

SHOW_AFTER_S = 1.0

Step = Callable[[str], None]


@contextmanager
def progress(description: str, *, steps: int | None = None, quiet: bool = False) -> Iterator[Step]:
    """Yield a step callback; on a terminal, past a second, draw a bar over the steps.

    ``steps``: how many calls make the whole (``None``: a spinner and the step's name).
    """
    if quiet or not on_terminal(err_console.file):
        yield _ignore
        return
    from rich.progress import (  # here: rich.progress is not needed by --help
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = [SpinnerColumn(), TextColumn("{task.description}", markup=False)]
    if steps is not None:
        columns += [BarColumn(), MofNCompleteColumn()]
    bar = Progress(*columns, TimeElapsedColumn(), console=err_console, transient=True)
    task = bar.add_task(literal(description), total=steps)
    lock = threading.Lock()
    state = {"stopped": False}

    def show() -> None:
        with lock:
            if not state["stopped"]:
                bar.start()

    timer = threading.Timer(SHOW_AFTER_S, show)
    timer.daemon = True

    def step(message: str) -> None:
        bar.update(task, description=literal(f"{description}: {message}"), advance=1)

    timer.start()
    try:
        yield step
    finally:
        timer.cancel()
        with lock:
            state["stopped"] = True
            bar.stop()


def _ignore(_message: str) -> None:
    """The step callback when no bar is drawn."""
