"""Metrics per slice: per value of a column, or per bin of a numeric one, each held to a bound.

Predictions are made once for all rows and each slice takes its rows' share of
them. Each slice keeps its whole label (a bin reads ``[12, 18.5]`` or ``(18.5,
30]``, in the bins' order), its row count, the metric and its 95% interval (see
:mod:`.intervals`), and whether it fails its bound; slices under ``min_size``
rows are counted but not judged.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from shipyard.config import ModelConfig
from shipyard.metrics import compute_metrics

from .intervals import Rows, interval
from .report import CheckOutcome

SHOWN = 5  # failing slices kept in the check


def bin_labels(edges: list[float]) -> list[str]:
    """``[a, b]`` for the first bin (it holds its lower edge), ``(a, b]`` for the others."""
    return [
        f"{'[' if i == 0 else '('}{lo:g}, {hi:g}]"
        for i, (lo, hi) in enumerate(itertools.pairwise(edges))
    ]


def measure(
    frame: Any,
    model: ModelConfig,
    target: str,
    task: str,
    outputs: tuple[np.ndarray, np.ndarray | None],
    classes: list[Any] | None,
) -> tuple[list[dict[str, Any]], list[CheckOutcome]]:
    """Every slice rule of ``model``: the slices found and one check per rule."""
    import pandas as pd

    predicted, proba = outputs
    truth = frame[target].to_numpy()
    found: list[dict[str, Any]] = []
    checks = []
    for rule in model.evaluation.slices:
        if rule.column not in frame.columns:
            checks.append(
                CheckOutcome(
                    f"slices by {rule.column}", "slice", False,
                    detail=f"no column '{rule.column}' in the evaluation data",
                )
            )  # fmt: skip
            continue
        column = frame[rule.column]
        if rule.bins:
            keys = pd.cut(column, rule.bins, labels=bin_labels(rule.bins), include_lowest=True)
            outside = int(keys.isna().sum() - column.isna().sum())
        else:
            keys, outside = column.astype(str), 0
        positions = pd.Series(np.arange(len(frame)), index=frame.index)
        mine: list[dict[str, Any]] = []
        skipped: list[str] = []
        for key, part in positions.groupby(keys.to_numpy(), observed=True, sort=True):
            at = part.to_numpy()
            if len(at) < rule.min_size:
                skipped.append(str(key))
                continue
            rows = Rows(
                task, truth[at], predicted[at], None if proba is None else proba[at], classes
            )
            value = compute_metrics(
                task, [rule.metric], rows.truth, rows.predicted, rows.proba, classes
            ).get(rule.metric)
            bad = (
                value is None
                or (rule.min is not None and value < rule.min)
                or (rule.max is not None and value > rule.max)
            )
            span = interval(rows, rule.metric) if value is not None else None
            mine.append(
                {
                    "column": rule.column, "slice": str(key), "size": len(at), "metric": rule.metric,
                    "value": value, "passed": not bad,
                    "low": span.low if span else None, "high": span.high if span else None,
                    "interval": f"95% {span.method}" if span else "",
                    "min": rule.min, "max": rule.max,
                }
            )  # fmt: skip
        if rule.bins:  # the bins' order, not the labels' alphabetical one
            order = {label: i for i, label in enumerate(bin_labels(rule.bins))}
            mine.sort(key=lambda s: order.get(s["slice"], len(order)))
        found += mine
        checks.append(_check(rule, mine, skipped, outside))
    return found, checks


def _check(rule: Any, mine: list[dict[str, Any]], skipped: list[str], outside: int) -> CheckOutcome:
    failures = [
        {"slice": s["slice"], "size": s["size"], rule.metric: s["value"]}
        for s in mine
        if not s["passed"]
    ]
    bound = " and ".join(
        f"{s} {v:g}" for s, v in ((">=", rule.min), ("<=", rule.max)) if v is not None
    )
    detail = f"{len(failures)} of {len(mine)} slices fail"
    if skipped:
        detail += f"; {len(skipped)} slices under {rule.min_size} rows not judged ({', '.join(skipped[:5])})"
    if outside:
        detail += f"; {outside} rows outside the bins {rule.bins[0]:g} to {rule.bins[-1]:g}"
    return CheckOutcome(
        f"slices {rule.metric} by {rule.column}", "slice", not failures, None, bound, detail,
        failures[:SHOWN],
    )  # fmt: skip
