"""The models stage: safe formats, the Predictor interface, the registry with aliases.

Its names load on first use (:mod:`shipyard.lazy`): importing one module of the
stage does not import the others."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.lazy import exports

if TYPE_CHECKING:
    from .api import ModelCard, Models, ModelSummary
    from .environment import EnvironmentCheck, EnvironmentMismatchError, check_environment
    from .fit_check import ModelMismatchError
    from .formats import ModelFormatError
    from .predictor import PredictionInputError, Predictor
    from .registry import AliasError, ModelVersion, Registry

_NAMES = {
    "AliasError": ".registry",
    "check_environment": ".environment",
    "EnvironmentCheck": ".environment",
    "EnvironmentMismatchError": ".environment",
    "ModelCard": ".api",
    "ModelFormatError": ".formats",
    "ModelMismatchError": ".fit_check",
    "Models": ".api",
    "ModelSummary": ".api",
    "ModelVersion": ".registry",
    "PredictionInputError": ".predictor",
    "Predictor": ".predictor",
    "Registry": ".registry",
}
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
__getattr__, __dir__ = exports(__name__, _NAMES)
