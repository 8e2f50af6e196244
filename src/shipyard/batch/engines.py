"""The engines that can run a scoring job, one table: ``local`` (embedded) and ``ray``.

An engine is a function ``run(job, sink) -> None`` that scores every chunk of
``job`` with :func:`~.chunk.score_chunk` and hands the results to ``sink.add`` in input
order. It is found by name here; an engine whose package is not installed is refused
with the install command (exit 2) before anything is read.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shipyard.errors import ConfigError, MissingDependencyError

from .inputs import InputFile
from .records import BatchRun
from .scorer import Scorer
from .sink import Sink

LOCAL, RAY = "local", "ray"


@dataclass(frozen=True)
class Job:
    """What an engine scores: the model, the run, the input files, how to cut them.

    ``workers``: how many processes (``None``: every core); ``options``: engine-specific
    settings (Ray's ``address``)."""

    scorer: Scorer
    run: BatchRun
    files: tuple[InputFile, ...]
    chunk_rows: int
    workers: int | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


Engine = Callable[[Job, Sink], None]


@dataclass(frozen=True)
class EngineEntry:
    """Where an engine lives and what it needs installed."""

    target: str  # "module:function"
    requires: str | None = None  # a module that must be importable
    extra: str | None = None  # the shipyard extra that installs it


ENGINES: dict[str, EngineEntry] = {
    LOCAL: EngineEntry("shipyard.batch.local:run"),
    RAY: EngineEntry("shipyard.batch.ray_engine:run", requires="ray", extra="ray"),
}


def engine(name: str) -> Engine:
    """The engine called ``name``; a one-line error for an unknown or uninstalled one."""
    entry = ENGINES.get(name)
    if entry is None:
        raise ConfigError(
            f"unknown engine '{name}'", hint=f"use one of {', '.join(sorted(ENGINES))}"
        )
    if entry.requires and importlib.util.find_spec(entry.requires) is None:
        raise MissingDependencyError(entry.requires, entry.extra or entry.requires,
                                     f"--engine {name}")  # fmt: skip
    module, _, function = entry.target.partition(":")
    try:
        loaded = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        raise ConfigError(f"the engine '{name}' is not part of this shipyard build") from None
    run: Engine = getattr(loaded, function)
    return run
