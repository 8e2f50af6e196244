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
