"""The training stage: reproducible runs of the user's training function.

Its names load on first use (:mod:`shipyard.lazy`): importing one module of the
stage does not import the others."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.lazy import exports

if TYPE_CHECKING:
    from .run import (
        TrainingError,
        TrainingRun,
        check_param_names,
        code_version,
        environment,
        parse_params,
        train,
    )

_NAMES = {
    "check_param_names": ".run",
    "code_version": ".run",
    "environment": ".run",
    "parse_params": ".run",
    "train": ".run",
    "TrainingError": ".run",
    "TrainingRun": ".run",
}
__all__ = [
    "TrainingError",
    "TrainingRun",
    "check_param_names",
    "code_version",
    "environment",
    "parse_params",
    "train",
]
__getattr__, __dir__ = exports(__name__, _NAMES)
