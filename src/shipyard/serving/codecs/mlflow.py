"""MLflow's scoring format: ``POST /invocations`` with ``dataframe_split``,
``dataframe_records``, ``instances`` or ``inputs`` as JSON, or a CSV table
(``text/csv``); the model from ``X-Shipyard-Model``.

The ``Content-Type`` is read as MLflow's scoring server reads it
(``mlflow/pyfunc/scoring_server``): ``application/json`` or ``text/csv``, whose only
parameter may be ``charset=utf-8`` (any case). Any other charset, any other
parameter (MLflow 1's ``format=pandas-split``, which MLflow 2 removed) and any other
type are refused with 415, as MLflow refuses them. The differences: a body without
a ``Content-Type`` is read as JSON (as on every route, see :mod:`..origin`); the type
and parameter names are matched in any case, a quoted ``"utf-8"`` is ``utf-8`` and an
empty parameter (a trailing ``;``) is none, as RFC 9110 reads them, where MLflow
matches the text exactly; and ``application/vnd.apache.parquet``, which MLflow also
reads, is refused with 415 (a Parquet body of a few kB can unpack to gigabytes of
repeated values, so it would need limits of its own).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from typing import Any

from shipyard.serving.deployment import Outcome
from shipyard.serving.http import HttpError, Receive, Scope, header, parse_json, read_body
from shipyard.serving.origin import CSV, INVOCATIONS_BODY, require_body_type
from shipyard.serving.validation import MalformedRequestError, RequestError, Rows, RowValidator

from . import count_rows, json_array
from .csv_table import CsvTable, read_csv, typed_columns, with_lines

ANSWER_KEYS = frozenset({"predictions"})
_KEYS = {"dataframe_split", "dataframe_records", "instances", "inputs"}
_PARQUET = b"application/vnd.apache.parquet"
_FORMERLY = (
    "MLflow 2 removed the 'format' parameter: the body's top-level key says its form "
    "(dataframe_split, dataframe_records, instances or inputs)"
)


async def mlflow_body(scope: Scope, receive: Receive, limit: int) -> Any:
    """The body as MLflow reads it: JSON, or a :class:`CsvTable` for ``text/csv``."""
    media = mlflow_media(scope)
    raw = await read_body(scope, receive, limit)
    return read_csv(raw) if media == CSV else parse_json(raw)


def mlflow_media(scope: Scope) -> bytes:
    """``application/json`` or ``text/csv``, with ``charset=utf-8`` at most; else 415."""
    value = header(scope, b"content-type")
    if value is not None and value.split(b";", 1)[0].strip().lower() == _PARQUET:
        raise HttpError(
            415,
            "unsupported_media_type",
            "Parquet bodies are not read here; accepted: application/json, text/csv",
            hint="send the rows as JSON (dataframe_split) or CSV (frame.to_csv(index=False))",
        )
    media = require_body_type(scope, INVOCATIONS_BODY)
    if value is None or b";" not in value:
        return media
    parameters: dict[str, str] = {}
    for pair in value.decode("latin-1").split(";")[1:]:
        key, _, said = pair.partition("=")
        if key.strip() or said.strip():
            parameters[key.strip().lower()] = said.strip()
    charset = parameters.pop("charset", "utf-8").strip('"').lower()
    if charset != "utf-8":
        raise HttpError(
            415,
            "unsupported_media_type",
            f"the body must be UTF-8, got charset={charset[:40]}",
            hint="encode the body as UTF-8, and send charset=utf-8 or no charset",
        )
    if parameters:
        named = ", ".join(f"{key}={said}" if said else key for key, said in parameters.items())
        raise HttpError(
            415,
            "unsupported_media_type",
            f"Content-Type parameters not accepted: {named[:200]}; only charset=utf-8 is",
            hint=_FORMERLY + "; send Content-Type: application/json"
            if "format" in parameters
            else "send Content-Type: application/json or text/csv without parameters",
        )
    return media


def mlflow_rows(body: Any, validator: RowValidator, max_rows: int) -> Rows:
    """``dataframe_split``, ``dataframe_records``, ``instances`` or ``inputs``, or CSV."""
    if isinstance(body, CsvTable):
        return csv_rows(body, validator, max_rows)
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
        seen = Counter(c if isinstance(c, str) else repr(c) for c in columns)
        repeated = sorted(name for name, times in seen.items() if times > 1)
        if repeated:  # one value would silently win over the other
            raise MalformedRequestError(
                f"dataframe_split.columns names {', '.join(repeated)} more than once; "
                "each column once"
            )
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


def csv_rows(table: CsvTable, validator: RowValidator, max_rows: int) -> Rows:
    """The rows of a CSV body, each problem with its CSV line."""
    count_rows(len(table.rows), max_rows)
    try:
        return validator.columns(typed_columns(table, validator.fields))
    except RequestError as exc:
        raise with_lines(exc, table) from None


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
