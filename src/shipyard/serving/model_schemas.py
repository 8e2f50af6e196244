"""The JSON Schemas of one served model's requests and answers, from its feature schema.

Each is as wide as the server's own checks and no wider: a value the schema refuses,
the server refuses too (4xx), so a client generated from ``/openapi.json`` is typed by
the features (names, types, ranges, categories, nullability) and schema-based fuzzing
tests the real validation. What JSON Schema cannot say is said in the ``description``:
that the tensors of a V2 request (or the columns of a request by columns) hold one
value per row each, and that a ``dataframe_split`` row has one value per column; the
server answers those with 400 or 422.

The schemas of one model go into ``components/schemas`` under ``NAME.<Kind>``
(``fraud.Record``, ``fraud.NativeRequest``, ``fraud.V2Answer``…): see :func:`model_schemas`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .deployment import Deployment
    from .validation import FieldSpec

_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}
_ANY_SCALAR = ["boolean", "number", "string"]
PATHS = ["model", "rules", "cache", "default", "mixed"]
"""Who answered: the model, a fallback rule, the answer cache, the default, or several."""


def ref(name: str, kind: str) -> dict[str, str]:
    """A reference to the ``kind`` schema of model ``name``."""
    return {"$ref": f"#/components/schemas/{name}.{kind}"}


def feature_schema(spec: FieldSpec) -> dict[str, Any]:
    """What one feature accepts, as :class:`.validation.RowValidator` checks it."""
    schema: dict[str, Any]
    if spec.type in ("int", "float"):
        # "integer" admits 3.0, as the server does (a whole number); never true or false
        schema = {"type": "integer" if spec.type == "int" else "number"}
        if spec.min is not None:
            schema["minimum"] = spec.min
        if spec.max is not None:
            schema["maximum"] = spec.max
    elif spec.type == "bool":
        schema = {"type": "boolean"}
    else:
        schema = {"type": "string"}
        if spec.categories:
            schema["enum"] = sorted(spec.categories)
        if spec.regex is not None:
            schema["pattern"] = f"^(?:{spec.regex.pattern})$"  # the server's fullmatch
        if spec.type == "datetime":
            schema["format"] = "date-time"
            schema["description"] = "an ISO 8601 date-time"
    if spec.nullable:
        return {"anyOf": [schema, {"type": "null"}]}
    return schema


def model_schemas(deployment: Deployment, max_rows: int) -> dict[str, dict[str, Any]]:
    """Every schema of ``deployment``'s requests and answers, keyed ``NAME.<Kind>``."""
    name = deployment.name
    validator = deployment.validator
    features = {f.name: feature_schema(f) for f in validator.fields}
    carried = {
        p: {"description": "passed through to the prediction log"} for p in validator.passthrough
    }
    width = len(features)
    rows = {"minItems": 1, "maxItems": max_rows}
    prediction = _prediction(deployment)
    schemas: dict[str, dict[str, Any]] = {
        "Record": {
            "type": "object",
            "description": "one row: a value for every feature"
            + (" (and, optionally, the passthrough fields)" if carried else ""),
            "required": list(features),
            "properties": {**features, **carried},
            "additionalProperties": False,
        },
        "Columns": {
            "type": "object",
            "description": "rows by column: one list per feature, each of one value per row",
            "required": list(features),
            "properties": {
                **{
                    n: {"type": "array", "minItems": 1, "items": schema}
                    for n, schema in features.items()
                },
                **{p: {"type": "array", "minItems": 1} for p in carried},
            },
            "additionalProperties": False,
        },
        "Row": {
            "type": "array",
            "description": f"one row as a list of values in feature order: {', '.join(features)}",
            "prefixItems": list(features.values()),
            "items": False,
            "minItems": width,
        },
        "NativeRequest": {
            "description": "one record, or a list of records",
            "oneOf": [ref(name, "Record"), {"type": "array", "items": ref(name, "Record"), **rows}],
        },
        "NativeAnswer": _native_answer(name, prediction),
        "V2Request": _v2_request(features, carried, max_rows),
        "V2Answer": _v2_answer(name, prediction),
        "V2Metadata": _v2_metadata(name),
        "InvocationsRequest": _invocations_request(name, features, carried, max_rows),
        "InvocationsAnswer": {
            "type": "object",
            "required": ["predictions"],
            "properties": {"predictions": {"type": "array", "items": prediction}},
            "additionalProperties": False,
        },
        "Feedback": _feedback(deployment, max_rows),
    }
    return {f"{name}.{kind}": schema for kind, schema in schemas.items()}


def _prediction(deployment: Deployment) -> dict[str, Any]:
    """One prediction: of the types of the model's classes (or a number for a regressor),
    and of the fallback chain's answers; any scalar where a rules function may answer."""
    loaded = deployment.current
    classes = loaded.predictor.classes if loaded is not None else None
    fallback = deployment.config.fallback
    if deployment.config.task == "regression":
        kinds = {"number"}
    elif classes:
        kinds = {_JSON_TYPES.get(type(c), "string") for c in classes}
    else:
        kinds = set(_ANY_SCALAR)  # no version loaded: the classes are not known yet
    if fallback is not None:
        if isinstance(fallback.rules, str):
            kinds |= set(_ANY_SCALAR)
        answers: list[Any] = [*(fallback.rules if isinstance(fallback.rules, list) else [])]
        answers += [fallback.default] if fallback.default is not None else []
        kinds |= {_JSON_TYPES.get(type(a.prediction), "string") for a in answers}
    if "number" in kinds:
        kinds.discard("integer")
    schema: dict[str, Any] = {"type": sorted(kinds) if len(kinds) > 1 else kinds.pop()}
    if classes:
        schema["description"] = f"one of the classes {classes} (the model's answers)"
    return schema


def _native_answer(name: str, prediction: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["model", "version", "predictions", "prediction_ids", "degraded", "path"],
        "properties": {
            "model": {"const": name},
            "version": {
                "type": ["integer", "null"],
                "description": "the version that answered (null: a fallback rule or the default)",
            },
            "predictions": {"type": "array", "items": prediction},
            "probabilities": {
                "type": "array",
                "description": "per row, one probability per class, in the order of classes "
                "(null: a fallback answer without probabilities)",
                "items": {"type": ["array", "null"], "items": {"type": "number"}},
            },
            "classes": {"type": ["array", "null"], "items": prediction},
            "prediction_ids": {
                "type": "array",
                "items": {"type": "string"},
                "description": "one per row: send it back with the ground truth "
                f"(POST /v1/models/{name}/feedback)",
            },
            "degraded": {"type": "boolean"},
            "path": {"enum": PATHS},
            "reason": {
                "type": ["string", "null"],
                "description": "why the model did not answer",
            },
            "paths": {"type": "array", "items": {"type": ["string", "null"]}},
            "versions": {"type": "array", "items": {"type": ["integer", "null"]}},
        },
        "additionalProperties": False,
    }


_SHAPE = {
    "type": "array",
    "items": {"type": "integer", "minimum": 0},
    "description": "the tensor's shape; its sizes multiply to the number of values in data",
}


def _column_shape(max_rows: int) -> dict[str, Any]:
    """``[n]`` or ``[n, 1]``: one value per row."""
    return {
        **_SHAPE,
        "prefixItems": [{"type": "integer", "minimum": 0, "maximum": max_rows}, {"const": 1}],
        "minItems": 1,
        "maxItems": 2,
    }


_DATATYPE = {
    "description": "the tensor's V2 datatype (FP64, INT64, BOOL, BYTES…); shipyard reads "
    "the values by the model's feature schema, so it is not checked",
}


def _tensor(name: str, data: dict[str, Any], max_rows: int) -> dict[str, Any]:
    """A V2 input tensor named ``name`` of one column, its ``data`` as ``data`` says."""
    return {
        "type": "object",
        "required": ["name", "shape", "data"],
        "properties": {
            "name": {"const": name},
            "shape": _column_shape(max_rows),
            "datatype": _DATATYPE,
            "data": data,
        },
    }


def _v2_request(
    features: dict[str, dict[str, Any]], carried: dict[str, Any], max_rows: int
) -> dict[str, Any]:
    """One tensor per feature (``[n]`` or ``[n, 1]``), or one ``[n, features]`` tensor."""
    one_each = [
        _tensor(
            feature,
            {"type": "array", "items": {"anyOf": [value, {"type": "array", "items": value}]}},
            max_rows,
        )
        for feature, value in features.items()
    ]
    carried_tensors = [_tensor(name, {"type": "array"}, max_rows) for name in carried]
    forms: list[dict[str, Any]] = [
        {
            "description": "one tensor per feature, each of shape [n] or [n, 1]",
            "items": {"anyOf": one_each + carried_tensors},
            "allOf": [
                {"contains": {"properties": {"name": {"const": feature}}}} for feature in features
            ],
        }
    ]
    width = len(features)
    if width > 1:
        values = list(features.values())
        forms.append(
            {
                "description": f"one tensor of shape [n, {width}], the features in order: "
                f"{', '.join(features)}",
                "prefixItems": [
                    {
                        "type": "object",
                        "required": ["name", "shape", "data"],
                        "properties": {
                            "name": {"type": "string"},
                            "shape": {
                                "type": "array",
                                "prefixItems": [
                                    {"type": "integer", "minimum": 0, "maximum": max_rows},
                                    {"const": width},
                                ],
                                "items": False,
                                "minItems": 2,
                            },
                            "datatype": _DATATYPE,
                            "data": {
                                "type": "array",
                                "items": {
                                    "anyOf": [
                                        *values,
                                        {
                                            "type": "array",
                                            "prefixItems": values,
                                            "items": False,
                                            "minItems": width,
                                        },
                                    ]
                                },
                            },
                        },
                    }
                ],
                "items": {"anyOf": carried_tensors} if carried_tensors else False,
            }
        )
    return {
        "type": "object",
        "description": "an Open Inference Protocol V2 inference request: each tensor's data "
        "holds one value per row (as its shape says), and every tensor the same rows",
        "required": ["inputs"],
        "properties": {
            "id": {"description": "echoed back in the answer"},
            "inputs": {"type": "array", "minItems": 1, "anyOf": forms},
            "outputs": {
                "description": "the outputs to answer (predict, predict_proba): a list of "
                "{name}; all of them when left out",
            },
            "parameters": {},
        },
    }


def _v2_answer(name: str, prediction: dict[str, Any]) -> dict[str, Any]:
    predict = {
        "type": "object",
        "required": ["name", "shape", "datatype", "data"],
        "properties": {
            "name": {"const": "predict"},
            "shape": {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 1},
            "datatype": {"enum": ["BOOL", "INT64", "UINT64", "FP64", "BYTES"]},
            "data": {
                "type": "array",
                "items": {"anyOf": [prediction, {"type": "string"}]},
                "description": "the predictions (as strings when the datatype is BYTES)",
            },
        },
        "additionalProperties": False,
    }
    proba = {
        "type": "object",
        "required": ["name", "shape", "datatype", "data"],
        "properties": {
            "name": {"const": "predict_proba"},
            "shape": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2},
            "datatype": {"const": "FP64"},
            "data": {
                "type": "array",
                "items": {"type": "number"},
                "description": "row after row, one probability per class",
            },
        },
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "required": ["model_name", "model_version", "outputs", "parameters"],
        "properties": {
            "model_name": {"const": name},
            "model_version": {"type": ["string", "null"]},
            "id": {"description": "the request's id"},
            "outputs": {"type": "array", "items": {"anyOf": [predict, proba]}},
            "parameters": {
                "type": "object",
                "required": ["prediction_ids", "degraded", "path"],
                "properties": {
                    "prediction_ids": {"type": "array", "items": {"type": "string"}},
                    "degraded": {"type": "boolean"},
                    "path": {"enum": PATHS},
                },
                "additionalProperties": False,
            },
        },
        "additionalProperties": False,
    }


def _v2_metadata(name: str) -> dict[str, Any]:
    tensor = {
        "type": "object",
        "required": ["name", "datatype", "shape"],
        "properties": {
            "name": {"type": "string"},
            "datatype": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer"}},
        },
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "required": ["name", "versions", "platform", "inputs", "outputs"],
        "properties": {
            "name": {"const": name},
            "versions": {"type": "array", "items": {"type": "string"}},
            "platform": {"type": "string"},
            "inputs": {"type": "array", "items": tensor},
            "outputs": {"type": "array", "items": tensor},
        },
        "additionalProperties": False,
    }


def _invocations_request(
    name: str, features: dict[str, Any], carried: dict[str, Any], max_rows: int
) -> dict[str, Any]:
    """MLflow's four forms; exactly one of their keys (others, such as params, are ignored)."""
    rows = {"minItems": 1, "maxItems": max_rows}
    records_rows_or_columns = {
        "anyOf": [
            {"type": "array", "items": ref(name, "Record"), **rows},
            {"type": "array", "items": ref(name, "Row"), **rows},
            ref(name, "Columns"),
        ]
    }
    split = {
        "type": "object",
        "description": "pandas' split orient: each row of data has one value per column",
        "required": ["columns", "data"],
        "properties": {
            "columns": {
                "type": "array",
                "items": {"enum": [*features, *carried]},
                "allOf": [{"contains": {"const": feature}} for feature in features],
                "description": "every feature once (and any passthrough field)",
            },
            "data": {
                "type": "array",
                "items": {"type": "array", "items": {"anyOf": list(features.values()) or [{}]}},
                **rows,
            },
        },
    }
    forms = {
        "dataframe_split": split,
        "dataframe_records": records_rows_or_columns,
        "instances": records_rows_or_columns,
        "inputs": records_rows_or_columns,
    }
    return {
        "type": "object",
        "description": "MLflow's scoring format: exactly one of dataframe_split, "
        "dataframe_records, instances or inputs",
        "oneOf": [
            {"required": [key], "properties": {key: schema}} for key, schema in forms.items()
        ],
    }


def _feedback(deployment: Deployment, max_rows: int) -> dict[str, Any]:
    """``{prediction_id, label}``, a list of them, or ``{"feedback": [...]}``."""
    loaded = deployment.current
    classes = loaded.predictor.classes if loaded is not None else None
    label: dict[str, Any]
    if deployment.config.task == "regression":
        label = {"type": "number"}
    elif classes:
        label = {"enum": list(classes), "description": f"one of the classes {classes}"}
    else:
        label = {"description": "one of the model's classes"}
    item = {
        "type": "object",
        "required": ["prediction_id", "label"],
        "properties": {
            "prediction_id": {"type": "string", "minLength": 1, "maxLength": 100},
            "label": label,
        },
        "additionalProperties": False,
    }
    items = {"anyOf": [item, {"type": "array", "items": item, "minItems": 1, "maxItems": max_rows}]}
    return {
        "anyOf": [
            items,
            {
                "type": "object",
                "required": ["feedback"],
                "properties": {"feedback": items},
            },
        ]
    }
