"""What changed between two versions of a dataset: rows added, removed, changed; column stats."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl


@dataclass(frozen=True)
class ColumnStats:
    """A column's summary in one version."""

    nulls: int
    distinct: int
    min: Any = None
    max: Any = None
    mean: float | None = None


@dataclass(frozen=True)
class DatasetDiff:
    """Rows added, removed and changed (by key, or as whole rows without one), and per-column stats."""

    a: str
    b: str
    rows_a: int
    rows_b: int
    added: int
    removed: int
    changed: int
    key: str | None
    columns: dict[str, tuple[ColumnStats | None, ColumnStats | None]] = field(default_factory=dict)
    changed_by_column: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "rows_a": self.rows_a,
            "rows_b": self.rows_b,
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed,
            "key": self.key,
            "changed_by_column": self.changed_by_column,
            "columns": {
                name: {
                    "a": asdict(before) if before else None,
                    "b": asdict(after) if after else None,
                }
                for name, (before, after) in self.columns.items()
            },
        }


def diff_frames(
    a_ref: str, a: pl.DataFrame, b_ref: str, b: pl.DataFrame, *, key: str | None
) -> DatasetDiff:
    """Compare two versions' rows; by ``key`` when both have it."""
    columns = list(dict.fromkeys([*a.columns, *b.columns]))
    stats = {c: (_stats(a, c), _stats(b, c)) for c in columns}
    if key is not None and key in a.columns and key in b.columns:
        added, removed, changed, by_column = _by_key(a, b, key)
    else:
        key = None
        added, removed = _by_rows(a, b)
        changed, by_column = 0, {}
    return DatasetDiff(
        a_ref, b_ref, a.height, b.height, added, removed, changed, key, stats, by_column
    )


def _by_key(a: pl.DataFrame, b: pl.DataFrame, key: str) -> tuple[int, int, int, dict[str, int]]:
    added = int((~b[key].is_in(a[key].implode())).sum())
    removed = int((~a[key].is_in(b[key].implode())).sum())
    shared = [c for c in a.columns if c in b.columns and c != key]
    both = a.join(b, on=key, how="inner", suffix="__b")
    if not shared or both.height == 0:
        return added, removed, 0, {}
    differs = both.select(
        pl.col(c).cast(pl.String).ne_missing(pl.col(f"{c}__b").cast(pl.String)).alias(c)
        for c in shared
    )
    by_column = {c: int(n) for c, n in differs.sum().row(0, named=True).items() if n}
    changed = int(differs.select(pl.any_horizontal(pl.all())).to_series().sum())
    return added, removed, changed, by_column


def _by_rows(a: pl.DataFrame, b: pl.DataFrame) -> tuple[int, int]:
    shared = [c for c in a.columns if c in b.columns]
    counts_a = a.select(shared).hash_rows().value_counts(name="n_a")
    counts_b = b.select(shared).hash_rows().value_counts(name="n_b")
    joined = counts_a.join(counts_b, on=counts_a.columns[0], how="full", coalesce=True).fill_null(0)
    added = int(joined.select((pl.col("n_b") - pl.col("n_a")).clip(lower_bound=0).sum()).item())
    removed = int(joined.select((pl.col("n_a") - pl.col("n_b")).clip(lower_bound=0).sum()).item())
    return added, removed


def _stats(frame: pl.DataFrame, column: str) -> ColumnStats | None:
    if column not in frame.columns:
        return None
    series = frame[column]
    numeric = series.dtype.is_numeric()
    orderable = numeric or series.dtype.is_temporal() or series.dtype == pl.String
    return ColumnStats(
        nulls=series.null_count(),
        distinct=series.n_unique(),
        min=_plain(series.min()) if orderable and series.len() else None,
        max=_plain(series.max()) if orderable and series.len() else None,
        mean=_mean(series) if numeric else None,
    )


def _mean(series: pl.Series) -> float | None:
    value = series.mean()
    return float(value) if isinstance(value, int | float) else None


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value
