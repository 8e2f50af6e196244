"""Data quality in production, per feature and window: nulls, values outside what the
model was trained on, categories it never saw, and requests the server refused."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from .drift import DriftResult
from .profile import Profile


@dataclass(frozen=True)
class FeatureQuality:
    """One feature over a window; rates are shares of the window's rows."""

    feature: str
    rows: int
    nulls: int
    null_rate: float
    reference_null_rate: float | None
    out_of_range: float  # numeric: share of non-null values outside the training range
    unseen_categories: float  # categorical: share of non-null values the training data lacked
    unseen_examples: dict[str, int] = field(default_factory=dict)
    rejected: int = 0  # refused requests that named this field

    def figure(self, name: str) -> float:
        return float(getattr(self, name))


def data_quality(
    current: pl.DataFrame,
    features: list[str],
    reference: Profile | None,
    drift: DriftResult,
    rejections: pl.DataFrame,
) -> list[FeatureQuality]:
    named: dict[str, int] = {}
    if rejections.height and "fields" in rejections.columns:
        for fields in rejections.get_column("fields").to_list():
            for name in fields or []:
                named[name] = named.get(name, 0) + 1
    results = []
    for name in features:
        rows = current.height
        nulls = current.get_column(name).null_count() if name in current.columns else rows
        ref = reference.columns.get(name) if reference else None
        ref_null = ref.nulls / (ref.n + ref.nulls) if ref and (ref.n + ref.nulls) else None
        verdict = drift.get(name)
        unseen: dict[str, int] = dict(verdict.unseen) if verdict else {}
        non_null = max(rows - nulls, 1)
        results.append(
            FeatureQuality(
                feature=name,
                rows=rows,
                nulls=nulls,
                null_rate=round(nulls / rows, 6) if rows else 0.0,
                reference_null_rate=None if ref_null is None else round(ref_null, 6),
                out_of_range=verdict.outside if verdict else 0.0,
                unseen_categories=round(sum(unseen.values()) / non_null, 6),
                unseen_examples=unseen,
                rejected=named.get(name, 0),
            )
        )
    return results
