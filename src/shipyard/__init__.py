"""shipyard: take a machine-learning prototype into reliable production and keep it healthy.

``project = shipyard.open(".")`` opens the project whose ``shipyard.yaml`` is in
that folder (or above it); every command, HTTP handler and page is a thin shell
over that object.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import ShipyardError
from .project import Project, init_project, open_project, register

open = open_project

__all__ = [
    "Project",
    "ShipyardError",
    "__version__",
    "init_project",
    "open",
    "open_project",
    "register",
]
