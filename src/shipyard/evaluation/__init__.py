"""The evaluation stage: metrics, gates, slices, golden sets, behavioural tests, latency."""

from __future__ import annotations

from . import behaviour
from .api import Evaluations, GateError
from .behaviour import scores
from .comparison import ComparisonRow, VersionComparison
from .records import Evaluation, EvaluationSummary
from .report import CheckOutcome, EvaluationReport
from .run import evaluate

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
