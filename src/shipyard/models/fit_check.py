"""Check that a model fits what it is registered as, before anything is written.

``Models.register`` (and so ``train`` and ``models import``) calls :func:`check_fit`
with what the project says the model is (its features, its task, the values its
dataset's target may take) and, when the dataset has a version, a sample of its
rows (at most ``SAMPLE_ROWS``, drawn with a fixed seed, so the check costs the same
for a big dataset as for a small one). It refuses, with one line
(:class:`ModelMismatchError`):

- a model whose own features (scikit-learn's ``feature_names_in_`` or
  ``n_features_in_``, a booster's feature names or count) are not the features it
  is registered with: a model fitted on 2 columns is not a 30-feature model;
- a regressor under a classification model, or a classifier under a regression one;
- classes that are not values of the target (or more than two under
  ``binary_classification``);
- a model that raises on the sample, or whose answers are not values of the
  target (classification) or not numbers (regression).

Feature names that are the registered ones in another order are kept in the
model's order: the version lists its features the way the model reads them.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from shipyard.config import ColumnConfig
from shipyard.errors import ShipyardError, first_line

from .predictor import Predictor, SklearnPredictor

logger = logging.getLogger(__name__)

#: The rows of the dataset a new version predicts on before it is registered.
SAMPLE_ROWS = 200
#: A target with more distinct values than this is not taken as a list of classes.
MAX_CLASSES = 1000
_SHOWN = 5  # names and values listed in a message before "… (N in all)"


class ModelMismatchError(ShipyardError, ValueError):
    """A model does not fit what it is registered as: its features, task, classes or rows."""

    http_status = 422


@dataclass(frozen=True)
class Expected:
    """What the project says a model is, and rows to try it on.

    ``features_from`` names where the features were given (``models.NAME.features``
    or ``features=``); ``target_values`` is ``None`` when they are not known;
    ``sample`` is a pandas DataFrame of rows of ``data`` (the features and, when
    present, the target), or ``None`` without a dataset version.
    """

    model: str
    task: str
    features: list[str]
    features_from: str
    target: str | None = None
    target_values: list[Any] | None = None
    sample: Any = None
    data: str | None = None


def check_fit(
    model: Any,
    expected: Expected,
    *,
    classes: list[Any] | None = None,
    predictor: Callable[[list[str]], Predictor] | None = None,
) -> list[str]:
    """Refuse ``model`` if it does not fit ``expected``; its features, in the model's order.

    ``predictor`` makes the :class:`Predictor` that will serve the model (from the
    stored bytes); by default the model is called as a scikit-learn estimator.
    """
    what = _describe(model)
    features = _check_features(model, expected, what)
    _check_kind(model, expected, what)
    if expected.task != "regression":
        _check_classes(classes, expected, what)
    if expected.sample is not None and len(expected.sample):
        make = predictor or (lambda names: SklearnPredictor(model, names, expected.task))
        _check_answers(make(features), expected, what)
    return features


# -- what to check against -----------------------------------------------------------
def sample_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """Up to ``SAMPLE_ROWS`` rows of ``frame``, drawn with a fixed seed, in their order."""
    if frame.height <= SAMPLE_ROWS:
        return frame
    picked = np.random.default_rng(0).choice(frame.height, SAMPLE_ROWS, replace=False)
    return frame[np.sort(picked)]


def sample_parquet(
    data: bytes, columns: list[str], target: str | None
) -> tuple[pl.DataFrame, pl.Series | None]:
    """Up to ``SAMPLE_ROWS`` rows of the Parquet file ``data`` (the ``columns`` it has),
    and its whole ``target`` column; only the row groups the rows come from are decoded."""
    import pyarrow.parquet as pq

    file = pq.ParquetFile(io.BytesIO(data))
    present = set(file.schema_arrow.names)
    wanted = [c for c in dict.fromkeys(columns) if c in present]
    chosen: list[int] = []
    count = 0
    for group in np.random.default_rng(0).permutation(file.metadata.num_row_groups):
        chosen.append(int(group))
        count += file.metadata.row_group(int(group)).num_rows
        if count >= SAMPLE_ROWS:
            break
    part = pl.DataFrame(pl.from_arrow(file.read_row_groups(sorted(chosen), columns=wanted)))
    column = None
    if target in present:
        column = pl.DataFrame(pl.from_arrow(file.read(columns=[target]))).get_column(str(target))
    return sample_rows(part), column


def target_values(schema: ColumnConfig | None, column: pl.Series | None) -> list[Any] | None:
    """The values a classifier's target may take: the schema's (``bool``, a ``category``'s
    categories), else those in ``column``; ``None`` when not known."""
    if schema is not None and schema.type == "bool":
        return [False, True]
    if schema is not None and schema.type == "category" and schema.categories:
        return list(schema.categories)
    if column is None:
        return None
    distinct = column.drop_nulls().unique()
    return distinct.sort().to_list() if distinct.len() <= MAX_CLASSES else None


# -- features ------------------------------------------------------------------------
def fitted_features(model: Any) -> tuple[list[str] | None, int | None, bool]:
    """The feature names the model was fitted with (``None`` if it kept none), their count,
    and whether the names are LightGBM's (which replaces spaces and punctuation by ``_``)."""
    names = _strings(getattr(model, "feature_names_in_", None))
    count = _int(getattr(model, "n_features_in_", None))
    if names is not None:
        return names, len(names), False
    booster = getattr(model, "booster_", None) if _module(model) == "lightgbm" else None
    booster = booster if booster is not None else model
    if _module(booster) == "lightgbm" and hasattr(booster, "feature_name"):
        lgb = _strings(_call(booster.feature_name))
        auto = lgb is not None and lgb == [f"Column_{i}" for i in range(len(lgb))]
        count = count or _int(_call(getattr(booster, "num_feature", None)))
        return (None if auto else lgb), count, True
    if _module(model) == "xgboost":
        booster = _call(getattr(model, "get_booster", None)) or model
        xgb = _strings(getattr(booster, "feature_names", None))
        count = count or _int(_call(getattr(booster, "num_features", None)))
        return xgb, count, False
    return None, count, False


def _check_features(model: Any, expected: Expected, what: str) -> list[str]:
    features = list(expected.features)
    names, count, sanitised = fitted_features(model)
    if names is not None:
        mine = [_lightgbm_name(f) for f in features] if sanitised else features
        if sorted(names) == sorted(mine):
            by_name = dict(zip(mine, features, strict=True))
            return [by_name[n] for n in names]  # the model's order
        missing = [f for f, m in zip(features, mine, strict=True) if m not in names]
        extra = [n for n in names if n not in mine]
        parts = [f"not fitted on {_names(missing)}"] if missing else []
        parts += [f"fitted on {_names(extra)}, which it does not have"] if extra else []
        raise ModelMismatchError(
            f"the {what} was fitted on {len(names)} feature(s), but model '{expected.model}' "
            f"has {len(features)} ({expected.features_from}): " + "; ".join(parts),
            hint=_features_hint(expected, extra, features),
        )
    if count is not None and count != len(features):
        raise ModelMismatchError(
            f"the {what} was fitted on {count} column(s), but model '{expected.model}' has "
            f"{len(features)} features ({expected.features_from}: {_names(features)})",
            hint=_features_hint(expected, [], features),
        )
    return features


def _features_hint(expected: Expected, extra: list[str], features: list[str]) -> str:
    renamed = [e for e in extra if re.sub(r"\W", "_", e) in features and re.sub(r"\W", "_", e) != e]
    if renamed:
        return (
            f"it was fitted on the source's headers ('{renamed[0]}'); fit it on a frame with "
            "the dataset's column names, e.g. project.data.load(...).to_pandas()"
        )
    return (
        f"fit it on exactly the columns of {expected.features_from} (in any order), "
        "or change the features the model is declared with in shipyard.yaml"
    )


def _lightgbm_name(name: str) -> str:
    return re.sub(r"[^\w]", "_", name)


# -- task and classes ----------------------------------------------------------------
def estimator_kind(model: Any) -> str | None:
    """``"classifier"``, ``"regressor"`` or ``None`` (not known) for a fitted model."""
    module = _module(model)
    if module == "lightgbm" and hasattr(model, "dump_model"):  # a Booster
        objective = str((_call(model.dump_model) or {}).get("objective", "")).split(" ")[0]
        if objective.startswith(("binary", "multiclass")):
            return "classifier"
        if objective.startswith(("regression", "huber", "fair", "poisson", "quantile", "mape")):
            return "regressor"
        return None
    if module == "xgboost" and hasattr(model, "save_config"):  # a Booster
        try:
            objective = json.loads(model.save_config())["learner"]["objective"]["name"]
        except (ValueError, KeyError, TypeError):
            return None
        if str(objective).startswith(("binary:", "multi:")):
            return "classifier"
        return "regressor" if str(objective).startswith("reg:") else None
    try:
        from sklearn.base import is_classifier, is_regressor

        if is_classifier(model):
            return "classifier"
        if is_regressor(model):
            return "regressor"
    except Exception:  # not a scikit-learn estimator: no tags to read
        pass
    kind = getattr(model, "_estimator_type", None)
    return {"classifier": "classifier", "regressor": "regressor"}.get(str(kind))


def _check_kind(model: Any, expected: Expected, what: str) -> None:
    kind = estimator_kind(model)
    name, task = expected.model, expected.task
    if kind == "regressor" and task != "regression":
        raise ModelMismatchError(
            f"the {what} is a regressor, but model '{name}' is a {task} model (models.{name}.task)",
            hint="register a classifier (one with predict_proba), or declare the model's "
            "task as regression",
        )
    if kind == "classifier" and task == "regression":
        raise ModelMismatchError(
            f"the {what} is a classifier, but model '{name}' is a regression model "
            f"(models.{name}.task)",
            hint="register a regressor, or declare the model's task as "
            "binary_classification or multiclass_classification",
        )


def _check_classes(classes: list[Any] | None, expected: Expected, what: str) -> None:
    if not classes:
        return
    name = expected.model
    if expected.task == "binary_classification" and len(classes) > 2:
        raise ModelMismatchError(
            f"the {what} has {len(classes)} classes ({_values(classes)}), but model '{name}' "
            f"is a binary_classification model",
            hint="fit it on the dataset's target, or declare the task as multiclass_classification",
        )
    allowed = expected.target_values
    if allowed is None:
        return
    strangers = [c for c in classes if not _among(c, allowed)]
    if strangers:
        raise ModelMismatchError(
            f"the {what} has class(es) {_values(strangers)} that are not values of the "
            f"target '{expected.target}' of {expected.data or 'its dataset'} "
            f"(its values: {_values(allowed)})",
            hint=f"fit it on the target column '{expected.target}' of model {name}'s dataset",
        )


# -- answers on the sample -----------------------------------------------------------
def _check_answers(predictor: Predictor, expected: Expected, what: str) -> None:
    sample = expected.sample
    rows = sample[predictor.features]
    try:
        labels, proba = predictor.answer(rows)
    except Exception as exc:
        complete = rows.dropna()
        if len(complete) == len(rows) or not len(complete):
            raise _raised(exc, len(rows), expected, what) from None
        try:  # a model may refuse missing values that its dataset allows: tried without them
            labels, proba = predictor.answer(complete)
        except Exception as again:
            raise _raised(again, len(complete), expected, what) from None
        logger.warning(
            "the %s raised on rows of %s with missing values (%s); it answers the others",
            what, expected.data, first_line(exc),
        )  # fmt: skip
        rows = complete
    labels = np.asarray(labels)
    if labels.shape[:1] != (len(rows),):
        raise ModelMismatchError(
            f"the {what} answered {labels.shape} for {len(rows)} rows of {expected.data}; "
            "it must answer one prediction per row",
        )
    if expected.task == "regression":
        if not np.issubdtype(labels.dtype, np.number) or np.issubdtype(labels.dtype, np.bool_):
            raise ModelMismatchError(
                f"the {what} predicts {_values(_distinct(labels))} on rows of {expected.data}, "
                "not numbers; a regression model predicts numbers",
                hint="register a regressor, or declare the model's task as a classification",
            )
        return
    allowed = expected.target_values
    if allowed is not None:
        strangers = [v for v in _distinct(labels) if not _among(v, allowed)]
        if strangers:
            raise ModelMismatchError(
                f"the {what} predicts {_values(strangers)} on rows of {expected.data}, which "
                f"are not values of the target '{expected.target}' (its values: "
                f"{_values(allowed)})",
                hint="a classifier predicts the target's values: fit it on the target column",
            )
    classes = predictor.classes
    if proba is not None and classes and np.ndim(proba) == 2 and proba.shape[1] != len(classes):
        raise ModelMismatchError(
            f"the {what} gives {proba.shape[1]} probabilities per row for "
            f"{len(classes)} classes ({_values(classes)})",
            hint="pass classes=[...] in the order of the model's probability columns",
        )


def _raised(exc: BaseException, rows: int, expected: Expected, what: str) -> ModelMismatchError:
    message = exc.message if isinstance(exc, ShipyardError) else first_line(exc)
    return ModelMismatchError(
        f"the {what} raised on {rows} rows of {expected.data}: {type(exc).__name__}: "
        f"{message.splitlines()[0] if message else ''}",
        hint=f"try it in your notebook on project.data.load('{expected.data}')",
    )


# -- small helpers -------------------------------------------------------------------
def _describe(model: Any) -> str:
    return type(model).__name__


def _module(model: Any) -> str:
    return type(model).__module__.split(".")[0]


def _call(function: Any) -> Any:
    try:
        return function() if callable(function) else None
    except Exception:  # a half-made booster: the sample prediction will say more
        return None


def _strings(values: Any) -> list[str] | None:
    if values is None:
        return None
    try:
        names = [str(v) for v in values]
    except TypeError:
        return None
    return names or None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _distinct(values: np.ndarray) -> list[Any]:
    seen: list[Any] = []
    for value in values.ravel()[:10_000].tolist():
        if value not in seen:
            seen.append(value)
            if len(seen) > 50:
                break
    return seen


def _among(value: Any, allowed: list[Any]) -> bool:
    """Whether ``value`` is one of ``allowed`` (``1 == True``, but ``"1" != 1``)."""
    value = _plain(value)
    return any(value == a for a in allowed)


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    return shown if len(names) <= _SHOWN else f"{shown}, … ({len(names)} in all)"


def _values(values: list[Any]) -> str:
    shown = ", ".join(repr(_plain(v)) for v in values[:_SHOWN])
    return shown if len(values) <= _SHOWN else f"{shown}, … ({len(values)} in all)"
