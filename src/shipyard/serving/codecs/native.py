"""shipyard's own protocol: ``POST /v1/models/{name}/predict`` with one record or a list."""

from __future__ import annotations

from typing import Any

from shipyard.serving.deployment import Outcome
from shipyard.serving.validation import MalformedRequestError, Rows, RowValidator

from . import count_rows, json_array

ANSWER_KEYS = frozenset({"model", "version", "predictions", "prediction_ids", "degraded", "path"})
"""The keys of every answer (``probabilities``, ``classes``, ``reason``… when they apply)."""


def native_rows(body: Any, validator: RowValidator, max_rows: int) -> Rows:
    """One record (a JSON object of feature values) or a list of records."""
    if isinstance(body, dict):
        return validator.records([body])
    if isinstance(body, list):
        count_rows(len(body), max_rows)
        return validator.records(body)
    raise MalformedRequestError(
        "expected one record (a JSON object of feature values) or a list of records, "
        f"got {type(body).__name__}",
        hint=f"send for example {{{', '.join(f'{n!r}: ...' for n in validator.names[:3])}}}",
    )


def native_answer(name: str, outcome: Outcome, ids: list[str], body: Any) -> dict[str, Any]:
    """The predictions, with the version, path and prediction ids (``body`` is not needed)."""
    answer: dict[str, Any] = {
        "model": name,
        "version": outcome.version,
        "predictions": json_array(outcome.predictions),
    }
    if outcome.probabilities is not None:
        answer["probabilities"] = json_array(outcome.probabilities)
        answer["classes"] = outcome.classes
    answer["prediction_ids"] = ids
    answer["degraded"] = outcome.degraded
    answer["path"] = outcome.path
    if outcome.degraded:
        answer["reason"] = outcome.reason
        if outcome.paths is not None:
            answer["paths"] = outcome.paths
        if outcome.versions is not None:
            answer["versions"] = outcome.versions
    return answer
