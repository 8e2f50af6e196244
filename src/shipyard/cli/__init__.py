"""The ``shipyard`` command: a thin shell over the Python API."""

from __future__ import annotations

from . import commands, data_cmds, evaluation_cmds, models_cmds  # noqa: F401 - registers the commands
from .app import cli, main

__all__ = ["cli", "main"]
