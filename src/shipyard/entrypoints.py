"""Load the user's own code named in the project file as ``module:function``.

The project folder is put on ``sys.path`` first, so ``credit_model:train`` finds
``credit_model.py`` beside ``shipyard.yaml``. A module that fails to import shows
the user's own traceback (their code, not ours) in the error.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from shipyard.errors import ConfigError

_PACKAGE = str(Path(__file__).parent)


def user_code_on_path(root: Path) -> None:
    """Put the project folder first on ``sys.path``: the user's modules (``train``
    functions, fallback rules, the classes and functions a model file names) live there."""
    folder = str(root)
    if folder not in sys.path:
        sys.path.insert(0, folder)


def load_entry_point(spec: str, *, root: Path, where: str) -> Callable[..., Any]:
    """The callable ``spec`` (``module:function``) names; ``where`` is its key in the project file."""
    module_name, _, attr = spec.partition(":")
    user_code_on_path(root)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name.split(".")[0]:
            raise ConfigError(
                f"{where}: cannot import '{module_name}' for '{spec}': no such module",
                hint=f"put {module_name.replace('.', '/')}.py in {root}, or fix the name",
            ) from None
        raise ConfigError(
            f"{where}: importing '{module_name}' failed:\n{user_traceback(exc)}"
        ) from None
    except Exception as exc:
        raise ConfigError(
            f"{where}: importing '{module_name}' failed:\n{user_traceback(exc)}"
        ) from None
    function = getattr(module, attr, None)
    if function is None:
        raise ConfigError(f"{where}: module '{module_name}' has no '{attr}' (from '{spec}')")
    if not callable(function):
        raise ConfigError(f"{where}: '{spec}' is a {type(function).__name__}, not a function")
    return cast(Callable[..., Any], function)


def user_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` without shipyard's and importlib's own frames."""
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith(_PACKAGE)
        and "importlib" not in frame.filename
        and not frame.filename.startswith("<frozen")
    ]
    lines = traceback.format_list(frames)
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines).rstrip()


IMPORT_TIMEOUT_S = 60.0  # a module still importing after this long is taken to hang


def check_entry_points(
    specs: dict[str, str], *, root: Path, timeout: float = IMPORT_TIMEOUT_S
) -> dict[str, str | None]:
    """Import each ``module:function`` of ``specs`` (its key in the project file → spec)
    afresh from ``root``; what went wrong with each, or ``None`` when it imports.

    A module that raises (or exits) at import, cannot be found or lacks the function is a
    problem; so is one still importing after ``timeout`` seconds in all (a hang, a loop at
    import): it is left running in a daemon thread and never holds the caller longer.
    The modules are imported from ``root`` even when a module of the same name was
    imported before, and the modules imported before are put back afterwards.
    """
    import threading
    import time

    by_module: dict[str, dict[str, str]] = {}  # one thread per top-level module, all at once
    for where, spec in specs.items():
        by_module.setdefault(_top(spec), {})[where] = spec
    found: dict[str, str | None] = {}

    def check(group: dict[str, str]) -> None:
        for where, spec in group.items():
            try:
                found[where] = _import_problem(spec, root, where)
            except Exception as exc:  # never an unhandled error in a thread: said as the problem
                found[where] = f"{where}: checking '{spec}' failed: {type(exc).__name__}: {exc}"

    threads = [
        threading.Thread(target=check, args=(group,), name=f"shipyard-import-{top}", daemon=True)
        for top, group in by_module.items()
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    late = (
        "{}: importing '{}' did not finish in {:g} s (does the module do work or wait on "
        "something when it is imported?)"
    )
    return {
        where: found[where] if where in found else late.format(where, spec, timeout)
        for where, spec in specs.items()
    }


def _top(spec: str) -> str:
    """The top-level module of ``module:function``."""
    return spec.partition(":")[0].split(".")[0]


def _import_problem(spec: str, root: Path, where: str) -> str | None:
    """Why ``spec`` does not import from ``root`` now (``None``: it does)."""
    top = _top(spec)

    def ours(name: str) -> bool:
        return name == top or name.startswith(f"{top}.")

    saved = {name: sys.modules.pop(name) for name in list(sys.modules) if ours(name)}
    sys.path.insert(0, str(root))  # this project's module, whatever else is on the path
    try:
        load_entry_point(spec, root=root, where=where)
        return None
    except ConfigError as exc:
        return exc.message
    except BaseException as exc:  # SystemExit or KeyboardInterrupt raised by the module
        return f"{where}: importing '{spec}' raised {type(exc).__name__}: {exc}"
    finally:
        sys.path.remove(str(root))
        for name in [name for name in list(sys.modules) if ours(name)]:  # a snapshot: other
            sys.modules.pop(name, None)  # threads may be importing while this one cleans up
        sys.modules.update(saved)
