"""The training stage: reproducible runs of the user's training function."""

from __future__ import annotations

from .run import TrainingError, TrainingRun, code_version, environment, parse_params, train

__all__ = ["TrainingError", "TrainingRun", "code_version", "environment", "parse_params", "train"]
