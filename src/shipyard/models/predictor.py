"""One interface over every model format: ``Predictor``.

Serving and evaluation call ``predict`` and ``predict_proba`` with a table whose
columns are the model's features (a pandas or polars DataFrame, or a 2-D array in
feature order); the predictor puts the columns in the order the model was trained
with and answers with NumPy arrays.

``SklearnPredictor`` serves scikit-learn estimators (formats ``skops`` and
``pickle``); the other formats' predictors live beside their format
(``format_onnx.OnnxPredictor``, ``format_boosters.BoosterPredictor``), and
``make_predictor`` picks one through the format table.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shipyard.errors import ShipyardError


class PredictionInputError(ShipyardError, ValueError):
    """The rows given to a model do not have its features."""

    http_status = 422


class Predictor:
    """A loaded model: ``predict``, ``predict_proba`` (classifiers) and its feature order."""

    def __init__(self, features: list[str], task: str, classes: list[Any] | None = None) -> None:
        self.features = list(features)
        self.task = task
        self.classes = classes

    @property
    def has_proba(self) -> bool:
        return self.task != "regression"

    def predict(self, rows: Any) -> np.ndarray:
        raise NotImplementedError

    def predict_proba(self, rows: Any) -> np.ndarray:
        raise NotImplementedError

    def answer(self, rows: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """Labels (or values) and, for a classifier, class probabilities, in one model call.

        A classifier's label is its most probable class, as scikit-learn's own
        classifiers decide it.
        """
        if self.task == "regression" or not self.has_proba:
            return self.predict(rows), None
        proba = self.predict_proba(rows)
        if not self.classes:
            return self.predict(rows), proba
        return np.asarray(self.classes)[proba.argmax(axis=1)], proba

    def _frame(self, rows: Any) -> Any:
        """``rows`` as a pandas DataFrame with exactly the features, in order."""
        import pandas as pd

        if hasattr(rows, "to_pandas") and not isinstance(rows, pd.DataFrame):
            rows = rows.to_pandas()
        if isinstance(rows, pd.DataFrame):
            missing = [f for f in self.features if f not in rows.columns]
            if missing:
                raise PredictionInputError(
                    f"the rows lack the model's feature(s) {', '.join(missing)}; "
                    f"it needs {', '.join(self.features)}"
                )
            return rows[self.features]
        array = np.asarray(rows)
        if array.ndim != 2 or array.shape[1] != len(self.features):
            raise PredictionInputError(
                f"expected rows of {len(self.features)} values ({', '.join(self.features)}), "
                f"got an array of shape {array.shape}"
            )
        return pd.DataFrame(array, columns=self.features)

    def _matrix(self, rows: Any) -> np.ndarray:
        if isinstance(rows, np.ndarray) and rows.ndim == 2 and rows.shape[1] == len(self.features):
            return rows.astype(np.float32, copy=False)
        frame = self._frame(rows)
        try:
            return np.asarray(frame.to_numpy(dtype=np.float32))
        except (TypeError, ValueError) as exc:
            raise PredictionInputError(f"this model takes numbers only: {exc}") from exc


class SklearnPredictor(Predictor):
    """A scikit-learn estimator or pipeline."""

    def __init__(self, estimator: Any, features: list[str], task: str) -> None:
        classes = [
            c.item() if hasattr(c, "item") else c for c in getattr(estimator, "classes_", [])
        ] or None
        super().__init__(features, task, classes)
        self.estimator = estimator
        self._named = hasattr(estimator, "feature_names_in_")

    @property
    def has_proba(self) -> bool:
        return hasattr(self.estimator, "predict_proba")

    def predict(self, rows: Any) -> np.ndarray:
        return np.asarray(self.estimator.predict(self._input(rows)))

    def predict_proba(self, rows: Any) -> np.ndarray:
        if not self.has_proba:
            raise PredictionInputError(f"{type(self.estimator).__name__} gives no probabilities")
        return np.asarray(self.estimator.predict_proba(self._input(rows)))

    def _input(self, rows: Any) -> Any:
        if (
            not self._named
            and isinstance(rows, np.ndarray)
            and rows.ndim == 2
            and rows.shape[1] == len(self.features)
        ):
            return rows  # the fast path of serving: a float matrix in feature order
        frame = self._frame(rows)
        return frame if self._named else frame.to_numpy()


def sklearn_predictor(
    model: Any, features: list[str], task: str, classes: list[Any] | None
) -> SklearnPredictor:
    """A format's predictor for a scikit-learn model (its classes come from the model)."""
    return SklearnPredictor(model, features, task)


def make_predictor(
    model: Any, fmt: str, features: list[str], task: str, classes: list[Any] | None = None
) -> Predictor:
    """Wrap a loaded model of format ``fmt`` in the :class:`Predictor` its format names."""
    from .formats import FORMATS  # imported here: the formats' modules import this one

    return FORMATS[fmt].predictor(model, features, task, classes)
