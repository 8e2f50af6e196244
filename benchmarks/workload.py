"""The shared benchmark workloads of ../shared/WORKLOADS.md, built here from a fixed seed.

Drift and validation data: ``id``, ``num_00``…``num_19``, ``cat_0``…``cat_4``, with 1%
nulls missing completely at random in every feature column. The *current* side is
drawn independently, with drift in ``num_00``, ``num_03``, ``num_07``, ``num_11``,
``num_16`` (+0.3 sd) and ``cat_2`` (level probabilities reweighted). The validation
set is the current side with 0.5% bad rows in four disjoint kinds.

Files are cached under ``benchmarks/.cache`` (git-ignored) so runs compare like with like.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

CACHE = Path(__file__).parent / ".cache"
NUMERIC = [f"num_{i:02d}" for i in range(20)]
CATEGORICAL = [f"cat_{j}" for j in range(5)]
DRIFTED_NUMERIC = {"num_00", "num_03", "num_07", "num_11", "num_16"}
DRIFTED = DRIFTED_NUMERIC | {"cat_2"}
CAT_2_SHIFT = np.array([0.55, 0.7, 1, 1, 1, 1, 1, 1.6, 1.9, 2.2])
NULL_SHARE = 0.01
BAD_SHARE = 0.005


def population_sd(column: str) -> float:
    """The population standard deviation of a numeric column (for drift and ranges)."""
    i = int(column[-2:])
    if i < 10:
        return 1.0 + i
    if i < 15:
        scale = 1 + (i - 10)
        return scale * math.sqrt((math.exp(0.25) - 1) * math.exp(0.25))
    if i < 18:
        return math.sqrt(2) * 2  # gamma(shape 2, scale 2)
    return 100 / math.sqrt(12)


def levels(j: int) -> list[str]:
    return [f"cat_{j}_v{k}" for k in range(10)]


def level_probabilities(j: int, *, drifted: bool = False) -> np.ndarray:
    weights = 1.0 / (np.arange(10) + 1.0) ** (0.6 + 0.1 * j)
    if drifted and j == 2:
        weights = weights * CAT_2_SHIFT
    return weights / weights.sum()


def make_frame(n: int, seed: int, *, drifted: bool) -> pl.DataFrame:
    """One side of the drift workload: ``n`` rows, drifted or not."""
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {"id": np.arange(n, dtype=np.int64)}
    for column in NUMERIC:
        i = int(column[-2:])
        if i < 10:
            values = rng.normal(10 * i, 1 + i, n)
        elif i < 15:
            values = rng.lognormal(0, 0.5, n) * (1 + (i - 10))
        elif i < 18:
            values = rng.gamma(2, 2, n)
        else:
            values = rng.uniform(0, 100, n)
        if drifted and column in DRIFTED_NUMERIC:
            values = values + 0.3 * population_sd(column)
        columns[column] = _with_nulls(pl.Series(column, values), rng)
    for j, column in enumerate(CATEGORICAL):
        codes = rng.choice(10, size=n, p=level_probabilities(j, drifted=drifted))
        values = pl.Series(column, np.array(levels(j))[codes])
        columns[column] = _with_nulls(values, rng)
    return pl.DataFrame(columns)


def _with_nulls(series: pl.Series, rng: np.random.Generator) -> pl.Series:
    mask = rng.random(series.len()) < NULL_SHARE
    return (
        pl.select(pl.when(pl.lit(pl.Series(mask))).then(None).otherwise(series))
        .to_series()
        .alias(series.name)
    )


@dataclass(frozen=True)
class ValidationSet:
    """The current side with bad rows planted, and the right answer."""

    frame: pl.DataFrame
    bad_rows: dict[str, np.ndarray]  # kind -> row positions
    copied_from: np.ndarray  # the rows whose id the duplicates copied

    @property
    def expected_rows(self) -> set[int]:
        planted = np.concatenate(list(self.bad_rows.values()))
        return {int(r) for r in planted} | {int(r) for r in self.copied_from}


def ranges() -> dict[str, tuple[float, float]]:
    """The range check of each numeric column: ±10 sd around its centre, as WORKLOADS.md says.

    Skewed columns are bounded below by 0, and above by 10 sd taken where the column
    is symmetric (the log scale for lognormal) or 15 sd for the gamma columns, so that
    no honestly drawn value of a million falls outside (a plain mean + 10 sd would flag
    about 50 lognormal rows and leave the answer ill-defined).
    """
    bounds = {}
    for column in NUMERIC:
        i = int(column[-2:])
        if i < 10:
            bounds[column] = (10 * i - 10 * (1 + i), 10 * i + 10 * (1 + i))
        elif i < 15:
            bounds[column] = (0.0, (1 + (i - 10)) * math.exp(10 * 0.5))
        elif i < 18:
            bounds[column] = (0.0, 4 + 15 * population_sd(column))
        else:
            bounds[column] = (0.0, 100.0)
    return bounds


def validation_set(n: int = 1_000_000, seed: int = 2) -> ValidationSet:
    """The current side of ``n`` rows with 0.5% bad rows in four disjoint kinds."""
    frame = make_frame(n, seed, drifted=True)
    rng = np.random.default_rng(seed + 1000)
    bad = rng.choice(n, size=int(n * BAD_SHARE) * 2, replace=False)
    quarter = int(n * BAD_SHARE) // 4
    kinds = {
        "num_02 out of range": bad[:quarter],
        "num_07 = -1e6": bad[quarter : 2 * quarter],
        "cat_3 = UNKNOWN": bad[2 * quarter : 3 * quarter],
        "id duplicated": bad[3 * quarter : 4 * quarter],
    }
    copied_from = bad[4 * quarter : 5 * quarter]  # distinct good rows whose ids are copied
    num_02 = frame["num_02"].to_numpy().copy()
    num_02[kinds["num_02 out of range"]] = 20 + 20 * population_sd("num_02")
    num_07 = frame["num_07"].to_numpy().copy()
    num_07[kinds["num_07 = -1e6"]] = -1e6
    cat_3 = frame["cat_3"].to_numpy().copy()
    cat_3[kinds["cat_3 = UNKNOWN"]] = "UNKNOWN"
    ids = frame["id"].to_numpy().copy()
    ids[kinds["id duplicated"]] = ids[copied_from]
    frame = frame.with_columns(
        pl.Series("num_02", num_02).fill_nan(None),
        pl.Series("num_07", num_07).fill_nan(None),
        pl.Series("cat_3", cat_3, dtype=pl.String),
        pl.Series("id", ids),
    )
    return ValidationSet(frame, kinds, copied_from)


def cached_validation_set(n: int = 1_000_000) -> tuple[Path, set[int]]:
    """The validation set on disk (Parquet) and its expected quarantined row positions."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"validation-{n}.parquet"
    answer = CACHE / f"validation-{n}.expected.npy"
    if not path.exists() or not answer.exists():
        data = validation_set(n)
        data.frame.write_parquet(path)
        np.save(answer, np.array(sorted(data.expected_rows), dtype=np.int64))
    return path, {int(r) for r in np.load(answer)}


def cached_drift_pair(n: int = 1_000_000) -> tuple[Path, Path]:
    """The drift workload on disk (Parquet): the reference side and the drifted current side."""
    CACHE.mkdir(exist_ok=True)
    reference, current = (
        CACHE / f"drift-{n}-reference.parquet",
        CACHE / f"drift-{n}-current.parquet",
    )
    if not reference.exists():
        make_frame(n, 11, drifted=False).write_parquet(reference)
    if not current.exists():
        make_frame(n, 12, drifted=True).write_parquet(current)
    return reference, current
