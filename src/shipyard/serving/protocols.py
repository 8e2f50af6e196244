"""The three request shapes the server speaks, parsed into validated rows, and their answers.

- native: ``POST /v1/models/{name}/predict`` with one record (an object) or a
  list of records;
- the Open Inference Protocol V2 (KServe, Triton): ``inputs`` as one tensor
  per feature (shape ``[n]`` or ``[n, 1]``) or one ``[n, features]`` tensor;
- MLflow's scoring format: ``dataframe_split``, ``dataframe_records``,
  ``instances`` or ``inputs``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .deployment import Outcome
from .validation import MalformedRequestError, Rows, RowValidator, TooLargeError

V2_TYPES = {"b": "BOOL", "i": "INT64", "u": "UINT64", "f": "FP64", "O": "BYTES", "U": "BYTES"}


def _count(n: int, max_rows: int) -> None:
    if n > max_rows:
        raise TooLargeError(
            f"the request has {n} rows; this server takes at most {max_rows} per request",
            hint="split the rows over several requests, or raise server.max_rows",
        )


def native_rows(body: Any, validator: RowValidator, max_rows: int) -> Rows:
    if isinstance(body, dict):
        return validator.records([body])
    if isinstance(body, list):
        _count(len(body), max_rows)
        return validator.records(body)
    raise MalformedRequestError(
        "expected one record (a JSON object of feature values) or a list of records, "
        f"got {type(body).__name__}",
        hint=f"send for example {{{', '.join(f'{n!r}: ...' for n in validator.names[:3])}}}",
    )


def mlflow_rows(body: Any, validator: RowValidator, max_rows: int) -> Rows:
    """``dataframe_split``, ``dataframe_records``, ``instances`` or ``inputs``."""
    if not isinstance(body, dict) or len(set(body) & _MLFLOW_KEYS) != 1:
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
        _count(len(data), max_rows)
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
        _count(len(payload), max_rows)
        if payload and all(isinstance(row, list) for row in payload):
            return validator.matrix(payload)
        return validator.records(payload)
    raise MalformedRequestError(
        "expected a list of records, a list of rows or an object of columns"
    )


_MLFLOW_KEYS = {"dataframe_split", "dataframe_records", "instances", "inputs"}


def v2_rows(body: Any, validator: RowValidator, max_rows: int) -> Rows:
    """The ``inputs`` of a V2 inference request."""
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list) or not inputs:
        raise MalformedRequestError(
            "expected an object with 'inputs': a list of tensors "
            "({name, shape, datatype, data}) (the Open Inference Protocol V2)"
        )
    tensors = []
    for index, tensor in enumerate(inputs):
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise MalformedRequestError(f"inputs[{index}]: a tensor needs a 'name'")
        shape, data = tensor.get("shape"), tensor.get("data")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise MalformedRequestError(
                f"inputs[{index}] ({tensor['name']}): 'shape' must be a list of sizes"
            )
        if not isinstance(data, list):
            raise MalformedRequestError(
                f"inputs[{index}] ({tensor['name']}): 'data' must be a list"
            )
        tensors.append((tensor["name"], shape, _flat(data)))
    width = len(validator.names)
    if len(tensors) == 1 and len(tensors[0][1]) == 2 and tensors[0][1][1] == width and width > 1:
        name, shape, flat = tensors[0]
        rows = shape[0]
        _check_size(name, shape, flat)
        _count(rows, max_rows)
        return validator.matrix([flat[i * width : (i + 1) * width] for i in range(rows)])
    columns: dict[str, Any] = {}
    for name, shape, flat in tensors:
        _check_size(name, shape, flat)
        if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1):
            raise MalformedRequestError(
                f"input '{name}': expected shape [n] or [n, 1] (one feature), or one input "
                f"of shape [n, {width}] with every feature; got {shape}"
            )
        _count(shape[0], max_rows)
        columns[name] = flat
    return validator.columns(columns, where="inputs")


def _flat(data: list[Any]) -> list[Any]:
    return _ordered_flat(data) if data and isinstance(data[0], list) else data


def _ordered_flat(data: list[Any]) -> list[Any]:
    out: list[Any] = []
    stack: list[tuple[list[Any], int]] = [(data, 0)]
    while stack:
        items, position = stack.pop()
        while position < len(items):
            element = items[position]
            position += 1
            if isinstance(element, list):
                stack.append((items, position))
                items, position = element, 0
            else:
                out.append(element)
    return out


def _check_size(name: str, shape: list[int], flat: list[Any]) -> None:
    size = int(np.prod(shape)) if shape else 1
    if size != len(flat):
        raise MalformedRequestError(
            f"input '{name}': shape {shape} holds {size} values, but data has {len(flat)}"
        )


# -- answers -----------------------------------------------------------------------------
def _json_array(values: Any) -> Any:
    """NumPy numbers and booleans go to orjson as arrays; anything else as a list."""
    if isinstance(values, np.ndarray) and values.dtype.kind not in "biuf":
        return values.tolist()
    return values


def native_answer(name: str, outcome: Outcome, ids: list[str]) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "model": name,
        "version": outcome.version,
        "predictions": _json_array(outcome.predictions),
    }
    if outcome.probabilities is not None:
        answer["probabilities"] = _json_array(outcome.probabilities)
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


def mlflow_answer(outcome: Outcome) -> dict[str, Any]:
    return {"predictions": _json_array(outcome.predictions)}


def v2_answer(
    name: str, outcome: Outcome, ids: list[str], request_id: Any, wanted: set[str] | None
) -> dict[str, Any]:
    predictions = np.asarray(outcome.predictions)
    n = len(predictions)
    outputs = [_tensor("predict", predictions, [n])]
    if outcome.probabilities is not None:
        proba = np.asarray(outcome.probabilities, dtype=np.float64)
        outputs.append(_tensor("predict_proba", proba, list(proba.shape)))
    if wanted:
        outputs = [o for o in outputs if o["name"] in wanted]
    answer: dict[str, Any] = {
        "model_name": name,
        "model_version": None if outcome.version is None else str(outcome.version),
        "outputs": outputs,
        "parameters": {
            "prediction_ids": ids,
            "degraded": outcome.degraded,
            "path": outcome.path,
        },
    }
    if request_id is not None:
        answer["id"] = request_id
    return answer


def _tensor(name: str, values: np.ndarray, shape: list[int]) -> dict[str, Any]:
    kind = values.dtype.kind
    data = values.reshape(-1)
    return {
        "name": name,
        "shape": shape,
        "datatype": V2_TYPES.get(kind, "BYTES"),
        "data": data if kind in "biuf" else [str(v) for v in data.tolist()],
    }
