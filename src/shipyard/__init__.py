"""shipyard: take a machine-learning prototype into reliable production and keep it healthy.

``project = shipyard.open(".")`` opens the project whose ``shipyard.yaml`` is in
that folder (or above it); every command, HTTP handler and page is a thin shell
over that object.

The names below are imported on first use (PEP 562), not with the package:
``shipyard --help`` and a serving worker import ``shipyard`` without pulling in
the data layer (polars, SQLAlchemy) that :class:`Project` needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .errors import ShipyardError
    from .project import Project, init_project, open_project, register

    open = open_project

_LAZY = {
    "Project": ("shipyard.project", "Project"),
    "ShipyardError": ("shipyard.errors", "ShipyardError"),
    "init_project": ("shipyard.project", "init_project"),
    "open": ("shipyard.project", "open_project"),
    "open_project": ("shipyard.project", "open_project"),
    "register": ("shipyard.project", "register"),
}

__all__ = [
    "Project",
    "ShipyardError",
    "__version__",
    "init_project",
    "open",
    "open_project",
    "register",
]


def __getattr__(name: str) -> Any:
    """Import a public name on first use, then keep it as a plain attribute."""
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'shipyard' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
