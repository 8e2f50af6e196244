"""The Open Inference Protocol V2 (KServe, Triton): its codec and its metadata routes.

``inputs`` come as one tensor per feature (shape ``[n]`` or ``[n, 1]``) or as one
``[n, features]`` tensor; the answer's ``outputs`` are ``predict`` and, for a
classifier, ``predict_proba`` (or the ones the request's ``outputs`` names).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from shipyard import __version__
from shipyard.serving.deployment import Deployment, Outcome
from shipyard.serving.http import HttpError, send_json
from shipyard.serving.validation import MalformedRequestError, Rows, RowValidator

from . import count_rows

if TYPE_CHECKING:
    from shipyard.serving.app import ServingApp
    from shipyard.serving.routing import Call

V2_TYPES = {"b": "BOOL", "i": "INT64", "u": "UINT64", "f": "FP64", "O": "BYTES", "U": "BYTES"}
ANSWER_KEYS = frozenset({"model_name", "model_version", "outputs", "parameters"})


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
    features = tensors
    if validator.passthrough:  # passthrough tensors may stand beside one [n, features] tensor
        features = [t for t in tensors if t[0] not in validator.passthrough]
    if len(features) == 1 and len(features[0][1]) == 2 and features[0][1][1] == width and width > 1:
        name, shape, flat = features[0]
        rows = shape[0]
        _check_size(name, shape, flat)
        count_rows(rows, max_rows)
        matrix = validator.matrix([flat[i * width : (i + 1) * width] for i in range(rows)])
        if len(features) == len(tensors):
            return matrix
        carried: dict[str, Any] = {}
        for name, shape, flat in tensors:
            if name in validator.passthrough:
                _check_size(name, shape, flat)
                if len(flat) != rows:
                    raise MalformedRequestError(
                        f"input '{name}': expected {rows} values, one per row; got {len(flat)}"
                    )
                carried[name] = flat
        return validator.carry(matrix, carried)
    columns: dict[str, Any] = {}
    for name, shape, flat in tensors:
        _check_size(name, shape, flat)
        if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1):
            raise MalformedRequestError(
                f"input '{name}': expected shape [n] or [n, 1] (one feature), or one input "
                f"of shape [n, {width}] with every feature; got {shape}"
            )
        count_rows(shape[0], max_rows)
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


def v2_answer(name: str, outcome: Outcome, ids: list[str], body: Any) -> dict[str, Any]:
    """The ``outputs`` the request asked for (all by default), its ``id`` echoed back."""
    request_id = body.get("id")
    outputs_wanted = body.get("outputs")
    wanted: set[str] | None = None
    if isinstance(outputs_wanted, list):
        wanted = {str(o.get("name")) for o in outputs_wanted if isinstance(o, dict)}
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


# -- routes ------------------------------------------------------------------------------
def served(app: ServingApp, params: dict[str, str]) -> None:
    """404 unless the model (and the version, when the path names one) is served here."""
    app.find(params["name"], params.get("version"))


def not_found(app: ServingApp, method: str, path: str, parts: list[str]) -> HttpError:
    """A path under ``/v2`` that no route matches: the model and version are checked first."""
    if len(parts) >= 3 and parts[1] == "models":
        params = {"name": parts[2]}
        rest = parts[3:]
        if len(rest) >= 2 and rest[0] == "versions":
            params["version"] = rest[1]
        served(app, params)
    return HttpError(404, "not_found", f"no route {method} {path}")


async def server_metadata(app: ServingApp, call: Call) -> tuple[int, str]:
    await send_json(call.send, 200, {"name": "shipyard", "version": __version__, "extensions": []})
    return 200, ""


async def model_metadata(app: ServingApp, call: Call) -> tuple[int, str]:
    name = call.params["name"]
    deployment = app.find(name, call.params.get("version"))
    versions = [
        str(d.current.version.version)
        for d in app.deployments.values()
        if d.name == deployment.name and d.current is not None
    ]
    await send_json(call.send, 200, {**metadata(deployment), "versions": versions})
    return 200, name


async def model_ready(app: ServingApp, call: Call) -> tuple[int, str]:
    name = call.params["name"]
    ready = app.find(name, call.params.get("version")).ready and not app.shutting_down
    status = 200 if ready else 503
    await send_json(call.send, status, {"name": name, "ready": ready})
    return status, name


def metadata(deployment: Deployment) -> dict[str, Any]:
    """A model's V2 metadata: its version, platform, input and output tensors."""
    loaded = deployment.current
    kinds = {"int": "INT64", "float": "FP64", "bool": "BOOL"}
    return {
        "name": deployment.name,
        "versions": [str(loaded.version.version)] if loaded else [],
        "platform": f"shipyard-{loaded.version.format}" if loaded else "shipyard",
        "inputs": [
            {"name": f.name, "datatype": kinds.get(f.type, "BYTES"), "shape": [-1]}
            for f in deployment.validator.fields
        ],
        "outputs": [
            {"name": "predict", "datatype": "BYTES", "shape": [-1]},
            *(
                [{"name": "predict_proba", "datatype": "FP64", "shape": [-1, -1]}]
                if deployment.fallback.with_proba
                else []
            ),
        ],
    }
