"""Every drift method of the table through the same checks, on each column kind it applies to.

A new entry of ``DRIFT_METHODS`` is tested here without a line added: it must see no
drift between two samples of one distribution and drift on a clearly shifted one,
give a finite value that moves the right way with the shift (a p-value falls, a
distance grows), and have a default threshold in its range that the config agrees with.
"""

from __future__ import annotations

import math
from itertools import pairwise
from typing import get_args

import numpy as np
import polars as pl
import pytest

from shipyard.config.schema import DriftConfig, DriftMethod
from shipyard.monitoring.drift import P_VALUE_METHODS, FeatureDrift, choose, judge
from shipyard.monitoring.profile import profile_column
from shipyard.monitoring.stats import DRIFT_METHODS, ColumnKind, DriftMethodSpec

ROWS = 5000  # enough for a distance to settle well under its threshold
SHIFTS = (0.0, 0.05, 0.6)  # none, slight, clear

CASES = [
    pytest.param(spec, kind, id=f"{name}-{kind}")
    for name, spec in DRIFT_METHODS.items()
    for kind in sorted(spec.columns)
]


def _sample(kind: ColumnKind, shift: float, seed: int) -> pl.Series:
    """``ROWS`` values; ``shift`` moves a numeric mean by that many sds, or that share of the
    categories' mass from the first level to the last."""
    rng = np.random.default_rng(seed)
    if kind == "numeric":
        return pl.Series("x", rng.normal(10.0 + shift * 2.0, 2.0, ROWS))
    shares = np.array([0.4, 0.3, 0.2, 0.1]) + np.array([-1, 0, 0, 1]) * shift * 0.4
    return pl.Series("x", rng.choice(["a", "b", "c", "d"], ROWS, p=shares / shares.sum()))


def _judge(spec: DriftMethodSpec, kind: ColumnKind, shift: float) -> FeatureDrift:
    reference = profile_column(_sample(kind, 0.0, seed=1).extend(_sample(kind, 0.0, seed=2)))
    settings = DriftConfig.model_validate({"numeric": spec.name, "categorical": spec.name})
    verdict = judge("x", reference, _sample(kind, shift, seed=3), settings)
    assert verdict.method == spec.name, f"{spec.name} was not the method chosen on {kind}"
    return verdict


@pytest.mark.parametrize(("spec", "kind"), CASES)
def test_no_drift_on_one_distribution_and_drift_on_a_shifted_one(
    spec: DriftMethodSpec, kind: ColumnKind
) -> None:
    same, shifted = _judge(spec, kind, SHIFTS[0]), _judge(spec, kind, SHIFTS[-1])
    assert same.drifted is False, f"{spec.name} flags two samples of one distribution"
    assert shifted.drifted is True, f"{spec.name} misses a clear shift"


@pytest.mark.parametrize(("spec", "kind"), CASES)
def test_the_value_is_finite_and_moves_the_right_way_with_the_shift(
    spec: DriftMethodSpec, kind: ColumnKind
) -> None:
    verdicts = [_judge(spec, kind, shift) for shift in SHIFTS]
    for v in verdicts:
        assert v.value is not None and math.isfinite(v.value)
        assert set(spec.keys) <= set(v.statistics)
    decisive = [v.decisive or 0.0 for v in verdicts]
    assert all(v.decisive is not None and math.isfinite(v.decisive) for v in verdicts)
    if spec.kind == "p_value":
        assert all(v.p_value is not None and 0.0 <= v.p_value <= 1.0 for v in verdicts)
        assert all(a > b for a, b in pairwise(decisive)), f"{spec.name}: {decisive}"
    else:
        assert all(v.p_value is None and (v.value or 0.0) >= 0.0 for v in verdicts)
        assert all(a < b for a, b in pairwise(decisive)), f"{spec.name}: {decisive}"


@pytest.mark.parametrize("spec", DRIFT_METHODS.values(), ids=list(DRIFT_METHODS))
def test_the_default_threshold_is_in_range_and_is_the_configs(spec: DriftMethodSpec) -> None:
    assert spec.kind in ("p_value", "distance")
    assert spec.columns and spec.columns <= {"numeric", "categorical"}
    if spec.kind == "p_value":
        assert spec.p_value is not None and 0.0 < spec.default < 1.0
        assert spec.name in P_VALUE_METHODS
    else:
        assert spec.p_value is None and spec.default > 0.0
    assert getattr(DriftConfig(), spec.threshold) == spec.default
    plain = DriftConfig(correction="none")
    for kind in spec.columns:
        settings = plain.model_copy(update={"numeric": spec.name, "categorical": spec.name})
        assert choose(kind, 500, settings, "x") == (spec.name, spec.default)


@pytest.mark.parametrize("spec", DRIFT_METHODS.values(), ids=list(DRIFT_METHODS))
def test_a_method_asked_of_the_other_column_kind_has_a_counterpart(spec: DriftMethodSpec) -> None:
    for kind in {"numeric", "categorical"} - spec.columns:
        assert spec.counterpart in DRIFT_METHODS, f"{spec.name} has no stand-in on {kind}"
        assert kind in DRIFT_METHODS[spec.counterpart].columns


def test_the_config_names_exactly_the_methods_of_the_table() -> None:
    assert set(get_args(DriftMethod)) == {"auto", *DRIFT_METHODS}


@pytest.mark.parametrize("kind", ["numeric", "categorical"])
def test_auto_has_one_method_per_column_kind(kind: str) -> None:
    picked = [s for s in DRIFT_METHODS.values() if kind in s.columns and s.auto]
    assert len(picked) == 1
