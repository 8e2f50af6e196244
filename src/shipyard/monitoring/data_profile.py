"""The profile of one dataset version, for a person: each column's type, nulls, distinct
values, range, quantiles, and a histogram or its top categories (Great Expectations'
Data Docs, for one version).

Built on the reference profile monitoring keeps (:mod:`.profile`): a column is numeric
or categorical by the same rule, its values are read the same way (datetimes as seconds,
NaN and infinities left out of the figures and counted apart), its count, mean, spread
and range and its category counts are that profile's. What a person wants on top —
distinct values, quantiles, a histogram — is computed here from the same values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl

from .profile import CategoricalProfile, NumericProfile, numeric_values, profile_column

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
BINS = 20
TOP = 10


@dataclass(frozen=True)
class ColumnSummary:
    """One column: what it holds and how its values are spread."""

    name: str
    dtype: str  # as stored (polars)
    declared: str | None  # the schema's type, when the project file declares the column
    kind: str  # numeric, datetime, boolean, categorical
    rows: int
    nulls: int
    invalid: int  # NaN and infinities of a float column: neither null nor a usable value
    distinct: int  # distinct non-null values
    # numeric and datetime (datetimes as seconds since the epoch); None without a value
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    sd: float | None = None
    quantiles: dict[float, float] = field(default_factory=dict)
    histogram: tuple[tuple[float, ...], tuple[int, ...]] | None = None  # (edges, counts)
    # categorical and boolean: the most frequent values, and how many rows hold the rest
    top: dict[str, int] = field(default_factory=dict)
    other: int = 0

    @property
    def null_rate(self) -> float | None:
        return self.nulls / self.rows if self.rows else None

    @property
    def values(self) -> int:
        """Rows holding a usable value."""
        return self.rows - self.nulls - self.invalid

    def as_dict(self) -> dict[str, Any]:
        shown = _as_time if self.kind == "datetime" else (lambda v: v)
        data: dict[str, Any] = {
            "name": self.name,
            "dtype": self.dtype,
            "declared": self.declared,
            "kind": self.kind,
            "rows": self.rows,
            "nulls": self.nulls,
            "null_rate": self.null_rate,
            "invalid": self.invalid,
            "distinct": self.distinct,
        }
        if self.kind in ("numeric", "datetime"):
            data |= {
                "min": shown(self.min),
                "max": shown(self.max),
                "mean": shown(self.mean),
                "sd": self.sd,  # seconds, for a datetime
                "quantiles": {_level(q): shown(v) for q, v in self.quantiles.items()},
                "histogram": None
                if self.histogram is None
                else {
                    "edges": [shown(e) for e in self.histogram[0]],
                    "counts": list(self.histogram[1]),
                },
            }
        else:
            data |= {"top": dict(self.top), "other": self.other}
        return data


@dataclass(frozen=True)
class DatasetProfile:
    """Every column of one dataset version."""

    ref: str
    rows: int
    columns: list[ColumnSummary]
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def column(self, name: str) -> ColumnSummary:
        return next(c for c in self.columns if c.name == name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "rows": self.rows,
            "created_at": self.created_at.isoformat(),
            "columns": [c.as_dict() for c in self.columns],
        }


def profile_frame(
    frame: pl.DataFrame, ref: str = "", *, declared: Mapping[str, str] | None = None
) -> DatasetProfile:
    """The profile of every column of ``frame`` (``declared``: each column's schema type)."""
    declared = declared or {}
    columns = [summarise(frame.get_column(n), declared.get(n)) for n in frame.columns]
    return DatasetProfile(ref=ref, rows=frame.height, columns=columns)


def summarise(series: pl.Series, declared: str | None = None) -> ColumnSummary:
    """One column's summary, its figures from the monitoring profile of the column."""
    base = profile_column(series)
    nulls = series.null_count()
    common: dict[str, Any] = {
        "name": series.name,
        "dtype": str(series.dtype),
        "declared": declared,
        "rows": series.len(),
        "nulls": nulls,
        "invalid": base.nulls - nulls,  # the profile counts NaN and infinities as missing
        "distinct": _distinct(series),
    }
    if isinstance(base, CategoricalProfile):
        kind = "boolean" if series.dtype == pl.Boolean else "categorical"
        top = dict(list(base.counts.items())[:TOP])
        return ColumnSummary(kind=kind, top=top, other=base.n - sum(top.values()), **common)
    return _numeric(series, base, common)


def _numeric(series: pl.Series, base: NumericProfile, common: dict[str, Any]) -> ColumnSummary:
    kind = "datetime" if series.dtype.is_temporal() else "numeric"
    if base.n == 0:  # no rows, or every one null: a type and counts, no figures
        return ColumnSummary(kind=kind, **common)
    values = np.sort(numeric_values(series))
    quantiles = np.quantile(values, QUANTILES)  # linear, as polars' and numpy's default
    counts, edges = np.histogram(values, bins=_edges(values, integer=series.dtype.is_integer()))
    return ColumnSummary(
        kind=kind,
        min=base.min,
        max=base.max,
        mean=base.mean,
        sd=base.sd,
        quantiles=dict(zip(QUANTILES, quantiles.tolist(), strict=True)),
        histogram=(tuple(edges.tolist()), tuple(int(c) for c in counts)),
        **common,
    )


def _edges(ordered: np.ndarray, *, integer: bool) -> np.ndarray:
    """``BINS`` equal bins from the least to the greatest value; one per integer when an
    integer column spans fewer; one around a single value."""
    lo, hi = float(ordered[0]), float(ordered[-1])
    if lo == hi:
        return np.array([lo - 0.5, lo + 0.5])
    if integer and hi - lo + 1 <= BINS:
        return np.arange(lo - 0.5, hi + 1.0)
    t = np.linspace(0.0, 1.0, BINS + 1)
    edges = lo * (1 - t) + hi * t  # no overflow however wide the range (hi - lo may not fit)
    edges[0], edges[-1] = lo, hi
    return np.maximum.accumulate(np.clip(edges, lo, hi))


def _distinct(series: pl.Series) -> int:
    kept = series.drop_nulls()
    if kept.dtype.is_float():
        kept = kept.filter(kept.is_finite())
    return int(kept.n_unique()) if kept.len() else 0


def _level(q: float) -> str:
    return f"p{q * 100:g}"


def _as_time(value: float | None) -> str | None:
    if value is None:
        return None
    return datetime.fromtimestamp(value, UTC).isoformat()
