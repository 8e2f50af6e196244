"""MLflow's scoring format: ``POST /invocations`` with ``dataframe_split``,
``dataframe_records``, ``instances`` or ``inputs``; the model from ``X-Shipyard-Model``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from shipyard.serving.deployment import Outcome
from shipyard.serving.http import HttpError, Scope, header
from shipyard.serving.validation import MalformedRequestError, Rows, RowValidator

from . import count_rows, json_array

ANSWER_KEYS = frozenset({"predictions"})
_KEYS = {"dataframe_split", "dataframe_records", "instances", "inputs"}


def mlflow_rows(body: Any, validator: RowValidator, max_rows: int) -> Rows:
    """``dataframe_split``, ``dataframe_records``, ``instances`` or ``inputs``."""
    if not isinstance(body, dict) or len(set(body) & _KEYS) != 1:
        raise MalformedRequestError(
            "expected a JSON object with exactly one of dataframe_split, dataframe_records, "
            "instances or inputs (MLflow's scoring format)",
        )
    if "dataframe_split" in body:
        split = body["dataframe_split"]
        if (
            not isinstance(split, dict)
            or not isinstance(split.get("columns"), list)
            or not isinstance(split.get("data"), list)
        ):
            raise MalformedRequestError(
                "dataframe_split needs 'columns' (a list of names) and 'data' (a list of rows)"
            )
        columns, data = split["columns"], split["data"]
        count_rows(len(data), max_rows)
        bad = [
            i for i, row in enumerate(data) if not isinstance(row, list) or len(row) != len(columns)
        ]
        if bad:
            raise MalformedRequestError(
                f"dataframe_split.data[{bad[0]}] does not have one value per column "
                f"({len(columns)} columns)"
            )
        return validator.records([dict(zip(columns, row, strict=True)) for row in data])
    payload = body.get("dataframe_records", body.get("instances", body.get("inputs")))
    if isinstance(payload, dict):  # columns: {"amount": [..], ...}
        return validator.columns(payload)
    if isinstance(payload, list):
        count_rows(len(payload), max_rows)
        if payload and all(isinstance(row, list) for row in payload):
            return validator.matrix(payload)
        return validator.records(payload)
    raise MalformedRequestError(
        "expected a list of records, a list of rows or an object of columns"
    )


def mlflow_answer(name: str, outcome: Outcome, ids: list[str], body: Any) -> dict[str, Any]:
    """``{"predictions": [...]}``: MLflow's answer has no ids, version or path."""
    return {"predictions": json_array(outcome.predictions)}


def mlflow_model(scope: Scope, params: dict[str, str], served: Collection[str]) -> str:
    """The ``X-Shipyard-Model`` header (``NAME`` or ``NAME@VERSION``), or the one model served;
    400 when several are."""
    chosen = header(scope, b"x-shipyard-model")
    if chosen:
        return chosen.decode("utf-8", "replace")
    if len(served) == 1:
        return next(iter(served))
    models = {key.partition("@")[0] for key in served}
    if len(models) == 1:  # one model at several versions: its first (name one as NAME@V)
        return models.pop()
    raise HttpError(
        400,
        "bad_request",
        "this server serves several models; say which with the X-Shipyard-Model header",
    )
