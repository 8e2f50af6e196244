"""The ``shipyard`` command: a thin shell over the Python API."""

from __future__ import annotations

from . import (  # noqa: F401 - registers the commands
    alerts_cmds,
    batch_cmds,
    commands,
    compare_cmds,
    data_cmds,
    deploy_cmds,
    evaluation_cmds,
    maintenance_cmds,
    models_cmds,
    monitoring_cmds,
    predictions_cmds,
    profile_cmds,
    reports_cmds,
    serving_cmds,
    ui_cmds,
)
from .app import cli, main

__all__ = ["cli", "main"]
