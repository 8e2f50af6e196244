"""The models stage: safe formats, the Predictor interface, the registry with aliases."""

from __future__ import annotations

from .api import ModelCard, Models, ModelSummary
from .environment import EnvironmentCheck, EnvironmentMismatchError, check_environment
from .fit_check import ModelMismatchError
from .formats import ModelFormatError
from .predictor import PredictionInputError, Predictor
from .registry import AliasError, ModelVersion, Registry

__all__ = [
    "AliasError",
    "EnvironmentCheck",
    "EnvironmentMismatchError",
    "ModelCard",
    "ModelFormatError",
    "ModelMismatchError",
    "ModelSummary",
    "ModelVersion",
    "Models",
    "PredictionInputError",
    "Predictor",
    "Registry",
    "check_environment",
]
