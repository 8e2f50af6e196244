"""Helpers shared by tests (``pythonpath = ["tests"]`` in pyproject makes them importable)."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


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


def run_together(
    target: Callable[..., None], args: list[tuple[Any, ...]], timeout: float = 120
) -> list[int | None]:
    """Run ``target(*a, barrier)`` for each ``a`` in its own process, all released at once.

    Returns the exit codes (0 each when every process succeeded).
    """
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(args))
    workers = [ctx.Process(target=target, args=(*a, barrier)) for a in args]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=timeout)
    return [w.exitcode for w in workers]


def missing_backend(reason: str) -> None:
    """Skip, with ``reason``, outside CI; fail in CI, where every backend must be there."""
    if IN_CI:
        pytest.fail(f"{reason}; CI must run these tests, not skip them")
    pytest.skip(reason)


def relax_latency(folder: Path) -> None:
    """A generous latency budget: tests judge the other checks, not this machine's load."""
    file = folder / "shipyard.yaml"
    text = file.read_text()
    assert "latency_budget_ms: 50 " in text
    file.write_text(text.replace("latency_budget_ms: 50 ", "latency_budget_ms: 60000 "))


def record_environment(project: Any, ref: str, packages: dict[str, str]) -> None:
    """Rewrite the environment ``ref``'s row in the metadata database records: ``packages``
    (``{"scikit-learn": "0.24.0"}``; ``"python"`` for Python) replace what it recorded, as
    if it had been trained elsewhere. The row is edited in place, through the project's store."""
    packages = dict(packages)
    from shipyard.storage.tables import model_versions

    version = project.models.registry.resolve(ref)
    environment = dict(version.environment)
    if "python" in packages:
        environment["python"] = packages.pop("python")
    environment["packages"] = {**environment.get("packages", {}), **packages}
    row = (model_versions.c.model == version.model) & (model_versions.c.version == version.version)
    with project.metadata.transaction() as conn:
        conn.execute(model_versions.update().where(row).values(environment=environment))
    assert project.models.registry.resolve(ref).environment == environment
