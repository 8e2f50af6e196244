"""Per-feature drift verdicts: which statistic decides, against what threshold, and why.

Every statistic of :mod:`.stats` is computed and reported for every column; one
of them decides, and it is calibrated at every window size. With ``auto`` (the
default):

- numbers: the Wasserstein distance normalised by the reference's standard
  deviation must be over 0.1 *and* the rank Wasserstein test (:mod:`.calibration`)
  must reject at ``p_value`` (0.05) divided by the number of columns tested together
  (Bonferroni);
- categories: Cohen's w (``sqrt(chi2 / n)`` on the table with rare categories
  pooled) must be over 0.1 *and* that chi-square must reject at the same level.

So on windows drawn from the reference, at most 5% raise any flag however small the
window (the tests' share), and on large windows only changes of at least 0.1 sd
(or w 0.1, the categorical change of the same size: 50/50 to 55/45) flag (the
distances' share), because at a million rows a test flags a 0.01 sd shift. Each
verdict says what its window could have detected: the smallest change flagged in
80% of such windows (``mde``, in sd for numbers and in w for categories). Under
``min_rows`` (30) non-null rows there is no verdict at all, only the reason.

Each method — what it reads off a comparison, p-value or distance, the column
kinds it applies to, its threshold key — is one entry of ``stats.DRIFT_METHODS``;
this module only reads that table.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from shipyard.config.schema import DriftConfig

from .calibration import categorical_mde, numeric_mde
from .profile import (
    CategoricalProfile,
    ColumnProfile,
    NumericProfile,
    Profile,
    category_counts,
    is_numeric,
    numeric_values,
)
from .stats import (
    DRIFT_METHODS,
    CategoricalComparison,
    NumericComparison,
    compare_categorical,
    compare_numeric,
    statistics_of,
    test_p_value,
)

P_VALUE_METHODS = tuple(name for name, spec in DRIFT_METHODS.items() if spec.kind == "p_value")
PLOT_BINS = 30


@dataclass(frozen=True)
class FeatureDrift:
    """One column's verdict: ``drifted`` is ``None`` when there was too little to judge."""

    feature: str
    kind: str
    method: str
    value: float | None
    threshold: float
    drifted: bool | None
    rows: int
    reason: str = ""
    p_value: float | None = None
    statistics: dict[str, float] = field(default_factory=dict)
    plot: dict[str, Any] = field(default_factory=dict)
    unseen: dict[str, int] = field(default_factory=dict)
    outside: float = 0.0  # share of current values outside the reference's range (numeric)
    # a distance flags only when the calibration test also rejects at ``alpha``
    alpha: float | None = None
    test: str = ""  # that test: "rank" (numbers) or "chi2" (categories, rare ones pooled)
    test_p_value: float | None = None
    mde: float | None = None  # the smallest change flagged in 80% of windows of this size
    mde_unit: str = ""  # "sd" (a shift of a number) or "w" (Cohen's w of categories)
    pooled: list[str] = field(default_factory=list)  # rare categories pooled for chi-square

    @property
    def decisive(self) -> float | None:
        """The number compared with ``threshold``: the p-value of a test, else the distance."""
        return self.p_value if self.p_value is not None else self.value

    @property
    def flags_when(self) -> str:
        """``p < 0.0167`` for a test, ``> 0.1 and rank p < 0.0025`` for a distance."""
        if self.p_value is not None:
            return f"p < {self.threshold:g}"
        if self.alpha is not None:
            return f"> {self.threshold:g} and {self.test} p < {self.alpha:.2g}"
        return f"> {self.threshold:g}"

    @property
    def detects(self) -> str:
        """What the window could have detected: ``0.12 sd`` (``-`` when not known)."""
        return "-" if self.mde is None else f"{self.mde:.3g} {self.mde_unit}"

    @property
    def decision(self) -> str:
        """The deciding statistic, its threshold and the window size in one line."""
        if self.drifted is None:
            return self.reason
        test = "" if self.test_p_value is None else f", {self.test} p {self.test_p_value:.3g}"
        return (
            f"{self.method} {self.decisive:.4g}{test} (flags when {self.flags_when}) "
            f"at {self.rows:,} rows; detects {self.detects} in 80% of such windows"
        )


@dataclass(frozen=True)
class DriftResult:
    """Verdicts for every compared column, in the order asked."""

    features: list[FeatureDrift]

    @property
    def drifted(self) -> list[str]:
        return [f.feature for f in self.features if f.drifted]

    def get(self, name: str) -> FeatureDrift | None:
        return next((f for f in self.features if f.feature == name), None)


def choose(
    kind: str, rows: int, settings: DriftConfig, column: str, tested: int = 1
) -> tuple[str, float]:
    """The method that decides for ``column`` and its threshold (of ``tested`` columns)."""
    own = settings.columns.get(column)
    method: str = own.method if own else "auto"
    if method == "auto":
        method = settings.numeric if kind == "numeric" else settings.categorical
    if method == "auto":
        method = next(s.name for s in DRIFT_METHODS.values() if kind in s.columns and s.auto)
    spec = DRIFT_METHODS[method]
    if kind not in spec.columns and spec.counterpart is not None:
        spec = DRIFT_METHODS[spec.counterpart]  # ks asked of categories is chi2, and so on
    if own and own.threshold is not None:
        return spec.name, own.threshold
    if spec.kind == "p_value":
        return spec.name, alpha_of(settings, tested)
    threshold: float = getattr(settings, spec.threshold)
    return spec.name, threshold


def alpha_of(settings: DriftConfig, tested: int) -> float:
    """The false-alarm level of one column's test: ``p_value`` over the columns tested
    together (Bonferroni), so that any of them flags a no-drift window at most that often."""
    if settings.correction == "bonferroni":
        return settings.p_value / max(tested, 1)
    return settings.p_value


def compare(
    reference: Profile,
    current: pl.DataFrame,
    columns: list[str],
    settings: DriftConfig,
    *,
    threads: int = 2,
) -> DriftResult:
    """Judge each of ``columns`` of ``current`` against its profile in ``reference``."""

    def one(name: str) -> FeatureDrift:
        ref = reference.columns.get(name)
        if name not in current.columns:
            return _no_verdict(name, ref, 0, "the column is not in the current window")
        return judge(name, ref, current.get_column(name), settings, tested=len(columns))

    if threads > 1 and len(columns) > 1 and current.height >= 50_000:
        with ThreadPoolExecutor(threads) as pool:
            return DriftResult(list(pool.map(one, columns)))
    return DriftResult([one(name) for name in columns])


def judge(
    name: str,
    ref: ColumnProfile | None,
    series: pl.Series,
    settings: DriftConfig,
    *,
    tested: int = 1,
) -> FeatureDrift:
    """One column's verdict against its reference profile."""
    if ref is None:
        return _no_verdict(name, None, series.len(), "the reference has no profile of it")
    if ref.n == 0:
        return _no_verdict(name, ref, series.len(), "the reference has no non-null values")
    if isinstance(ref, NumericProfile):
        if series.dtype != pl.Null and not is_numeric(series):
            return _no_verdict(name, ref, series.len(), f"expected numbers, got {series.dtype}")
        values = numeric_values(series) if series.dtype != pl.Null else np.empty(0)
        if values.size < settings.min_rows:
            return _too_few(name, ref, values.size, settings)
        return _numeric(name, ref, values, settings, tested)
    counts = category_counts(series) if series.dtype != pl.Null else {}
    rows = sum(counts.values())
    if rows < settings.min_rows:
        return _too_few(name, ref, rows, settings)
    return _categorical(name, ref, counts, rows, settings, tested)


def _numeric(
    name: str, ref: NumericProfile, values: np.ndarray, settings: DriftConfig, tested: int
) -> FeatureDrift:
    result = compare_numeric(ref, values)
    return numeric_verdict(name, ref, result, int(values.size), settings, tested)


def numeric_verdict(
    name: str,
    ref: NumericProfile,
    result: NumericComparison,
    rows: int,
    settings: DriftConfig,
    tested: int,
) -> FeatureDrift:
    """A numeric column's verdict from its comparison with the reference."""
    chosen = choose("numeric", rows, settings, name, tested)
    alpha = alpha_of(settings, tested)
    floor = chosen[1] if chosen[0] == "wasserstein" else None
    mde = numeric_mde(ref, result.n_eff, alpha, floor) if chosen[0] != "psi" else None
    return _verdict(
        name,
        "numeric",
        chosen,
        rows,
        statistics_of(result, "numeric"),
        test=("rank", test_p_value(result), alpha),
        plot=_numeric_plot(ref, result.cur_cdf, result.below, result.above),
        outside=round(result.below + result.above, 6),
        mde=None if mde is None else round(mde, 6),
        mde_unit="sd",
    )


def _categorical(
    name: str,
    ref: CategoricalProfile,
    counts: dict[str, int],
    rows: int,
    settings: DriftConfig,
    tested: int,
) -> FeatureDrift:
    result = compare_categorical(ref, counts)
    return categorical_verdict(name, result, rows, settings, tested)


def categorical_verdict(
    name: str,
    result: CategoricalComparison,
    rows: int,
    settings: DriftConfig,
    tested: int,
) -> FeatureDrift:
    """A categorical column's verdict from its comparison with the reference."""
    chosen = choose("categorical", rows, settings, name, tested)
    spec = DRIFT_METHODS[chosen[0]]
    alpha = alpha_of(settings, tested) if spec.kind == "distance" else chosen[1]
    floor = spec.in_w(chosen[1]) if spec.in_w is not None and spec.kind == "distance" else None
    mde = categorical_mde(result.df, result.n_eff, alpha, floor)
    return _verdict(
        name,
        "categorical",
        chosen,
        rows,
        statistics_of(result, "categorical"),
        test=("chi2", test_p_value(result), alpha_of(settings, tested)),
        mde=None if mde is None else round(mde, 6),
        mde_unit="w",
        pooled=list(result.pooled[:40]),
        plot={
            "levels": result.levels[:40],
            "reference": [round(float(x), 6) for x in result.ref_share[:40]],
            "current": [round(float(x), 6) for x in result.cur_share[:40]],
        },
        unseen=dict(sorted(result.unseen.items(), key=lambda kv: -kv[1])[:20]),
    )


def _verdict(
    name: str,
    kind: str,
    chosen: tuple[str, float],
    rows: int,
    statistics: dict[str, float],
    *,
    test: tuple[str, float, float],
    **extra: Any,
) -> FeatureDrift:
    """A test's p-value must stay above its threshold; a distance below its threshold,
    or its calibration ``test`` (name, p-value, level) above its level."""
    method, threshold = chosen
    spec = DRIFT_METHODS[method]
    p_value = statistics.get(f"{method}_p_value") if spec.kind == "p_value" else None
    decisive = p_value if p_value is not None else statistics[method]
    if p_value is not None:
        drifted = decisive < threshold
    else:
        drifted = decisive > threshold and test[1] < test[2]
        extra.update(test=test[0], test_p_value=round(test[1], 8), alpha=test[2])
    return FeatureDrift(
        feature=name,
        kind=kind,
        method=method,
        value=statistics[method],
        threshold=threshold,
        drifted=bool(drifted),
        rows=rows,
        p_value=p_value,
        statistics={k: round(v, 6) for k, v in statistics.items()},
        **extra,
    )


def _numeric_plot(
    ref: NumericProfile, cur_cdf: np.ndarray, below: float, above: float
) -> dict[str, Any]:
    """Shares of both sides in ``PLOT_BINS`` equal bins over the reference's range."""
    edges = np.asarray(ref.edges)
    if edges.size < 2:
        return {}
    grid = np.linspace(edges[0], edges[-1], PLOT_BINS + 1)
    ref_at = np.interp(grid, edges, np.asarray(ref.cdf) / ref.n)
    cur_at = np.interp(grid, edges, cur_cdf)
    ref_at[0], cur_at[0] = 0.0, below  # the first bin starts at the minimum
    return {
        "edges": [round(float(x), 6) for x in grid],
        "reference": [round(float(x), 6) for x in np.diff(ref_at)],
        "current": [round(float(x), 6) for x in np.diff(cur_at)],
        "below": round(below, 6),
        "above": round(above, 6),
    }


def _too_few(name: str, ref: ColumnProfile, rows: int, settings: DriftConfig) -> FeatureDrift:
    return _no_verdict(
        name,
        ref,
        rows,
        f"{rows} non-null value(s) in the window; drift is judged from {settings.min_rows}",
    )


def _no_verdict(name: str, ref: ColumnProfile | None, rows: int, reason: str) -> FeatureDrift:
    kind = ref.kind if ref is not None else "unknown"
    return FeatureDrift(name, kind, "", None, 0.0, None, rows, reason)
