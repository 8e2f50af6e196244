"""Drift statistics of a current sample against a reference profile.

Numeric columns are compared through their CDFs at the reference's quantile
edges: the current values are counted into the reference's bins once
(``searchsorted``, O(n log k)), and every statistic is read off the two CDFs.

- **KS**: the largest CDF gap at the edges. The edges are the reference's
  0.5%-quantiles, so this is the exact KS statistic to within 1/200; p-value from
  the asymptotic two-sample distribution.
- **PSI**: over the reference's deciles, smoothed so an empty bin is finite.
- **Wasserstein** (earth mover's distance, W1): the area between the CDFs,
  linear within a bin, exact for current values beyond the reference's range;
  *normalised* by the reference's standard deviation, so 0.1 means "the mass
  moved a tenth of a standard deviation on average", whatever the unit. On a
  discrete column (whose profile keeps its whole support) it is exact: both CDFs
  are step functions, the current's steps at its own values, fractional or not.
  Its p-value is the rank Wasserstein test's (:mod:`.calibration`).

Categorical columns compare category frequencies: chi-square (a 2-by-k contingency
test of reference against current counts, with its p-value), PSI, the
Jensen-Shannon distance (base 2, so between 0 and 1) and Cohen's w
(``sqrt(chi2 / n_eff)``, the change in standard-deviation units). Categories the
reference never saw count as one more category that the reference had 0 of. Before
chi-square, categories whose expected count in the window is under 5 are pooled
into one (Cochran's rule; if the pool itself expects under 5, it joins the smallest
other category), so rare categories do not inflate it.

:data:`DRIFT_METHODS` is the table of drift methods: a new method is its
figure computed here plus one entry there (and its name in the config's
``DriftMethod``, which a test pins to the table).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .calibration import effective_rows, rank_p_value, rank_statistic
from .profile import OTHER, CategoricalProfile, NumericProfile

EPS = 1e-4  # smoothing for empty bins in PSI and JS
MIN_EXPECTED = 5.0  # categories expected fewer times than this in a window are pooled
POOLED = "(rare, pooled)"


@dataclass(frozen=True)
class NumericComparison:
    ks: float
    ks_p: float
    psi: float
    wasserstein: float  # normalised by the reference sd
    ref_cdf: np.ndarray  # at the reference edges, fractions
    cur_cdf: np.ndarray
    below: float  # share of current values under the reference's minimum
    above: float  # … and over its maximum
    rank: float = 0.0  # the rank Wasserstein statistic T (see .calibration)
    rank_p: float = 1.0  # its p-value
    n_eff: float = 0.0  # the two-sample size n N / (n + N)


@dataclass(frozen=True)
class CategoricalComparison:
    chi2: float
    chi2_p: float
    psi: float
    js: float
    levels: list[str]
    ref_share: np.ndarray
    cur_share: np.ndarray
    unseen: dict[str, int]  # categories the reference never had, with their current counts
    cohen_w: float = 0.0  # sqrt(chi2 / n_eff) on the pooled table
    df: int = 0  # the pooled chi-square's degrees of freedom
    pooled: tuple[str, ...] = ()  # the categories pooled as rare before chi-square
    n_eff: float = 0.0


def compare_numeric(ref: NumericProfile, values: np.ndarray) -> NumericComparison:
    """``values``: the current column's finite values (any order); ``ref`` must have rows."""
    from scipy import stats as sps  # ~1 s to import: only once drift is judged

    edges = np.asarray(ref.edges)
    ref_cdf = np.asarray(ref.cdf, dtype=np.float64) / ref.n
    n = values.size
    bins = np.bincount(np.searchsorted(edges, values, side="left"), minlength=edges.size + 1)
    cur_cdf = np.cumsum(bins[:-1]) / n  # values <= each edge
    gap = ref_cdf - cur_cdf
    low, high = edges[0], edges[-1]
    under, over = values[values < low], values[values > high]
    if ref.discrete:
        ks, distance = _on_support(edges, ref_cdf, values, bins)
    else:
        ks = float(np.abs(gap).max())
        # Wasserstein: area between the CDFs, trapezoids inside, exact tails outside
        width = np.diff(edges)
        a, b = gap[:-1], gap[1:]
        same = a * b >= 0
        with np.errstate(invalid="ignore", divide="ignore"):
            crossing = np.where(
                np.abs(a) + np.abs(b) > 0, (a * a + b * b) / (2 * (np.abs(a) + np.abs(b))), 0.0
            )
        inside = float(np.sum(width * np.where(same, (np.abs(a) + np.abs(b)) / 2, crossing)))
        distance = inside + (float((low - under).sum()) + float((over - high).sum())) / n
    en = effective_rows(n, ref.n)
    ks_p = float(sps.kstwo.sf(ks, max(1, round(en)))) if en < 10_000 else _kolmogorov_p(ks, en)
    scale = ref.sd if ref.sd > 0 else (abs(ref.mean) or 1.0)
    wasserstein = distance / scale
    rank = rank_statistic(ref, cur_cdf)

    # PSI over the reference deciles (edges where the reference CDF crosses k/10)
    cuts = np.unique(np.searchsorted(ref_cdf, np.linspace(0.1, 0.9, 9), side="left"))
    cuts = cuts[cuts < edges.size]
    ref_bins = np.diff(np.concatenate([[0.0], ref_cdf[cuts], [1.0]]))
    cur_bins = np.diff(np.concatenate([[0.0], cur_cdf[cuts], [1.0]]))
    return NumericComparison(
        ks=ks,
        ks_p=ks_p,
        psi=psi(ref_bins, cur_bins),
        wasserstein=float(wasserstein),
        ref_cdf=ref_cdf,
        cur_cdf=cur_cdf,
        below=under.size / n,
        above=over.size / n,
        rank=rank,
        rank_p=rank_p_value(ref, rank, en),
        n_eff=en,
    )


def _on_support(
    support: np.ndarray, ref_cdf: np.ndarray, values: np.ndarray, bins: np.ndarray
) -> tuple[float, float]:
    """Exact KS and (unnormalised) Wasserstein of a discrete reference (a step CDF on
    ``support``) against ``values``: the current's own values off the support are
    breakpoints too, so fractional values move the figure by exactly what they moved."""
    at = np.minimum(np.searchsorted(support, values, side="left"), support.size - 1)
    off = values[support[at] != values]
    if off.size:
        points = np.union1d(support, off)
        counts = np.bincount(np.searchsorted(points, values, side="left"), minlength=points.size)
        cur = np.cumsum(counts[: points.size]) / values.size
        step = np.searchsorted(support, points, side="right") - 1
        ref = np.where(step >= 0, ref_cdf[np.clip(step, 0, None)], 0.0)
    else:
        points, cur, ref = support, np.cumsum(bins[:-1]) / values.size, ref_cdf
    gap = np.abs(ref - cur)
    return float(gap.max()), float(np.sum(gap[:-1] * np.diff(points)))


def compare_categorical(ref: CategoricalProfile, counts: dict[str, int]) -> CategoricalComparison:
    """``counts``: the current column's count per category (non-null); ``ref`` must have rows."""
    from scipy import stats as sps

    levels = list(ref.counts)
    known = set(levels)
    unseen = {k: v for k, v in counts.items() if k not in known}
    ref_counts = [ref.counts[k] for k in levels]
    cur_counts = [counts.get(k, 0) for k in levels]
    if ref.other:
        levels.append(OTHER)
        ref_counts.append(ref.other)
        cur_counts.append(sum(unseen.values()))
        unseen_level = False
    else:
        unseen_level = bool(unseen)
        if unseen_level:
            levels.append("(unseen)")
            ref_counts.append(0)
            cur_counts.append(sum(unseen.values()))
    r = np.asarray(ref_counts, dtype=np.float64)
    c = np.asarray(cur_counts, dtype=np.float64)
    ref_share, cur_share = r / r.sum(), c / c.sum()
    rare = pool(r, c)
    table = np.vstack([r[~rare], c[~rare]])
    if rare.any():
        table = np.column_stack([table, [r[rare].sum(), c[rare].sum()]])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] > 1:
        chi2, chi2_p = sps.chi2_contingency(table, correction=False)[:2]
    else:
        chi2, chi2_p = 0.0, 1.0
    n_eff = effective_rows(int(c.sum()), int(r.sum()))
    return CategoricalComparison(
        chi2=float(chi2),
        chi2_p=float(chi2_p),
        psi=psi(ref_share, cur_share),
        js=js_distance(ref_share, cur_share),
        levels=levels,
        ref_share=ref_share,
        cur_share=cur_share,
        unseen=unseen if (unseen_level or ref.other == 0) else {},
        cohen_w=float(np.sqrt(chi2 / n_eff)) if n_eff else 0.0,
        df=max(table.shape[1] - 1, 0),
        pooled=tuple(level for level, is_rare in zip(levels, rare, strict=True) if is_rare),
        n_eff=n_eff,
    )


def pool(ref_counts: np.ndarray, cur_counts: np.ndarray) -> np.ndarray:
    """Which categories to pool before chi-square: those whose expected count (the smaller
    side's total times the category's pooled share) is under ``MIN_EXPECTED``; when the
    pool itself expects fewer, the smallest other category joins it."""
    total = ref_counts + cur_counts
    side = min(ref_counts.sum(), cur_counts.sum())
    expected = side * total / max(total.sum(), 1.0)
    rare: np.ndarray = expected < MIN_EXPECTED
    if rare.any() and expected[rare].sum() < MIN_EXPECTED and (~rare).sum() > 1:
        rest = np.flatnonzero(~rare)
        rare[rest[np.argmin(expected[rest])]] = True
    return rare


def psi(ref_share: np.ndarray, cur_share: np.ndarray) -> float:
    """Population stability index; empty bins count as ``EPS``."""
    r = np.clip(ref_share, EPS, None)
    c = np.clip(cur_share, EPS, None)
    return float(np.sum((c - r) * np.log(c / r)))


def js_distance(ref_share: np.ndarray, cur_share: np.ndarray) -> float:
    """Jensen-Shannon distance, base 2 (0 = same, 1 = disjoint)."""
    p, q = ref_share / ref_share.sum(), cur_share / cur_share.sum()
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / m), 0.0).sum()
        kl_q = np.where(q > 0, q * np.log2(q / m), 0.0).sum()
    return float(np.sqrt(max(0.0, (kl_p + kl_q) / 2)))


def _kolmogorov_p(d: float, en: float) -> float:
    """Asymptotic two-sample KS p-value for large effective sizes (Kolmogorov's distribution)."""
    from scipy import stats as sps

    return float(sps.kstwobign.sf(d * np.sqrt(en)))


# -- the drift methods: one table ---------------------------------------------------------

ColumnKind = Literal["numeric", "categorical"]
Comparison = NumericComparison | CategoricalComparison


@dataclass(frozen=True)
class DriftMethodSpec:
    """One drift method: what it reads off a comparison, how it judges, where it applies.

    ``name`` is its name in shipyard.yaml and in the report (``statistics[name]``,
    and ``statistics[name + "_p_value"]`` for a test). A ``p_value`` method flags a
    column when its p-value is under the threshold; a ``distance`` when its value is
    over its threshold *and* the column kind's calibration test (:func:`test_p_value`)
    is under the false-alarm level, so no distance flags noise at any window size.
    ``threshold`` is the :class:`~shipyard.config.schema.DriftConfig` key holding its
    threshold, ``default`` that key's default. ``auto`` says ``auto`` picks it for its
    column kind; ``counterpart`` stands in for it on a column of the other kind.
    ``in_w`` turns a categorical threshold into Cohen's w (for the minimum detectable
    effect), where the method has such a reading.
    """

    name: str
    kind: Literal["p_value", "distance"]
    columns: frozenset[ColumnKind]
    statistic: Callable[[Any], float]
    threshold: str
    default: float
    p_value: Callable[[Any], float] | None = None
    auto: bool = False
    counterpart: str | None = None
    in_w: Callable[[float], float] | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        """The keys it adds to a verdict's ``statistics``."""
        return (self.name, f"{self.name}_p_value") if self.p_value else (self.name,)


def test_p_value(comparison: Comparison) -> float:
    """The calibration test of a column: the rank Wasserstein test for numbers, the
    pooled chi-square for categories."""
    return comparison.rank_p if isinstance(comparison, NumericComparison) else comparison.chi2_p


_NUMERIC: frozenset[ColumnKind] = frozenset({"numeric"})
_CATEGORICAL: frozenset[ColumnKind] = frozenset({"categorical"})
_JS_PER_W = float(np.sqrt(8 * np.log(2)))  # small changes: JS distance ~ w / sqrt(8 ln 2)

# in the order a verdict's statistics are reported (numbers: ks, psi, wasserstein;
# categories: chi2, psi, js, cohen_w)
DRIFT_METHODS: dict[str, DriftMethodSpec] = {
    spec.name: spec
    for spec in (
        DriftMethodSpec(
            "ks", "p_value", _NUMERIC, lambda c: c.ks, "p_value", 0.05,
            p_value=lambda c: c.ks_p, counterpart="chi2",
        ),
        DriftMethodSpec(
            "chi2", "p_value", _CATEGORICAL, lambda c: c.chi2, "p_value", 0.05,
            p_value=lambda c: c.chi2_p, counterpart="ks", in_w=lambda t: 0.0,
        ),
        DriftMethodSpec(
            "psi", "distance", _NUMERIC | _CATEGORICAL, lambda c: c.psi, "psi", 0.1,
            in_w=lambda t: float(np.sqrt(t)),  # small changes: PSI ~ w^2
        ),
        DriftMethodSpec(
            "wasserstein", "distance", _NUMERIC, lambda c: c.wasserstein, "wasserstein", 0.1,
            auto=True, counterpart="cohen_w",
        ),
        DriftMethodSpec(
            "js", "distance", _CATEGORICAL, lambda c: c.js, "js", 0.1,
            counterpart="wasserstein", in_w=lambda t: t * _JS_PER_W,
        ),
        DriftMethodSpec(
            "cohen_w", "distance", _CATEGORICAL, lambda c: c.cohen_w, "cohen_w", 0.1,
            auto=True, counterpart="wasserstein", in_w=lambda t: t,
        ),
    )
}  # fmt: skip


def statistics_of(comparison: Comparison, kind: ColumnKind) -> dict[str, float]:
    """Every method's figures for a column of ``kind``, keyed as the report names them,
    and the rank test's p-value (``rank_p_value``) for numbers."""
    found: dict[str, float] = {}
    for spec in DRIFT_METHODS.values():
        if kind in spec.columns:
            found[spec.name] = spec.statistic(comparison)
            if spec.p_value is not None:
                found[f"{spec.name}_p_value"] = spec.p_value(comparison)
    if isinstance(comparison, NumericComparison):
        found["rank_p_value"] = comparison.rank_p
    return found
