"""Shell completion of the names a project declares: models and datasets.

Click completes commands and options by itself (``_SHIPYARD_COMPLETE=bash_source
shipyard``); these callbacks add the model and dataset names of the project the
command line names (``-C DIR`` or the current folder, or a folder above it). They
read the project file as plain YAML — no validation, no database, nothing heavy
imported — and never fail or print: with no project, or a broken one, they offer
nothing and the shell goes on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

PROJECT_FILE = "shipyard.yaml"  # shipyard.config.PROJECT_FILE, said here so nothing heavy loads


def complete_models(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """The project's model names (``NAME`` or ``NAME@…``) that start with ``incomplete``."""
    return _names(ctx, "models", incomplete)


def complete_datasets(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """The project's dataset names that start with ``incomplete``."""
    return _names(ctx, "datasets", incomplete)


def _names(ctx: click.Context, section: str, incomplete: str) -> list[Any]:
    if "@" in incomplete:  # a version or an alias: the database would have to be read
        return []
    try:
        declared = _declared(ctx, section)
    except Exception:  # completion never breaks the shell: no project, bad YAML, no access
        return []
    from click.shell_completion import CompletionItem  # here: only completion needs it

    return [CompletionItem(name) for name in declared if name.startswith(incomplete)]


def _declared(ctx: click.Context, section: str) -> list[str]:
    import yaml  # here: only a completion reads YAML this way

    file = _project_file(Path(ctx.find_root().params.get("project_dir") or "."))
    if file is None:
        return []
    loaded = yaml.safe_load(file.read_text(encoding="utf-8"))
    names = loaded.get(section) if isinstance(loaded, dict) else None
    return sorted(str(name) for name in names) if isinstance(names, dict) else []


def _project_file(start: Path) -> Path | None:
    """``start``'s shipyard.yaml (or ``start`` itself), or the nearest one above."""
    if start.is_file():
        return start
    for folder in (start.resolve(), *start.resolve().parents):
        if (folder / PROJECT_FILE).is_file():
            return folder / PROJECT_FILE
    return None
