"""Service figures against the model's promises: latency against its budget, errors,
degraded answers and refused requests, per window.

A request's rows share one ``time`` and ``latency_ms`` in the prediction log, so
latency percentiles are taken over requests, not rows. Errors (5xx) and refusals
(4xx) come from the log of refused prediction requests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl


@dataclass(frozen=True)
class Service:
    requests: int
    rows: int
    latency_p50: float | None
    latency_p95: float | None
    latency_p99: float | None
    budget_ms: float
    over_budget_rate: float
    degraded_rate: float
    error_rate: float
    rejected_rate: float
    errors: int
    rejected: int


def service(predictions: pl.DataFrame, rejections: pl.DataFrame, budget_ms: float) -> Service:
    errors = rejected = 0
    if rejections.height and "status" in rejections.columns:
        status = rejections.get_column("status")
        errors = int((status >= 500).sum())
        rejected = int(((status >= 400) & (status < 500)).sum())
    if predictions.height == 0:
        total = errors + rejected
        return Service(
            0, 0, None, None, None, budget_ms, 0.0, 0.0,
            1.0 if errors else 0.0, rejected / total if total else 0.0, errors, rejected,
        )  # fmt: skip
    requests = predictions.group_by("time").agg(pl.col("latency_ms").first())
    latency = requests.get_column("latency_ms").to_numpy().astype(np.float64)
    p50, p95, p99 = (round(float(x), 3) for x in np.percentile(latency, [50, 95, 99]))
    total = requests.height + errors + rejected
    degraded = 0.0
    if "degraded" in predictions.columns:
        share = predictions.get_column("degraded").cast(pl.Float64).mean()
        degraded = float(share) if isinstance(share, int | float) else 0.0
    return Service(
        requests=requests.height,
        rows=predictions.height,
        latency_p50=p50,
        latency_p95=p95,
        latency_p99=p99,
        budget_ms=budget_ms,
        over_budget_rate=round(float((latency > budget_ms).mean()), 6),
        degraded_rate=round(degraded, 6),
        error_rate=round(errors / total, 6),
        rejected_rate=round(rejected / total, 6),
        errors=errors,
        rejected=rejected,
    )
