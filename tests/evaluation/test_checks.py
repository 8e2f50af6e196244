"""Each evaluation check on hand-made predictors: it must fail exactly when it should."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from shipyard.config import parse_config
from shipyard.evaluation import evaluate
from shipyard.models import Predictor

BASE = """\
project: t
datasets:
  d:
    target: y
    columns:
      x: {type: float}
      group: {type: category, categories: [a, b, c]}
      y: {type: bool}
models:
  m:
    owner: {name: team, email: team@example.com}
    task: binary_classification
    dataset: d
    features: [x, group]
    latency_budget_ms: 60000
"""


class Scored(Predictor):
    """P(y) = sigmoid(x), flipped for the groups in ``flip``: a model we control exactly."""

    def __init__(self, flip: tuple[str, ...] = (), slope: float = 1.0) -> None:
        super().__init__(["x", "group"], "binary_classification", [False, True])
        self.flip, self.slope = flip, slope

    @property
    def has_proba(self) -> bool:
        return True

    def predict_proba(self, rows: Any) -> np.ndarray:
        frame = self._frame(rows)
        p = 1 / (1 + np.exp(np.clip(-self.slope * frame["x"].to_numpy(dtype=float), -50, 50)))
        p = np.where(frame["group"].isin(self.flip), 1 - p, p)
        return np.column_stack([1 - p, p])

    def predict(self, rows: Any) -> np.ndarray:
        return self.predict_proba(rows)[:, 1] > 0.5


def data(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 2, n)
    y = rng.random(n) < 1 / (1 + np.exp(-x))
    return pd.DataFrame({"x": x, "group": rng.choice(["a", "b", "c"], n), "y": y})


def model(extra: str = ""):  # type: ignore[no-untyped-def]
    return parse_config(BASE + extra, environ={}).models["m"]


def run(predictor: Predictor, extra: str = "", frame: pd.DataFrame | None = None, **kw: Any):  # type: ignore[no-untyped-def]
    return evaluate(
        predictor,
        data() if frame is None else frame,
        model(extra),
        "y",
        ref=("m", 1),
        dataset="d@1",
        **kw,
    )


def by_name(report: Any, prefix: str) -> Any:
    [check] = [c for c in report.checks if c.name.startswith(prefix)]
    return check


def test_gates_pass_and_fail_with_the_numbers() -> None:
    good = run(Scored(), "    gates: {roc_auc: {min: 0.75}, log_loss: {max: 0.6}}\n")
    assert by_name(good, "gate roc_auc").passed and by_name(good, "gate log_loss").passed
    noise = data().assign(y=lambda f: np.random.default_rng(1).permutation(f["y"].to_numpy()))
    shuffled = run(Scored(), "    gates: {roc_auc: {min: 0.75}}\n", frame=noise)
    gate = by_name(shuffled, "gate roc_auc")
    assert not gate.passed and not shuffled.passed
    assert gate.value is not None and gate.value < 0.6
    assert gate.detail.startswith("got 0.") and gate.detail.endswith("needs >= 0.75")


def test_a_model_worse_than_the_champion_beyond_the_margin() -> None:
    extra = "    gates: {vs_champion: {roc_auc: -0.01}}\n"
    worse = run(Scored(slope=0.2, flip=("c",)), extra, champion=("m@1", Scored()))
    check = by_name(worse, "vs champion roc_auc")
    assert not check.passed and "worse by" in check.detail
    slightly = run(Scored(slope=0.999), extra, champion=("m@1", Scored()))
    assert by_name(slightly, "vs champion roc_auc").passed
    alone = run(Scored(), extra)
    assert (
        by_name(alone, "vs champion").passed
        and "no champion yet" in by_name(alone, "vs champion").detail
    )


def test_good_overall_bad_on_one_slice() -> None:
    extra = "    evaluation:\n      slices: [{column: group, metric: roc_auc, min: 0.7, min_size: 50}]\n"
    report = run(Scored(flip=("b",)), extra)
    check = by_name(report, "slices roc_auc by group")
    assert not check.passed
    assert [f["slice"] for f in check.failures] == ["b"]
    assert {s["slice"]: s["passed"] for s in report.slices} == {"a": True, "b": False, "c": True}
    for found in report.slices:  # ROC AUC is not a share: its interval is bootstrapped
        assert found["interval"].startswith("95% bootstrap")
        assert found["low"] <= found["value"] <= found["high"]
    assert run(Scored(), extra).passed


def test_small_slices_are_not_judged_and_bins_work() -> None:
    extra = "    evaluation:\n      slices: [{column: x, bins: [-100, -5, 0, 100], metric: accuracy, min: 0.5, min_size: 200}]\n"
    check = by_name(run(Scored(), extra), "slices accuracy by x")
    assert check.passed and "under 200 rows not judged" in check.detail


def test_bins_keep_whole_labels_in_their_order_with_rows_and_intervals() -> None:
    extra = "    evaluation:\n      slices: [{column: x, bins: [-2.5, 0, 1.25, 12.75], metric: accuracy, min: 0.5, min_size: 1}]\n"
    report = run(Scored(), extra)
    x = data()["x"]
    assert [s["slice"] for s in report.slices] == ["[-2.5, 0]", "(0, 1.25]", "(1.25, 12.75]"]
    sizes = [
        ((x >= -2.5) & (x <= 0)).sum(),
        ((x > 0) & (x <= 1.25)).sum(),
        ((x > 1.25) & (x <= 12.75)).sum(),
    ]
    assert [s["size"] for s in report.slices] == sizes
    for found in report.slices:  # accuracy is a share of rows: a Wilson interval around it
        assert found["interval"] == "95% Wilson score"
        assert found["low"] < found["value"] < found["high"]
    outside = int(((x < -2.5) | (x > 12.75)).sum())
    assert (
        f"{outside} rows outside the bins -2.5 to 12.75"
        in by_name(report, "slices accuracy by x").detail
    )


def test_a_planted_directional_violation() -> None:
    extra = (
        "    evaluation:\n      directional: [{column: x, increase: 1, expect: up, rows: 300}]\n"
    )
    assert by_name(run(Scored(), extra), "directional").passed
    violated = by_name(run(Scored(flip=("a",)), extra), "directional")
    assert not violated.passed
    assert violated.failures and all(case["group"] == "a" for case in violated.failures)
    assert violated.failures[0]["score change"] < 0


def test_invariance_by_values_and_by_shift() -> None:
    values = "    evaluation:\n      invariance: [{column: group, values: [a, b, c], eps: 0.01}]\n"
    assert by_name(run(Scored(), values), "invariance group").passed
    broken = by_name(run(Scored(flip=("c",)), values), "invariance group")
    assert not broken.passed and broken.value is not None and broken.value > 0.01
    shift = "    evaluation:\n      invariance: [{column: x, shift: 0.001, eps: 0.01}]\n"
    assert by_name(run(Scored(), shift), "invariance x").passed
    assert not by_name(run(Scored(slope=30), shift.replace("0.001", "0.5")), "invariance x").passed


def test_minimum_functionality_and_golden_set() -> None:
    extra = "    evaluation:\n      minimum:\n        - {case: {x: 5, group: a}, expect: true}\n        - {case: {x: -5, group: a}, expect: false}\n"
    assert by_name(run(Scored(), extra), "minimum").passed
    failed = by_name(run(Scored(flip=("a",)), extra), "minimum")
    assert not failed.passed and failed.value == 2 and failed.failures[0]["got"] is False
    golden = pd.DataFrame(
        {"x": [4.0, -4.0], "group": ["a", "b"], "y": [True, False], "score": [0.98, 0.02]}
    )
    spec = "    evaluation:\n      golden: {dataset: g@1, score_column: score, tolerance: 0.01}\n"
    assert by_name(run(Scored(), spec, golden=golden), "golden").passed
    wrong = by_name(run(Scored(flip=("b",)), spec, golden=golden), "golden")
    assert not wrong.passed and "1 of 2 cases wrong" in wrong.detail


def test_latency_against_the_budget_and_curves() -> None:
    report = run(Scored())
    check = by_name(report, "latency")
    assert check.passed and report.latency["single_p99_ms"] >= report.latency["single_p50_ms"] > 0
    tight = evaluate(  # the same model, a budget it cannot meet
        Scored(),
        data(),
        model().model_copy(update={"latency_budget_ms": 1e-6}),
        "y",
        ref=("m", 1),
        dataset=None,
    )
    assert not by_name(tight, "latency").passed
    assert {"roc", "pr", "calibration", "confusion"} <= set(report.curves)
    assert report.metrics["roc_auc"] > 0.75 and {"brier", "ece", "pr_auc"} <= set(report.metrics)


def test_the_config_is_checked() -> None:
    from shipyard.errors import ConfigError

    for extra, message in [
        ("    gates: {roc_auk: {min: 0.7}}\n", "did you mean 'roc_auc'"),
        ("    gates: {roc_auc: {minimum: 0.7}}\n", "a gate has 'min' and/or 'max'"),
        (
            "    evaluation:\n      directional: [{column: z, increase: 1, expect: up}]\n",
            "'z' is not one of the model's features",
        ),
        ("    evaluation:\n      invariance: [{column: x}]\n", "give either 'values'"),
        (
            "    evaluation:\n      minimum: [{case: {x: 1}, expect: true}]\n",
            r"lacks the feature\(s\) group",
        ),
        (
            "    evaluation:\n      slices: [{column: x, metric: rmse, min: 1}]\n",
            "'rmse' is not a binary_classification metric",
        ),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse_config(BASE + extra, environ={})


def test_a_regression_model_is_evaluated_too() -> None:
    class Linear(Predictor):
        def __init__(self) -> None:
            super().__init__(["x", "group"], "regression")

        def predict(self, rows: Any) -> np.ndarray:
            return 2 * self._frame(rows)["x"].to_numpy(dtype=float)

    text = BASE.replace("y: {type: bool}", "y: {type: float}").replace(
        "binary_classification", "regression"
    )
    spec = (
        text
        + "    gates: {rmse: {max: 0.5}, r2: {min: 0.9}}\n    evaluation:\n      directional: [{column: x, increase: 1, expect: up}]\n"
    )
    config = parse_config(spec, environ={}).models["m"]
    frame = data().assign(y=lambda f: 2 * f["x"] + np.random.default_rng(2).normal(0, 0.1, len(f)))
    report = evaluate(Linear(), frame, config, "y", ref=("m", 1), dataset=None)
    assert report.passed, report.failed
    assert set(report.metrics) == {"rmse", "mae", "mape", "r2"}
    curves = report.curves  # what the report plots, sampled and binned from every row
    assert curves["rows"] == len(frame) and len(curves["sample"]) == min(1000, len(frame))
    assert sum(curves["residuals"]["counts"]) == len(frame)
    assert sum(r["rows"] for r in curves["error_by_range"]) == len(frame)
    assert sum(r["mae"] * r["rows"] for r in curves["error_by_range"]) / len(
        frame
    ) == pytest.approx(report.metrics["mae"], abs=1e-5)
