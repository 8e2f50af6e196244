"""Live performance from ground truth: labels joined to predictions by id.

The labels counted are those that *arrived* in the window; they are joined to
predictions made up to ``lookback`` before it (labels often come days late).
A label for an id no prediction carries is counted, not used; when one id is
labelled twice the newest label wins and the duplicate is counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from shipyard.metrics import compute_metrics


@dataclass(frozen=True)
class Performance:
    """Metrics over the labelled rows, how many there were, and how late labels came."""

    labels: int  # feedback rows received in the window
    labelled: int  # … that matched a prediction (after removing duplicates)
    unknown_ids: int
    duplicates: int
    metrics: dict[str, float] = field(default_factory=dict)
    label_delay_s: dict[str, float] = field(default_factory=dict)  # p50, p95, max
    enough: bool = False  # at least ``min_labels`` labelled rows: metrics may alert
    note: str = ""


def performance(
    predictions: pl.DataFrame,
    feedback: pl.DataFrame,
    *,
    task: str,
    metrics: list[str],
    classes: list[Any] | None,
    min_labels: int,
) -> Performance:
    if feedback.height == 0:
        return Performance(0, 0, 0, 0, note="no labels arrived in the window")
    latest = feedback.sort("time").unique("prediction_id", keep="last", maintain_order=True)
    duplicates = feedback.height - latest.height
    if predictions.height == 0:
        return Performance(
            feedback.height, 0, latest.height, duplicates,
            note="no predictions to join the labels to",
        )  # fmt: skip
    wanted = ["prediction_id", "prediction", "time"]
    if "probabilities" in predictions.columns:
        wanted.append("probabilities")
    joined = latest.rename({"time": "labelled_at"}).join(
        predictions.select(wanted), on="prediction_id", how="inner"
    )
    unknown = latest.height - joined.height
    if joined.height == 0:
        return Performance(
            feedback.height, 0, unknown, duplicates,
            note="no label matched a prediction id in the log",
        )  # fmt: skip
    delay = (joined.get_column("labelled_at") - joined.get_column("time")).dt.total_microseconds()
    seconds = delay.to_numpy().astype(np.float64) / 1e6
    y_true = _values(joined.get_column("label"))
    y_pred = _values(joined.get_column("prediction"))
    proba = _probabilities(joined) if task != "regression" else None
    computed = compute_metrics(task, metrics, y_true, y_pred, proba, classes)
    enough = joined.height >= min_labels
    return Performance(
        labels=feedback.height,
        labelled=joined.height,
        unknown_ids=unknown,
        duplicates=duplicates,
        metrics=computed,
        label_delay_s={
            "p50": round(float(np.percentile(seconds, 50)), 3),
            "p95": round(float(np.percentile(seconds, 95)), 3),
            "max": round(float(seconds.max()), 3),
        },
        enough=enough,
        note="" if enough else f"{joined.height} labelled rows; metrics alert from {min_labels}",
    )


def _values(series: pl.Series) -> np.ndarray:
    return np.asarray(series.to_list(), dtype=object if series.dtype == pl.String else None)


def _probabilities(joined: pl.DataFrame) -> np.ndarray | None:
    if "probabilities" not in joined.columns:
        return None
    column = joined.get_column("probabilities")
    if column.null_count():
        return None
    rows = column.to_list()
    width = len(rows[0]) if rows else 0
    if not width or any(len(r) != width for r in rows):
        return None
    return np.asarray(rows, dtype=np.float64)
