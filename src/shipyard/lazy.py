"""A package's public names, imported on first use (PEP 562).

A stage's package (``shipyard.data``, ``shipyard.models``, …) names what it offers
in a table instead of importing every module: ``from shipyard.models.registry
import ModelVersion`` then loads the registry, not the whole stage with polars.
A serving worker imports only what it serves with (see ``tests/serving/
test_lean_worker.py``); the names still read as ``shipyard.models.Models``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def exports(
    package: str, table: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, whose ``table`` maps each public
    name to the submodule that defines it (``".api"``); the value is kept once loaded."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        try:
            module = table[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        loaded = importlib.import_module(module, package)
        value = loaded if module == f".{name}" else getattr(loaded, name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *table})

    return __getattr__, __dir__
