"""Helpers shared by tests (``pythonpath = ["tests"]`` in pyproject makes them importable)."""

from __future__ import annotations

import click


def all_commands(group: click.Group, prefix: str = "") -> dict[str, click.Command]:
    """Every leaf command under ``group``, by its full name (``"data ingest"``)."""
    found: dict[str, click.Command] = {}
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            found.update(all_commands(command, f"{path} "))
        else:
            found[path] = command
    return found
