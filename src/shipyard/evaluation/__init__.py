"""The evaluation stage: metrics, gates, slices, golden sets, behavioural tests, latency."""

from __future__ import annotations

from .api import Evaluation, Evaluations, EvaluationSummary, GateError
from .report import CheckOutcome, EvaluationReport
from .run import evaluate, scores

__all__ = [
    "CheckOutcome",
    "Evaluation",
    "EvaluationReport",
    "EvaluationSummary",
    "Evaluations",
    "GateError",
    "evaluate",
    "scores",
]
