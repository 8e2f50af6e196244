"""The ``lightgbm`` and ``xgboost`` formats: boosters in their libraries' own text and JSON.

Only LightGBM's text model and XGBoost's JSON/UBJSON model are read, never a
pickle: bytes that do not start like one are refused before the library parses
them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .format_spec import FormatSpec, LoadContext, ModelFormatError
from .predictor import PredictionInputError, Predictor


def _check_booster(data: bytes, fmt: str, where: str, starts: tuple[bytes, ...], kind: str) -> None:
    """Refuse, unread, bytes that do not start like a ``fmt`` booster model (e.g. a pickle)."""
    head = data.lstrip()[:8]
    if not head.startswith(starts):
        looks = " (it looks like a pickle)" if head.startswith(b"\x80") else ""
        raise ModelFormatError(
            f"{where} is not a readable {fmt} model: it starts with {head!r}, not like "
            f"{kind}{looks}; refusing it unread",
            hint="save LightGBM models with booster.save_model()/model_to_string() and XGBoost "
            "models as JSON (booster.save_model('model.json')); shipyard never unpickles them",
        )


class BoosterPredictor(Predictor):
    """A LightGBM booster (binary: probability of class 1; multiclass: one per class)."""

    def __init__(
        self, booster: Any, features: list[str], task: str, classes: list[Any] | None
    ) -> None:
        super().__init__(features, task, classes)
        self.booster = booster

    def _raw(self, rows: Any) -> np.ndarray:
        return np.asarray(self.booster.predict(self._matrix(rows)))

    def predict_proba(self, rows: Any) -> np.ndarray:
        if self.task == "regression":
            raise PredictionInputError("a regression model gives no probabilities")
        raw = self._raw(rows)
        if raw.ndim == 1:
            return np.column_stack([1 - raw, raw])
        return raw

    def predict(self, rows: Any) -> np.ndarray:
        if self.task == "regression":
            return self._raw(rows)
        labels = np.asarray(self.classes if self.classes is not None else [0, 1])
        return np.asarray(labels[self.predict_proba(rows).argmax(axis=1)])


class XGBoostPredictor(BoosterPredictor):
    """An XGBoost booster, fed a ``DMatrix`` with the feature names it was trained with."""

    def _raw(self, rows: Any) -> np.ndarray:
        import xgboost

        matrix = xgboost.DMatrix(self._matrix(rows), feature_names=self.features)
        return np.asarray(self.booster.predict(matrix))


# -- LightGBM ------------------------------------------------------------------------------
def _dump_lightgbm(model: Any) -> bytes:
    booster = getattr(model, "booster_", model)
    return str(booster.model_to_string()).encode()


def _load_lightgbm(data: bytes, context: LoadContext) -> Any:
    import lightgbm

    _check_booster(data, "lightgbm", context.where, (b"tree",), "a LightGBM text model")
    return lightgbm.Booster(model_str=data.decode())


LIGHTGBM = FormatSpec(
    name="lightgbm",
    suffix=".lgb.txt",
    package="lightgbm",
    extra="lightgbm",
    dump=_dump_lightgbm,
    load=_load_lightgbm,
    predictor=BoosterPredictor,
    modules=("lightgbm",),
    distributions=("lightgbm",),
)


# -- XGBoost -------------------------------------------------------------------------------
def _dump_xgboost(model: Any) -> bytes:
    booster = model.get_booster() if hasattr(model, "get_booster") else model
    return bytes(booster.save_raw(raw_format="json"))


def _load_xgboost(data: bytes, context: LoadContext) -> Any:
    import xgboost

    _check_booster(data, "xgboost", context.where, (b"{",), "an XGBoost JSON/UBJSON model")
    booster = xgboost.Booster()
    booster.load_model(bytearray(data))
    return booster


XGBOOST = FormatSpec(
    name="xgboost",
    suffix=".xgb.json",
    package="xgboost",
    extra="xgboost",
    dump=_dump_xgboost,
    load=_load_xgboost,
    predictor=XGBoostPredictor,
    modules=("xgboost",),
    distributions=("xgboost", "xgboost-cpu"),
)
