"""Service figures against the model's promises: latency against its budget, errors,
degraded answers by cause, refused and shed requests, per window.

A request's rows share one ``time`` and ``latency_ms`` in the prediction log, so
latency percentiles are taken over requests, not rows. Errors (5xx) and refusals
(4xx) come from the log of refused prediction requests; a request the server shed
because it was busy (code ``overloaded``, a 429 or a 503 while draining) is neither:
it counts only in ``shed_rate``.

A window where no request was answered but some failed is an outage, said in words by
:attr:`Service.outage` (``no prediction succeeded: 6 requests failed (HTTP 503: 6)``), never
a quiet window.

An answered row that came from the fallback says why in the log's ``reason``
column (``error``, ``timeout``, ``circuit_open``, ``unloaded``); rows written before
the column existed count as cause ``unknown``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from shipyard.config.schema import DEGRADED_CAUSES

SHED_CODE = "overloaded"
"""The error code of a request the server shed rather than queue past its budget."""
UNKNOWN_CAUSE = "unknown"
"""The cause of a degraded row logged before the prediction log had a ``reason``."""


@dataclass(frozen=True)
class Service:
    """The service figures of one window.

    Request shares (``error_rate``, ``rejected_rate``, ``shed_rate``) are over every
    prediction request of the window, shed ones included, so with the answered share
    they add up to 1. Row shares (``degraded_rate`` and ``degraded_by_cause``, which
    sums to it) are over the rows that got an answer.
    """

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
    degraded_by_cause: dict[str, float] = field(default_factory=dict)
    shed_rate: float = 0.0
    shed: int = 0
    failed_by_status: dict[str, int] = field(default_factory=dict)  # HTTP status → unanswered

    @property
    def outage(self) -> str | None:
        """``no prediction succeeded: N requests failed (HTTP 503: N)`` when nothing was answered
        but requests came and failed (errors, refusals, shed); ``None`` otherwise."""
        failed = self.errors + self.rejected + self.shed
        if self.requests or not failed:
            return None
        statuses = ", ".join(f"{code}: {n}" for code, n in self.failed_by_status.items())
        return f"no prediction succeeded: {failed} request{'s' if failed != 1 else ''} failed" + (
            f" (HTTP {statuses})" if statuses else ""
        )

    @property
    def total(self) -> int:
        """Every prediction request of the window: answered, failed, refused and shed."""
        return self.requests + self.errors + self.rejected + self.shed

    def degraded(self, causes: list[str] | None = None) -> float:
        """The share of answered rows the fallback gave for one of ``causes`` (all: ``None``)."""
        if causes is None:
            return self.degraded_rate
        return round(sum(self.degraded_by_cause.get(c, 0.0) for c in causes), 6)


def service(predictions: pl.DataFrame, rejections: pl.DataFrame, budget_ms: float) -> Service:
    """The service figures of a window's served rows: a batch run's rows (``source``
    ``batch``) are no requests and carry no latency, so they are left out here (drift,
    quality and performance judge them like served ones)."""
    predictions = served(predictions)
    errors, rejected, shed = _refusals(rejections)
    statuses = _statuses(rejections)
    total = errors + rejected + shed
    if predictions.height == 0:
        return Service(
            0, 0, None, None, None, budget_ms, 0.0, 0.0,
            _share(errors, total), _share(rejected, total), errors, rejected,
            {}, _share(shed, total), shed, statuses,
        )  # fmt: skip
    requests = predictions.group_by("time").agg(pl.col("latency_ms").first())
    latency = requests.get_column("latency_ms").to_numpy().astype(np.float64)
    latency = latency[~np.isnan(latency)]  # a row logged without one: no latency to rank
    p50, p95, p99 = (
        (round(float(x), 3) for x in np.percentile(latency, [50, 95, 99]))
        if latency.size
        else (None, None, None)
    )
    total += requests.height
    degraded, by_cause = _degraded(predictions)
    return Service(
        requests=requests.height,
        rows=predictions.height,
        latency_p50=p50,
        latency_p95=p95,
        latency_p99=p99,
        budget_ms=budget_ms,
        over_budget_rate=round(float((latency > budget_ms).mean()), 6) if latency.size else 0.0,
        degraded_rate=_share(degraded, predictions.height),
        error_rate=_share(errors, total),
        rejected_rate=_share(rejected, total),
        errors=errors,
        rejected=rejected,
        degraded_by_cause=by_cause,
        shed_rate=_share(shed, total),
        shed=shed,
        failed_by_status=statuses,
    )


def served(predictions: pl.DataFrame) -> pl.DataFrame:
    """The rows answered to HTTP requests: not a batch run's (a null ``source``, in
    segments written before the column existed, is a served row)."""
    from shipyard.predlog.schema import BATCH, SOURCE

    if SOURCE not in predictions.columns or predictions.height == 0:
        return predictions
    return predictions.filter(pl.col(SOURCE).cast(pl.String).fill_null("") != BATCH)


def _statuses(rejections: pl.DataFrame) -> dict[str, int]:
    """Unanswered requests per HTTP status, the most frequent first."""
    if rejections.height == 0 or "status" not in rejections.columns:
        return {}
    counts = rejections.get_column("status").drop_nulls().value_counts()
    ranked = sorted(counts.iter_rows(), key=lambda row: (-row[1], row[0]))
    return {str(code): int(n) for code, n in ranked}


def _refusals(rejections: pl.DataFrame) -> tuple[int, int, int]:
    """Server errors, client refusals and shed requests in the refusals log."""
    if rejections.height == 0 or "status" not in rejections.columns:
        return 0, 0, 0
    status = rejections.get_column("status")
    if "code" in rejections.columns:
        is_shed = (rejections.get_column("code") == SHED_CODE).fill_null(False)
    else:  # segments written before shedding existed
        is_shed = pl.Series([False] * rejections.height)
    errors = int(((status >= 500) & ~is_shed).sum())
    rejected = int(((status >= 400) & (status < 500) & ~is_shed).sum())
    return errors, rejected, int(is_shed.sum())


def _degraded(predictions: pl.DataFrame) -> tuple[int, dict[str, float]]:
    """Rows the fallback answered, and their share of answered rows per cause (none: left out)."""
    if "degraded" not in predictions.columns:
        return 0, {}
    degraded = predictions.get_column("degraded").cast(pl.Boolean).fill_null(False)
    picked = int(degraded.sum())
    if not picked:
        return 0, {}
    if "reason" in predictions.columns:
        reason = predictions.get_column("reason").cast(pl.String).fill_null(UNKNOWN_CAUSE)
    else:
        reason = pl.Series([UNKNOWN_CAUSE] * predictions.height, dtype=pl.String)
    counts = reason.filter(degraded).value_counts()
    found = dict(zip(counts[:, 0].to_list(), counts[:, 1].to_list(), strict=True))
    order = [*DEGRADED_CAUSES, UNKNOWN_CAUSE]
    ranked = sorted(found, key=lambda c: (order.index(c) if c in order else len(order), c))
    return picked, {cause: _share(found[cause], predictions.height) for cause in ranked}


def _share(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0
