"""A training run: split a dataset version, call the user's function, measure the holdout.

The user's entry point (``module:function`` in the project file) receives the
training rows as a pandas DataFrame (the features and the target) and the params,
and returns a fitted estimator. Everything needed to reproduce the run is kept:
the split (strategy, seed, sizes), the params, the code version (git commit and
whether the tree was dirty), Python and package versions, and how long it took.
The split is deterministic, so the same inputs and seed give the same metrics.
"""

from __future__ import annotations

import logging
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml

from shipyard.config import DatasetConfig, ModelConfig
from shipyard.config.checks import did_you_mean
from shipyard.entrypoints import load_entry_point, user_traceback
from shipyard.errors import ConfigError, ShipyardError
from shipyard.metrics import compute_metrics, default_metrics

log = logging.getLogger(__name__)
#: The packages whose versions a run records: shipyard's own stack, then the model formats'.
CORE_PACKAGES = ("shipyard", "scikit-learn", "numpy", "pandas", "polars")
#: Every ``FormatSpec.distributions`` of ``shipyard.models.formats.FORMATS``, which this stage
#: cannot import (models sits above training); tests/models/test_format_table.py pins the two.
FORMAT_PACKAGES = ("skops", "lightgbm", "xgboost", "xgboost-cpu", "onnxruntime")
PACKAGES = CORE_PACKAGES + FORMAT_PACKAGES


class TrainingError(ShipyardError):
    """The user's training function failed or returned something that is not a model."""

    http_status = 422


@dataclass(frozen=True)
class TrainingRun:
    """A fitted model and the record of how it was made."""

    estimator: Any
    params: dict[str, Any]
    metrics: dict[str, float]
    classes: list[Any] | None
    training: dict[str, Any] = field(default_factory=dict)
    code: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)


def parse_params(pairs: list[str], declared: dict[str, Any]) -> dict[str, Any]:
    """``["max_depth=3", "lr=0.1"]`` as typed values; a declared param keeps its declared type."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--param '{pair}' is not KEY=VALUE")
        key = key.strip()
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            value = text
        if key in declared and declared[key] is not None:
            value = _like(key, value, declared[key], text)
        params[key] = value
    return params


def check_param_names(name: str, model: ModelConfig, params: dict[str, Any] | None) -> None:
    """Refuse params that model ``name`` does not declare under ``params`` (a misspelt
    ``--param`` would otherwise be passed on and ignored), unless it sets ``any_params``."""
    if model.any_params or not params:
        return
    known = list(model.params)
    unknown = [key for key in params if key not in known]
    if unknown:
        first = unknown[0]
        others = f"; unknown too: {', '.join(unknown[1:])}" if unknown[1:] else ""
        raise ConfigError(
            f"model '{name}' has no param '{first}'{did_you_mean(first, known)}{others}; "
            f"its params: {', '.join(known) or 'none'}",
            hint=f"declare it under models.{name}.params in shipyard.yaml, or set "
            f"models.{name}.any_params: true to pass any name",
        )


def _like(key: str, value: Any, declared: Any, text: str) -> Any:
    """``value`` as the type of the declared default, or a ConfigError naming both."""
    kind = type(declared)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    raise ConfigError(
        f"--param {key}={text}: expected {kind.__name__} like the project file's "
        f"{key}: {declared!r}, got {type(value).__name__} {value!r}"
    )


def split(
    frame: pl.DataFrame, strategy: str, holdout: float, seed: int, timestamp: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of the training part and the holdout."""
    n = frame.height
    size = max(1, round(n * holdout))
    if size >= n:
        raise TrainingError(
            f"{n} rows are too few to keep a holdout of {holdout:.0%} and train on the rest"
        )
    if strategy == "time":
        assert timestamp is not None
        order = np.argsort(frame[timestamp].to_numpy(), kind="stable")
        return np.sort(order[: n - size]), np.sort(order[n - size :])
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[size:]), np.sort(order[:size])


def train(
    name: str,
    model: ModelConfig,
    dataset: DatasetConfig,
    frame: pl.DataFrame,
    *,
    root: Path,
    params: dict[str, Any] | None = None,
    check: Callable[[Any], None] | None = None,
) -> TrainingRun:
    """Train model ``name`` on ``frame`` (a dataset version's rows).

    ``check`` is called with the fitted estimator before it predicts the holdout; it
    raises to refuse a model that does not fit what the project declares.
    """
    if model.train is None:
        raise ConfigError(
            f"models.{name}.train is not set: name the training function as 'module:function'",
            hint="or hand over a model trained elsewhere with shipyard.register(model, name=...)",
        )
    target = dataset.target
    assert target is not None  # the project file check guarantees it
    function = load_entry_point(model.train, root=root, where=f"models.{name}.train")
    merged = {**model.params, **(params or {})}
    labelled = frame.filter(pl.col(target).is_not_null())
    train_rows, holdout_rows = split(
        labelled, model.split.strategy, model.split.holdout, model.split.seed, dataset.timestamp
    )
    columns = [*model.features, target]
    train_frame = labelled[train_rows].select(columns).to_pandas()
    holdout = labelled[holdout_rows].select(columns).to_pandas()

    started = time.perf_counter()
    try:
        estimator = function(train_frame, dict(merged))
    except Exception as exc:
        raise TrainingError(
            f"{model.train} raised while training '{name}':\n{user_traceback(exc)}"
        ) from None
    seconds = time.perf_counter() - started
    if not hasattr(estimator, "predict"):
        raise TrainingError(
            f"{model.train} returned {type(estimator).__name__}, not a fitted estimator",
            hint="return the fitted model (an object with .predict), e.g. 'return pipeline.fit(X, y)'",
        )
    if check is not None:
        check(estimator)

    features = holdout[model.features]
    try:
        predictions = estimator.predict(features)
        proba = (
            estimator.predict_proba(features)
            if model.task != "regression" and hasattr(estimator, "predict_proba")
            else None
        )
    except Exception as exc:
        raise TrainingError(
            f"the model {model.train} returned cannot predict its holdout:\n{user_traceback(exc)}"
        ) from None
    classes = [_plain(c) for c in getattr(estimator, "classes_", [])] or None
    skipped: dict[str, str] = {}
    metrics = compute_metrics(
        model.task,
        model.metrics or default_metrics(model.task),
        holdout[target],
        predictions,
        proba,
        classes,
        skipped=skipped,
    )
    for metric, why in skipped.items():
        log.warning("%s: %s is not reported: %s", name, metric, why)
    return TrainingRun(
        estimator=estimator,
        params=merged,
        metrics=metrics,
        classes=classes,
        training={
            "entry_point": model.train,
            "split": {
                "strategy": model.split.strategy,
                "holdout": model.split.holdout,
                "seed": model.split.seed,
            },
            "rows_train": len(train_rows),
            "rows_holdout": len(holdout_rows),
            "rows_unlabelled": frame.height - labelled.height,
            "seconds": round(seconds, 3),
            **({"metrics_not_reported": skipped} if skipped else {}),
        },
        code=code_version(root),
        environment=environment(),
    )


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def code_version(root: Path) -> dict[str, Any]:
    """The git commit of the project folder, and whether the work tree had changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return {"git": None}
        status = subprocess.run(
            ["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return {"git": None}
    return {"git": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


def environment() -> dict[str, Any]:
    """Python, platform and the versions of the packages a model depends on."""
    packages = {}
    for package in PACKAGES:
        try:
            packages[package] = importlib_metadata.version(package)
        except importlib_metadata.PackageNotFoundError:
            continue
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": packages,
    }
