"""The evaluation stage: metrics, gates, slices, golden sets, behavioural tests, latency.

Its names load on first use (:mod:`shipyard.lazy`): importing one module of the
stage does not import the others."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.lazy import exports

if TYPE_CHECKING:
    from . import behaviour
    from .api import Evaluations, GateError
    from .behaviour import scores
    from .comparison import ComparisonRow, VersionComparison
    from .records import Evaluation, EvaluationSummary
    from .report import CheckOutcome, EvaluationReport
    from .run import evaluate

_NAMES = {
    "behaviour": ".behaviour",
    "CheckOutcome": ".report",
    "ComparisonRow": ".comparison",
    "VersionComparison": ".comparison",
    "evaluate": ".run",
    "Evaluation": ".records",
    "EvaluationReport": ".report",
    "Evaluations": ".api",
    "EvaluationSummary": ".records",
    "GateError": ".api",
    "scores": ".behaviour",
}
__all__ = [
    "CheckOutcome",
    "ComparisonRow",
    "Evaluation",
    "EvaluationReport",
    "EvaluationSummary",
    "Evaluations",
    "GateError",
    "VersionComparison",
    "behaviour",
    "evaluate",
    "scores",
]
__getattr__, __dir__ = exports(__name__, _NAMES)
