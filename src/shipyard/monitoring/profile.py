"""Reference profiles: a small summary of a column set that drift is measured against.

A numeric column keeps its exact empirical CDF at ~216 of its own quantiles
(every 0.5%, finer in the tails) (the count of values at or below each edge), its moments and range;
a *discrete* numeric column (at most ``MAX_SUPPORT`` distinct values: counts, ratings,
flags) keeps its whole support instead, so distances are exact on it;
a categorical column keeps the count of each of its most frequent ``MAX_LEVELS``
categories and of the rest. That is enough to compute KS, PSI, Wasserstein,
chi-square and Jensen-Shannon against a current window without the reference rows,
so monitoring reads only the current window. A profile of 25 columns is ~100 KB
of JSON however many rows it summarises.

Columns are numeric when their values are numbers (booleans are categories) or
datetimes (seconds since the epoch); everything else is categorical.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl

QUANTILES = 200
# finer quantiles in both tails, where a reference bin is widest
_TAILS = np.array([1e-6, 1e-5, 1e-4, 3e-4, 1e-3, 2e-3, 3e-3, 4e-3])
LEVELS = np.unique(np.concatenate([np.linspace(0, 1, QUANTILES + 1), _TAILS, 1 - _TAILS]))
MAX_LEVELS = 1000
MAX_SUPPORT = 256  # a numeric column with at most this many distinct values is discrete
OTHER = "__other__"


@dataclass(frozen=True)
class NumericProfile:
    """One numeric column: non-null count, nulls, CDF at its quantile edges, moments, range."""

    n: int
    nulls: int
    edges: tuple[float, ...]
    cdf: tuple[int, ...]  # values <= each edge
    mean: float
    sd: float
    min: float
    max: float
    kind: str = "numeric"
    discrete: bool = False  # ``edges`` is the whole support: the CDF is a step function

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "n": self.n,
            "nulls": self.nulls,
            "edges": list(self.edges),
            "cdf": list(self.cdf),
            "mean": self.mean,
            "sd": self.sd,
            "min": self.min,
            "max": self.max,
            "discrete": self.discrete,
        }


@dataclass(frozen=True)
class CategoricalProfile:
    """One categorical column: non-null count, nulls, counts of its top categories and the rest."""

    n: int
    nulls: int
    counts: dict[str, int]
    other: int = 0
    kind: str = "categorical"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "n": self.n,
            "nulls": self.nulls,
            "counts": dict(self.counts),
            "other": self.other,
        }


ColumnProfile = NumericProfile | CategoricalProfile


@dataclass(frozen=True)
class Profile:
    """Profiles of the features (and, for a model, of its predictions) of one set of rows."""

    rows: int
    columns: dict[str, ColumnProfile]
    source: str = ""
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "source": self.source,
            "created_at": self.created_at.isoformat(),
            "columns": {name: column.as_dict() for name, column in self.columns.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        columns: dict[str, ColumnProfile] = {}
        for name, column in data["columns"].items():
            if column["kind"] == "numeric":
                columns[name] = NumericProfile(
                    n=int(column["n"]),
                    nulls=int(column["nulls"]),
                    edges=tuple(float(e) for e in column["edges"]),
                    cdf=tuple(int(c) for c in column["cdf"]),
                    mean=float(column["mean"]),
                    sd=float(column["sd"]),
                    min=float(column["min"]),
                    max=float(column["max"]),
                    discrete=bool(column.get("discrete", False)),
                )
            else:
                columns[name] = CategoricalProfile(
                    n=int(column["n"]),
                    nulls=int(column["nulls"]),
                    counts={str(k): int(v) for k, v in column["counts"].items()},
                    other=int(column.get("other", 0)),
                )
        return cls(
            rows=int(data["rows"]),
            columns=columns,
            source=str(data.get("source", "")),
            created_at=datetime.fromisoformat(data["created_at"]),
        )


def is_numeric(series: pl.Series) -> bool:
    dtype = series.dtype
    return bool(dtype.is_numeric() or dtype.is_temporal()) and dtype != pl.Boolean


def numeric_values(series: pl.Series) -> np.ndarray:
    """The finite values of a numeric or datetime column as float64 (nulls and NaN left out)."""
    if series.dtype.is_temporal():
        series = series.dt.epoch("us").cast(pl.Float64) / 1e6
    elif series.dtype != pl.Float64:
        series = series.cast(pl.Float64)
    values = series.drop_nulls().to_numpy()
    if values.size and not np.isfinite(values).all():
        values = values[np.isfinite(values)]
    return values


def category_counts(series: pl.Series) -> dict[str, int]:
    """Each non-null value's count, values as text (``True``, ``DE``, ``3``)."""
    counted = series.drop_nulls().value_counts(sort=True)
    values, counts = counted.get_column(counted.columns[0]), counted.get_column("count")
    if values.dtype != pl.String:
        values = values.cast(pl.String)
    return dict(zip(values.to_list(), counts.to_list(), strict=True))


def profile_column(series: pl.Series, *, categorical: bool = False) -> ColumnProfile:
    """A column's profile; ``categorical`` profiles numbers as categories (a classifier's labels)."""
    if is_numeric(series) and not categorical:
        values = np.sort(numeric_values(series))
        return numeric_profile(values, nulls=series.len() - values.size)
    counts = category_counts(series)
    top = dict(list(counts.items())[:MAX_LEVELS])
    return CategoricalProfile(
        n=sum(counts.values()),
        nulls=series.null_count(),
        counts=top,
        other=sum(counts.values()) - sum(top.values()),
    )


def numeric_profile(ordered: np.ndarray, *, nulls: int) -> NumericProfile:
    """The profile of ``ordered`` (sorted, finite values)."""
    n = int(ordered.size)
    if n == 0:
        return NumericProfile(0, nulls, (), (), 0.0, 0.0, 0.0, 0.0)
    discrete = int(np.count_nonzero(np.diff(ordered))) + 1 <= MAX_SUPPORT  # sorted: one pass
    if discrete:
        edges = np.unique(ordered)
    else:
        positions = np.unique((LEVELS * (n - 1)).round().astype(np.int64))
        edges = np.unique(ordered[positions])
    cdf = np.searchsorted(ordered, edges, side="right")
    scale = float(max(abs(ordered[0]), abs(ordered[-1]))) or 1.0  # no overflow near 1e308
    scaled = ordered / scale
    return NumericProfile(
        n=n,
        nulls=nulls,
        edges=tuple(edges.tolist()),
        cdf=tuple(cdf.tolist()),
        mean=float(scaled.mean() * scale),
        sd=float(scaled.std() * scale),
        min=float(ordered[0]),
        max=float(ordered[-1]),
        discrete=bool(discrete),
    )


def build_profile(
    frame: pl.DataFrame,
    columns: list[str] | None = None,
    *,
    source: str = "",
    categorical: frozenset[str] | set[str] = frozenset(),
) -> Profile:
    """Profile ``columns`` (default: all) of ``frame``; those in ``categorical`` as categories."""
    names = columns if columns is not None else frame.columns
    return Profile(
        rows=frame.height,
        columns={
            name: profile_column(frame.get_column(name), categorical=name in categorical)
            for name in names
        },
        source=source,
    )
