"""The training stage: reproducible runs of the user's training function."""

from __future__ import annotations

from .run import (
    TrainingError,
    TrainingRun,
    check_param_names,
    code_version,
    environment,
    parse_params,
    train,
)

__all__ = [
    "TrainingError",
    "TrainingRun",
    "check_param_names",
    "code_version",
    "environment",
    "parse_params",
    "train",
]
