"""Multivariate drift: how well the reference's principal components rebuild a window's rows.

Per-feature tests see each column's distribution alone; a change in how features move
together (a correlation that flips, with every marginal the same) passes them all.
Data reconstruction, as NannyML's ``DataReconstructionDriftCalculator``: on the
reference, numbers are imputed with their mean, categories replaced by their frequency,
everything standardised, and PCA keeps the components that explain ``VARIANCE`` of the
variance. A row's reconstruction error is its distance from its projection back from
those components. A window whose rows follow the reference's structure has a mean error
near the reference's; rows that break it (a flipped correlation) land off the kept
components and the mean error rises.

The threshold follows the window's size: the reference's mean error plus ``SIGMAS``
standard errors of the difference between the window's mean and the reference's
(NannyML flags beyond three standard deviations of reference chunks of one fixed
size). The reference's error is cross-fitted (each half of the rows measured with the
components of the other), so its figure is not flattered by the rows PCA was fitted on.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import polars as pl

METHOD = "pca_reconstruction"
VARIANCE = 0.65  # share of the variance the kept components explain (NannyML's default)
SIGMAS = 3.0  # standard errors above the reference's mean error that flag a window
MAX_ROWS = 100_000  # half the reference rows used (a sample of 200,000 at most)
NULL = "\x00null"  # a missing category counts as a category of its own


@dataclass(frozen=True)
class Reconstruction:
    """What a window is rebuilt with: encodings, scaling, the kept components, and the
    reference's own reconstruction error (mean and per-row standard deviation)."""

    numeric: dict[str, float]  # feature → mean (imputes nulls)
    categorical: dict[str, dict[str, float]]  # feature → category → frequency
    center: list[float]
    scale: list[float]
    components: list[list[float]]
    error_mean: float
    error_sd: float
    rows: int

    @property
    def features(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reconstruction:
        return cls(**data)

    def errors(self, frame: pl.DataFrame) -> np.ndarray:
        """Each row's reconstruction error."""
        z = (_encode(frame, self.numeric, self.categorical) - self.center) / self.scale
        return _residual(z, np.asarray(self.components, dtype=np.float64))


@dataclass(frozen=True)
class MultivariateDrift:
    """One window's reconstruction error against the reference's, and the verdict."""

    method: str
    features: list[str]
    components: int
    rows: int
    value: float | None  # the window's mean reconstruction error
    reference: float | None  # the reference's mean error
    threshold: float | None
    drifted: bool | None
    reason: str = ""

    @property
    def flags_when(self) -> str:
        return f"mean error > {self.threshold:.4g}" if self.threshold is not None else "-"


def fit(frame: pl.DataFrame, features: list[str], *, seed: int = 0) -> Reconstruction | None:
    """The reconstruction of ``frame``'s ``features``; ``None`` when fewer than two can be
    used (numbers, booleans, text or categories) or there are too few rows."""
    numeric, categorical = {}, {}
    for name in features:
        if name not in frame.columns:
            continue
        column = frame.get_column(name)
        if column.dtype.is_numeric() or column.dtype == pl.Boolean:
            values = column.cast(pl.Float64)
            mean = values.mean()
            numeric[name] = float(mean) if isinstance(mean, float) and math.isfinite(mean) else 0.0
        elif column.dtype in (pl.String, pl.Categorical, pl.Enum):
            counts = column.cast(pl.String).fill_null(NULL).value_counts(normalize=True)
            categorical[name] = {str(k): float(v) for k, v in counts.iter_rows()}
    if len(numeric) + len(categorical) < 2 or frame.height < 20:
        return None
    rng = np.random.default_rng(seed)
    order = rng.permutation(frame.height)[: 2 * MAX_ROWS]
    x = _encode(frame[order.tolist()], numeric, categorical)
    center = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - center) / scale
    half = z.shape[0] // 2
    # each half's error measured with the components of the other (not flattered by
    # fitting on the rows it measures); the kept components from every row
    errors = np.concatenate(
        [_residual(z[half:], _components(z[:half])), _residual(z[:half], _components(z[half:]))]
    )
    return Reconstruction(
        numeric, categorical, center.tolist(), scale.tolist(), _components(z).tolist(),
        float(errors.mean()), float(errors.std(ddof=1)), int(errors.size),
    )  # fmt: skip


def _components(z: np.ndarray) -> np.ndarray:
    """The principal axes of ``z`` that explain ``VARIANCE`` of its variance."""
    _, s, vt = np.linalg.svd(z - z.mean(axis=0), full_matrices=False)
    share = np.cumsum(s**2) / max(float((s**2).sum()), 1e-300)
    components: np.ndarray = vt[: int(np.searchsorted(share, VARIANCE) + 1)]
    return components


def _residual(z: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Each row's distance from its projection on ``basis``."""
    errors: np.ndarray = np.sqrt(((z - (z @ basis.T) @ basis) ** 2).sum(axis=1))
    return errors


def judge(
    reference: Reconstruction | None, current: pl.DataFrame, *, min_rows: int
) -> MultivariateDrift:
    """The window's mean reconstruction error, and whether it is beyond the threshold."""
    if reference is None:
        return MultivariateDrift(
            METHOD, [], 0, current.height, None, None, None, None,
            "fewer than two features to judge together",
        )  # fmt: skip
    said = (METHOD, reference.features, len(reference.components), current.height)
    if current.height < min_rows:
        return MultivariateDrift(
            *said, None, None, None, None, f"{current.height} rows; judged from {min_rows}"
        )
    value = float(reference.errors(current).mean())
    # the standard error of the difference of two means: the window's and the reference's
    spread = reference.error_sd * math.sqrt(1 / current.height + 1 / max(reference.rows, 1))
    threshold = reference.error_mean + SIGMAS * spread
    return MultivariateDrift(
        *said, round(value, 6), round(reference.error_mean, 6), round(threshold, 6),
        value > threshold,
    )  # fmt: skip


def _encode(
    frame: pl.DataFrame, numeric: dict[str, float], categorical: dict[str, dict[str, float]]
) -> np.ndarray:
    """Numbers (nulls as the reference mean) and categories as their reference frequency
    (unseen ones: 0), one column each, in the reconstruction's order."""
    columns = []
    for name, mean in numeric.items():
        if name in frame.columns:
            values = frame.get_column(name).cast(pl.Float64).fill_nan(None).fill_null(mean)
            columns.append(values.to_numpy())
        else:
            columns.append(np.full(frame.height, mean))
    for name, frequency in categorical.items():
        if name in frame.columns:
            text = frame.get_column(name).cast(pl.String).fill_null(NULL)
            mapped = text.replace_strict(frequency, default=0.0, return_dtype=pl.Float64)
            columns.append(mapped.to_numpy())
        else:
            columns.append(np.zeros(frame.height))
    return np.column_stack(columns).astype(np.float64) if columns else np.empty((frame.height, 0))
