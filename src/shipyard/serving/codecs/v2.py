"""The Open Inference Protocol V2 (KServe, Triton): its codec and its metadata routes.

``inputs`` come as one tensor per feature (shape ``[n]`` or ``[n, 1]``) or as one
``[n, features]`` tensor, their values in JSON (``data``) or as binary data after the
JSON object (the binary tensor data extension, :mod:`.v2_binary`); the answer's
``outputs`` are ``predict`` and, for a classifier, ``predict_proba`` (or the ones the
request's ``outputs`` names), each in JSON or as binary data as the request asks.

``predict``'s datatype is the one ``GET /v2/models/{name}`` declares: a classifier's
labels say it (``BOOL``, ``INT64``, ``FP64`` or ``BYTES`` for text), a regressor's
values are ``FP64``; ``predict_proba`` is ``FP64``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from shipyard import __version__
from shipyard.serving.deployment import Deployment, Outcome
from shipyard.serving.http import HttpError, Receive, Scope, header, read_body, send_json
from shipyard.serving.origin import JSON, require_body_type
from shipyard.serving.validation import MalformedRequestError, RequestError, Rows, RowValidator

from . import Reply, count_rows
from .v2_binary import HEADER, OCTET_STREAM, binary_answer, split_body, wants_binary

if TYPE_CHECKING:
    from shipyard.serving.app import ServingApp
    from shipyard.serving.routing import Call

V2_TYPES = {"b": "BOOL", "i": "INT64", "u": "UINT64", "f": "FP64", "O": "BYTES", "U": "BYTES"}
ANSWER_KEYS = frozenset({"model_name", "model_version", "outputs", "parameters"})
OUTPUTS = ("predict", "predict_proba")
"""The outputs a model answers with (``predict_proba``: classifiers that give probabilities)."""
EXTENSIONS = ["binary_tensor_data"]
"""The protocol's extensions this server speaks (server metadata lists them)."""
BODY_TYPES = (JSON, OCTET_STREAM)
"""A V2 request body: JSON, or JSON and binary tensor data (either media type: tritonclient
sends none, the extension's examples ``application/octet-stream``)."""
_COLUMN_TYPES = {"bool": "BOOL", "int": "INT64", "float": "FP64"}
_SAID = 3  # problems said in a refusal's error (all of them are in its problems)


async def read_request(scope: Scope, receive: Receive, limit: int) -> Any:
    """The request's JSON object, the values of binary inputs put into their ``data``:
    415 for another Content-Type, 413 when the whole body passes ``limit``, 400."""
    require_body_type(scope, BODY_TYPES)
    raw = await read_body(scope, receive, limit)
    return split_body(raw, header(scope, HEADER))


def v2_rows(body: Any, validator: RowValidator, max_rows: int) -> Rows:
    """The ``inputs`` of a V2 inference request.

    A refusal's ``error`` names its first problems too: a V2 client (tritonclient)
    shows the ``error`` string alone, not the ``problems`` beside it.
    """
    try:
        return _rows(body, validator, max_rows)
    except RequestError as exc:
        if exc.problems:
            shown = "; ".join(exc.problems[:_SAID])
            more = " (and more: see 'problems')" if len(exc.problems) > _SAID else ""
            exc.message = f"{exc.message}: {shown}{more}"
        raise


def _rows(body: Any, validator: RowValidator, max_rows: int) -> Rows:
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list) or not inputs:
        raise MalformedRequestError(
            "expected an object with 'inputs': a list of tensors "
            "({name, shape, datatype, data}) (the Open Inference Protocol V2)"
        )
    _check_outputs(body)
    tensors = []
    for index, tensor in enumerate(inputs):
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise MalformedRequestError(f"inputs[{index}]: a tensor needs a 'name'")
        shape, data = tensor.get("shape"), tensor.get("data")
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):  # JSON true is a bool, not a size
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


def _check_outputs(body: dict[str, Any]) -> None:
    """The outputs asked for, and in which form: refused before the model is called."""
    parameters = body.get("parameters")
    if parameters is not None:
        if not isinstance(parameters, dict):
            raise MalformedRequestError("'parameters' must be an object")
        if not isinstance(parameters.get("binary_data_output", False), bool):
            raise MalformedRequestError("parameters.binary_data_output must be true or false")
    outputs = body.get("outputs")
    if outputs is None:
        return
    if not isinstance(outputs, list):
        raise MalformedRequestError("'outputs' must be a list of outputs ({name, parameters})")
    for index, output in enumerate(outputs):
        name = output.get("name") if isinstance(output, dict) else None
        if not isinstance(name, str):
            raise MalformedRequestError(f"outputs[{index}]: an output needs a 'name'")
        if name not in OUTPUTS:
            raise MalformedRequestError(
                f"outputs[{index}]: no output '{name}'; the outputs are {', '.join(OUTPUTS)}",
                hint="GET /v2/models/{name} lists a model's outputs",
            )
        given = output.get("parameters")
        if given is None:
            continue
        if not isinstance(given, dict):
            raise MalformedRequestError(
                f"outputs[{index}] ({name}): 'parameters' must be an object"
            )
        if not isinstance(given.get("binary_data", False), bool):
            raise MalformedRequestError(
                f"outputs[{index}] ({name}): parameters.binary_data must be true or false"
            )
        if "classification" in given:
            raise MalformedRequestError(
                f"outputs[{index}] ({name}): the classification extension is not supported here",
                hint="ask for predict_proba: each class's probability, in the model's order",
            )
        if "shared_memory_region" in given:
            raise MalformedRequestError(
                f"outputs[{index}] ({name}): shared memory is not supported here; "
                "ask for the output in the answer (JSON or binary_data)"
            )


def _check_size(name: str, shape: list[int], flat: list[Any]) -> None:
    size = math.prod(shape)
    if size != len(flat):
        raise MalformedRequestError(
            f"input '{name}': shape {shape} holds {size} values, but data has {len(flat)}"
        )


def v2_answer(name: str, outcome: Outcome, ids: list[str], body: Any) -> dict[str, Any] | Reply:
    """The ``outputs`` the request asked for (all by default), its ``id`` echoed back; as
    binary data after the JSON object for the outputs that the request wants so."""
    predictions = np.asarray(outcome.predictions)
    n = len(predictions)
    datatype = answer_datatype(outcome, predictions)
    tensors = {"predict": (_as(predictions, datatype), [n])}
    if outcome.probabilities is not None:
        proba = _probabilities(outcome.probabilities, n)
        tensors["predict_proba"] = (proba, list(proba.shape))
    requested = body.get("outputs")
    names = [o["name"] for o in requested] if requested else list(tensors)
    every, each = wants_binary(body)
    binary: dict[str, np.ndarray] = {}
    outputs = []
    for output in dict.fromkeys(names):
        if output not in tensors:
            continue  # predict_proba of a model that gives no probabilities
        values, shape = tensors[output]
        tensor = _tensor(output, values, shape)
        outputs.append(tensor)
        if each.get(output, every):
            binary[output] = values
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
    request_id = body.get("id")
    if request_id is not None:
        answer["id"] = request_id
    return binary_answer(answer, binary) if binary else answer


def label_datatype(labels: list[Any]) -> str:
    """The V2 datatype of a classifier's labels: BOOL, INT64, FP64, or BYTES (text, mixed)."""
    kinds = {type(label) for label in labels}
    if kinds == {bool}:
        return "BOOL"
    if kinds <= {int}:
        return "INT64"
    if kinds <= {int, float}:
        return "FP64"
    return "BYTES"


def answer_datatype(outcome: Outcome, predictions: np.ndarray) -> str:
    """``predict``'s datatype: the model's labels say it; without them (a regressor, or
    a fallback answering with no model loaded) numbers are FP64 and labels their own."""
    if outcome.classes:
        return label_datatype(outcome.classes)
    kind = predictions.dtype.kind
    if outcome.probabilities is None and kind in "iuf":
        return "FP64"  # a regressor's values (a fallback's default may be written as 0)
    if kind == "O":
        return label_datatype(predictions.tolist())
    return V2_TYPES.get(kind, "BYTES")


def _as(values: np.ndarray, datatype: str) -> np.ndarray:
    """``values`` as ``datatype`` where they convert without loss (a fallback's ``0`` for a
    regressor's FP64, a rule's ``false`` among labels 0 and 1); else as they are."""
    kind = values.dtype.kind
    if datatype == "BYTES":
        return values if kind == "U" else values.astype(str)
    if datatype == "FP64" and kind in "biuf":
        return values.astype(np.float64, copy=False)
    if datatype == "INT64" and kind in "biu":
        return values.astype(np.int64, copy=False)
    if kind == "O":
        try:
            converted = values.astype(
                {"BOOL": bool, "INT64": np.int64, "FP64": np.float64}[datatype]
            )
        except (TypeError, ValueError, OverflowError):
            return values.astype(str)
        return converted if (converted == values).all() else values.astype(str)
    return values


def _probabilities(probabilities: Any, n: int) -> np.ndarray:
    """An ``[n, classes]`` FP64 array; a row that a fallback answered without them is NaN
    (``null`` in JSON)."""
    try:
        return np.asarray(probabilities, dtype=np.float64)
    except (TypeError, ValueError):  # rows without probabilities among those with them
        pass
    width = max((len(row) for row in probabilities if row is not None), default=0)
    proba = np.full((n, width), np.nan)
    for index, row in enumerate(probabilities):
        if row is not None:
            proba[index] = row
    return proba


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
    await send_json(
        call.send, 200, {"name": "shipyard", "version": __version__, "extensions": EXTENSIONS}
    )
    return 200, ""


async def model_metadata(app: ServingApp, call: Call) -> tuple[int, str]:
    name = call.params["name"]
    deployment = app.find(name, call.params.get("version"))
    versions = [
        str(d.current.version.version)
        for d in app.deployments.values()
        if d.name == deployment.name and d.current is not None
    ]
    dataset = app.project.config.datasets.get(deployment.config.dataset)
    target = dataset.columns.get(dataset.target) if dataset and dataset.target else None
    answer = metadata(deployment, target.type if target else None)
    await send_json(call.send, 200, {**answer, "versions": versions})
    return 200, name


async def model_ready(app: ServingApp, call: Call) -> tuple[int, str]:
    name = call.params["name"]
    ready = app.find(name, call.params.get("version")).ready and not app.shutting_down
    status = 200 if ready else 503
    await send_json(call.send, status, {"name": name, "ready": ready})
    return status, name


def metadata(deployment: Deployment, target_type: str | None = None) -> dict[str, Any]:
    """A model's V2 metadata: its version, platform, input and output tensors, their
    datatypes those of the answers (``target_type``: the type of the dataset's target
    column, which says the labels' while no model is loaded)."""
    loaded = deployment.current
    kinds = {"int": "INT64", "float": "FP64", "bool": "BOOL"}
    proba = deployment.fallback.with_proba and (loaded is None or loaded.predictor.has_proba)
    return {
        "name": deployment.name,
        "versions": [str(loaded.version.version)] if loaded else [],
        "platform": f"shipyard-{loaded.version.format}" if loaded else "shipyard",
        "inputs": [
            {"name": f.name, "datatype": kinds.get(f.type, "BYTES"), "shape": [-1]}
            for f in deployment.validator.fields
        ],
        "outputs": [
            {
                "name": "predict",
                "datatype": predict_datatype(deployment, target_type),
                "shape": [-1],
            },
            *([{"name": "predict_proba", "datatype": "FP64", "shape": [-1, -1]}] if proba else []),
        ],
    }


def predict_datatype(deployment: Deployment, target_type: str | None) -> str:
    """The datatype of ``predict``: FP64 for a regressor, else that of the loaded model's
    labels (those of the dataset's target column while none is loaded)."""
    if deployment.config.task == "regression":
        return "FP64"
    loaded = deployment.current
    classes = loaded.predictor.classes if loaded is not None else None
    if classes:
        return label_datatype(classes)
    return _COLUMN_TYPES.get(target_type or "", "BYTES")
