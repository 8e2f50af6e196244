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
  moved a tenth of a standard deviation on average", whatever the unit.

Categorical columns compare category frequencies: chi-square (a 2-by-k contingency
test of reference against current counts, with its p-value), PSI and the
Jensen-Shannon distance (base 2, so between 0 and 1). Categories the reference
never saw count as one more category that the reference had 0 of.

:data:`DRIFT_METHODS` is the table of drift methods: a new method is its
figure computed here plus one entry there (and its name in the config's
``DriftMethod``, which a test pins to the table).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .profile import OTHER, CategoricalProfile, NumericProfile

EPS = 1e-4  # smoothing for empty bins in PSI and JS


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


def compare_numeric(ref: NumericProfile, values: np.ndarray) -> NumericComparison:
    """``values``: the current column's finite values (any order); ``ref`` must have rows."""
    from scipy import stats as sps  # ~1 s to import: only once drift is judged

    edges = np.asarray(ref.edges)
    ref_cdf = np.asarray(ref.cdf, dtype=np.float64) / ref.n
    n = values.size
    bins = np.bincount(np.searchsorted(edges, values, side="left"), minlength=edges.size + 1)
    cur_cdf = np.cumsum(bins[:-1]) / n  # values <= each edge
    gap = ref_cdf - cur_cdf
    ks = float(np.abs(gap).max())
    en = n * ref.n / (n + ref.n)
    ks_p = float(sps.kstwo.sf(ks, max(1, round(en)))) if en < 10_000 else _kolmogorov_p(ks, en)

    # Wasserstein: area between the CDFs, trapezoids inside, exact tails outside
    low, high = edges[0], edges[-1]
    width = np.diff(edges)
    a, b = gap[:-1], gap[1:]
    same = a * b >= 0
    with np.errstate(invalid="ignore", divide="ignore"):
        crossing = np.where(
            np.abs(a) + np.abs(b) > 0, (a * a + b * b) / (2 * (np.abs(a) + np.abs(b))), 0.0
        )
    inside = float(np.sum(width * np.where(same, (np.abs(a) + np.abs(b)) / 2, crossing)))
    under, over = values[values < low], values[values > high]
    tails = (float((low - under).sum()) + float((over - high).sum())) / n
    scale = ref.sd if ref.sd > 0 else (abs(ref.mean) or 1.0)
    wasserstein = (inside + tails) / scale

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
    )


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
    keep = (r + c) > 0
    table = np.vstack([r[keep], c[keep]])
    if table.shape[1] > 1:
        chi2, chi2_p = sps.chi2_contingency(table, correction=False)[:2]
    else:
        chi2, chi2_p = 0.0, 1.0
    return CategoricalComparison(
        chi2=float(chi2),
        chi2_p=float(chi2_p),
        psi=psi(ref_share, cur_share),
        js=js_distance(ref_share, cur_share),
        levels=levels,
        ref_share=ref_share,
        cur_share=cur_share,
        unseen=unseen if (unseen_level or ref.other == 0) else {},
    )


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
    column when its p-value is under the threshold, a ``distance`` when its value is
    over it. ``threshold`` is the :class:`~shipyard.config.schema.DriftConfig` key
    holding its threshold, ``default`` that key's default. ``auto`` says for which
    windows (``small``: up to ``small_sample`` rows) ``auto`` picks it for its column
    kind; ``counterpart`` stands in for it on a column of the other kind.
    """

    name: str
    kind: Literal["p_value", "distance"]
    columns: frozenset[ColumnKind]
    statistic: Callable[[Any], float]
    threshold: str
    default: float
    p_value: Callable[[Any], float] | None = None
    auto: Literal["small", "large"] | None = None
    counterpart: str | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        """The keys it adds to a verdict's ``statistics``."""
        return (self.name, f"{self.name}_p_value") if self.p_value else (self.name,)


_NUMERIC: frozenset[ColumnKind] = frozenset({"numeric"})
_CATEGORICAL: frozenset[ColumnKind] = frozenset({"categorical"})

# in the order a verdict's statistics are reported (numbers: ks, psi, wasserstein;
# categories: chi2, psi, js)
DRIFT_METHODS: dict[str, DriftMethodSpec] = {
    spec.name: spec
    for spec in (
        DriftMethodSpec(
            "ks", "p_value", _NUMERIC, lambda c: c.ks, "p_value", 0.05,
            p_value=lambda c: c.ks_p, auto="small", counterpart="chi2",
        ),
        DriftMethodSpec(
            "chi2", "p_value", _CATEGORICAL, lambda c: c.chi2, "p_value", 0.05,
            p_value=lambda c: c.chi2_p, auto="small", counterpart="ks",
        ),
        DriftMethodSpec("psi", "distance", _NUMERIC | _CATEGORICAL, lambda c: c.psi, "psi", 0.1),
        DriftMethodSpec(
            "wasserstein", "distance", _NUMERIC, lambda c: c.wasserstein, "wasserstein", 0.1,
            auto="large", counterpart="js",
        ),
        DriftMethodSpec(
            "js", "distance", _CATEGORICAL, lambda c: c.js, "js", 0.1,
            auto="large", counterpart="wasserstein",
        ),
    )
}  # fmt: skip


def statistics_of(comparison: Comparison, kind: ColumnKind) -> dict[str, float]:
    """Every method's figures for a column of ``kind``, keyed as the report names them."""
    found: dict[str, float] = {}
    for spec in DRIFT_METHODS.values():
        if kind in spec.columns:
            found[spec.name] = spec.statistic(comparison)
            if spec.p_value is not None:
                found[f"{spec.name}_p_value"] = spec.p_value(comparison)
    return found
