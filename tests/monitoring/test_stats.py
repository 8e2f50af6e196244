"""Profiles and drift statistics: against scipy on raw data, on edge cases, and by property."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from shipyard.config.schema import DriftColumnConfig, DriftConfig
from shipyard.monitoring.drift import choose, compare, judge
from shipyard.monitoring.profile import Profile, build_profile, profile_column
from shipyard.monitoring.stats import compare_categorical, compare_numeric, js_distance


def test_numeric_statistics_match_scipy_on_raw_data() -> None:
    rng = np.random.default_rng(0)
    reference, current = rng.lognormal(0, 0.5, 200_000), rng.lognormal(0.1, 0.5, 50_000)
    profile = profile_column(pl.Series(reference))
    result = compare_numeric(profile, current)
    assert result.ks == pytest.approx(stats.ks_2samp(reference, current).statistic, abs=0.006)
    exact = stats.wasserstein_distance(reference, current) / reference.std()
    assert result.wasserstein == pytest.approx(exact, rel=0.02)
    assert result.ks_p < 1e-10


def test_categorical_statistics_match_scipy() -> None:
    reference = pl.Series(["a"] * 500 + ["b"] * 300 + ["c"] * 200)
    counts = {"a": 400, "b": 300, "c": 200, "d": 100}
    result = compare_categorical(profile_column(reference), counts)
    assert result.unseen == {"d": 100}
    assert result.levels[-1] == "(unseen)"
    expected = stats.chi2_contingency([[500, 300, 200, 0], [400, 300, 200, 100]], correction=False)
    assert result.chi2 == pytest.approx(expected[0]) and result.chi2_p == pytest.approx(expected[1])
    assert result.js == pytest.approx(
        js_distance(np.array([0.5, 0.3, 0.2, 0.0]), np.array([0.4, 0.3, 0.2, 0.1]))
    )


def test_a_constant_feature_drifts_only_when_it_moves() -> None:
    profile = build_profile(pl.DataFrame({"x": [5.0] * 1000}))
    same = judge("x", profile.columns["x"], pl.Series([5.0] * 2000), DriftConfig())
    moved = judge("x", profile.columns["x"], pl.Series([6.0] * 2000), DriftConfig())
    assert same.drifted is False and same.value == 0.0
    assert moved.drifted is True and math.isfinite(moved.value or 0)


def test_too_few_rows_all_nulls_and_a_missing_column_get_no_verdict() -> None:
    profile = build_profile(pl.DataFrame({"x": np.arange(100.0), "c": ["a", "b"] * 50}))
    one = judge("x", profile.columns["x"], pl.Series([1.0]), DriftConfig())
    nulls = judge(
        "x", profile.columns["x"], pl.Series([None] * 50, dtype=pl.Float64), DriftConfig()
    )
    assert one.drifted is None and "1 non-null value(s)" in one.reason
    assert nulls.drifted is None and nulls.rows == 0
    result = compare(profile, pl.DataFrame({"x": np.arange(100.0)}), ["x", "c"], DriftConfig())
    assert result.get("c") is not None and result.get("c").drifted is None  # type: ignore[union-attr]
    assert "not in the current window" in result.get("c").reason  # type: ignore[union-attr]


def test_method_choice_and_per_column_override() -> None:
    settings = DriftConfig(columns={"amount": DriftColumnConfig(method="psi", threshold=0.2)})
    for rows in (500, 50_000):  # calibrated at every size: one method per kind
        assert choose("numeric", rows, settings, "age", tested=5) == ("wasserstein", 0.1)
        assert choose("categorical", rows, settings, "country") == ("cohen_w", 0.1)
    assert choose("numeric", 50_000, settings, "amount") == ("psi", 0.2)
    tests = DriftConfig(numeric="ks", categorical="chi2")
    assert choose("numeric", 500, tests, "age", tested=5) == ("ks", 0.01)  # 0.05 / 5
    plain = DriftConfig(numeric="ks", correction="none")
    assert choose("numeric", 500, plain, "age", tested=5) == ("ks", 0.05)


def _frame(n: int, seed: int, shift: float = 0.0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {}
    for i in range(6):
        columns[f"n{i}"] = rng.normal(10 * i, 1 + i, n) + shift * (1 + i) * (i < 2)
    columns["g"] = rng.gamma(2, 2, n)
    p = np.array([0.4, 0.3, 0.2, 0.1])
    if shift:
        p = p * np.array([0.55, 0.7, 1.6, 2.2])
        p = p / p.sum()
    columns["c"] = np.array(["a", "b", "c", "d"])[rng.choice(4, n, p=p)]
    return pl.DataFrame(columns)


def test_planted_drift_is_found_and_nothing_else() -> None:
    profile = build_profile(_frame(100_000, 1))
    columns = list(profile.columns)
    result = compare(profile, _frame(100_000, 2, shift=0.3), columns, DriftConfig())
    assert set(result.drifted) == {"n0", "n1", "c"}


def test_no_drift_windows_rarely_flag() -> None:
    """Windows drawn from the reference distribution: under 5% of feature-windows flagged."""
    profile = build_profile(_frame(200_000, 3))
    columns = list(profile.columns)
    flagged = 0
    for seed in range(20):
        for size in (500, 10_000):  # both regimes: p-value tests and distances
            flagged += len(
                compare(profile, _frame(size, 100 + seed), columns, DriftConfig()).drifted
            )
    assert flagged / (20 * 2 * len(columns)) < 0.05


floats = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True, width=64))


@settings(max_examples=150, deadline=None)
@given(st.lists(floats, max_size=300))
def test_a_numeric_profile_accounts_for_every_row(values: list[float | None]) -> None:
    series = pl.Series("x", values, dtype=pl.Float64)
    profile = profile_column(series)
    finite = [v for v in values if v is not None and math.isfinite(v)]
    assert profile.n == len(finite)
    assert profile.n + profile.nulls == len(values)
    if finite:
        assert profile.cdf[-1] == profile.n and list(profile.cdf) == sorted(profile.cdf)
        assert profile.min == min(finite) and profile.max == max(finite)
    again = Profile.from_dict(Profile(len(values), {"x": profile}).as_dict())
    assert again.columns["x"] == profile


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.sampled_from(["a", "b", "c", None]), min_size=1, max_size=200),
    st.dictionaries(st.sampled_from(["a", "b", "z"]), st.integers(1, 50), min_size=1),
)
def test_categorical_comparison_is_finite_and_shares_sum_to_one(
    reference: list[str | None], counts: dict[str, int]
) -> None:
    profile = profile_column(pl.Series("c", reference, dtype=pl.String))
    if profile.n == 0:
        return
    result = compare_categorical(profile, counts)
    assert math.isclose(result.ref_share.sum(), 1.0) and math.isclose(result.cur_share.sum(), 1.0)
    assert 0.0 <= result.js <= 1.0 and math.isfinite(result.psi) and 0.0 <= result.chi2_p <= 1.0
