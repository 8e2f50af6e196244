"""The ``onnx`` format: ONNX models (e.g. from skl2onnx), run with onnxruntime.

The protobuf is checked before onnxruntime sees it: no external data, only
standard operator domains unless trusted (:mod:`shipyard.models.onnx_check`); no
custom-operator library is ever loaded.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .format_spec import FormatSpec, LoadContext
from .onnx_check import check_onnx
from .predictor import PredictionInputError, Predictor


def _dump(model: Any) -> bytes:
    return bytes(model) if isinstance(model, bytes | bytearray) else model.SerializeToString()


def _load(data: bytes, context: LoadContext) -> Any:
    import onnxruntime

    check_onnx(data, context.trusted_types, context.where)
    return onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])


class OnnxPredictor(Predictor):
    """An ONNX model run by onnxruntime (one float tensor in; label and probabilities out)."""

    def __init__(
        self, session: Any, features: list[str], task: str, classes: list[Any] | None
    ) -> None:
        super().__init__(features, task, classes)
        self.session = session
        self._input_name = session.get_inputs()[0].name
        self._outputs = [o.name for o in session.get_outputs()]

    def _run(self, rows: Any) -> list[Any]:
        result: list[Any] = self.session.run(None, {self._input_name: self._matrix(rows)})
        return result

    def predict(self, rows: Any) -> np.ndarray:
        return np.asarray(self._run(rows)[0]).reshape(-1)

    def predict_proba(self, rows: Any) -> np.ndarray:
        outputs = self._run(rows)
        if len(outputs) < 2:
            raise PredictionInputError("this ONNX model gives no probabilities")
        probabilities = outputs[1]
        if isinstance(probabilities, list):  # a ZipMap output: one dict per row
            keys = list(probabilities[0])
            return np.array([[row[k] for k in keys] for row in probabilities])
        return np.asarray(probabilities)


def _is_serialised(model: Any) -> bool:
    return isinstance(model, bytes | bytearray)  # a serialised ONNX model, as skl2onnx returns


ONNX = FormatSpec(
    name="onnx",
    suffix=".onnx",
    package="onnxruntime",
    extra="onnx",
    dump=_dump,
    load=_load,
    predictor=OnnxPredictor,
    modules=("onnx",),
    claims=_is_serialised,
    distributions=("onnxruntime",),
)
