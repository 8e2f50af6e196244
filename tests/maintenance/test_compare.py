"""The shadow comparison as a pure function of the logged rows and the feedback labels."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pytest

from shipyard.config.schema import ShadowConfig
from shipyard.maintenance.compare import Subject, compare
from shipyard.maintenance.records import Check

BINARY, REGRESSION, MULTI = "binary_classification", "regression", "multiclass_classification"


def rows(
    n: int,
    *,
    disagree: int = 0,
    errors: int = 0,
    timeouts: int = 0,
    slower: float = 1.0,
    canary: int = 0,
    shift: float = 0.0,
) -> pl.DataFrame:
    """``n`` requests, each answered by v1 (live) and v2 (shadow); the first ``canary`` the
    other way round; the first ``disagree`` with the opposite label from v2."""
    rng = np.random.default_rng(0)
    out: list[dict[str, Any]] = []
    for i in range(n):
        score = float(rng.uniform(0.05, 0.95))
        label = score >= 0.5
        mine_score = min(1.0, max(0.0, score + shift))
        mine = (not label) if i < disagree else (mine_score >= 0.5 if shift else label)
        if i < disagree:
            mine_score = 1.0 - score
        failed = "error" if i < errors else "timeout" if i < errors + timeouts else None
        live, shadow = ("shadow", "live") if i < canary else ("live", "shadow")
        out.append(_row(f"p{i}", 1, live, label, score, 4.0))
        out.append(
            _row(
                f"p{i}",
                2,
                shadow,
                None if failed else mine,
                None if failed else mine_score,
                4.0 * slower,
                failed,
            )
        )
    return pl.DataFrame(out)


def _row(
    pid: str,
    version: int,
    variant: str,
    label: Any,
    score: float | None,
    ms: float,
    reason: str | None = None,
) -> dict[str, Any]:
    return {
        "prediction_id": pid, "version": version, "variant": variant, "prediction": label,
        "probabilities": None if score is None else [1.0 - score, score], "latency_ms": ms,
        "degraded": reason is not None, "reason": reason,
    }  # fmt: skip


def subject(**shadow: Any) -> Subject:
    return Subject(
        task=BINARY, candidate=2, champion=1, shadow=ShadowConfig(**shadow), classes=[False, True],
        metrics=["accuracy"], min_labels=30,
    )  # fmt: skip


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def test_the_same_answers_pass_every_check() -> None:
    checks, figures = compare(rows(100), None, subject(min_agreement=0.99, max_score_distance=0.05))
    found = by_name(checks)
    assert figures["requests"] == 100 and figures["agreement"] == 1.0
    assert figures["score_distance"] == 0.0 and figures["error_rate"] == 0.0
    assert figures["latency_ms"]["p99_ratio"] == 1.0
    for name in (
        "shadow.error_rate",
        "shadow.latency",
        "shadow.agreement",
        "shadow.score_distance",
    ):
        assert found[name].passed is True, found[name]
    assert found["shadow.accuracy"].passed is None  # no labels yet
    assert "0 labelled requests, 30 needed" in found["shadow.accuracy"].detail


def test_disagreement_fails_the_agreement_check() -> None:
    checks, figures = compare(rows(100, disagree=20), None, subject(min_agreement=0.9))
    check = by_name(checks)["shadow.agreement"]
    assert figures["agreement"] == 0.8 and check.passed is False
    assert "needs >= 0.9" in check.detail


def test_agreement_without_a_limit_is_reported_not_judged() -> None:
    checks, _ = compare(rows(50, disagree=25), None, subject())
    check = by_name(checks)["shadow.agreement"]
    assert check.passed is None and check.figures["value"] == 0.5


def test_a_shifted_score_distribution_has_a_distance() -> None:
    checks, figures = compare(rows(400, shift=0.3), None, subject(max_score_distance=0.1))
    assert figures["score_distance"] > 0.1
    assert by_name(checks)["shadow.score_distance"].passed is False


def test_errors_and_timeouts_count_against_the_challenger() -> None:
    checks, figures = compare(rows(100, errors=3, timeouts=2), None, subject(max_error_rate=0.01))
    assert (figures["errors"], figures["timeouts"], figures["challenger_calls"]) == (3, 2, 100)
    check = by_name(checks)["shadow.error_rate"]
    assert check.passed is False and "5 of 100 calls failed" in check.detail
    assert figures["requests"] == 100  # failed calls are still compared requests


def test_a_slow_challenger_fails_the_latency_check() -> None:
    checks, figures = compare(rows(100, slower=2.0), None, subject(max_latency_ratio=1.5))
    assert figures["latency_ms"]["p99_ratio"] == 2.0
    assert by_name(checks)["shadow.latency"].passed is False


def test_canary_requests_pair_the_other_way_round() -> None:
    _, figures = compare(rows(100, canary=10), None, subject())
    assert figures["requests"] == 100 and figures["agreement"] == 1.0


def test_rows_without_a_partner_are_not_compared() -> None:
    frame = rows(10)
    frame = frame.filter(~((pl.col("variant") == "shadow") & (pl.col("prediction_id") == "p3")))
    assert compare(frame, None, subject())[1]["requests"] == 9


def test_nothing_logged_yet_judges_nothing() -> None:
    checks, figures = compare(pl.DataFrame(), None, subject())
    assert figures["requests"] == 0
    assert all(c.passed is None for c in checks)


def labels_for(frame: pl.DataFrame) -> pl.DataFrame:
    """The champion's answers are the truth."""
    champion = frame.filter(pl.col("version") == 1)
    truth = champion["prediction"].to_list()
    return pl.DataFrame({"prediction_id": champion["prediction_id"], "label": truth})


def test_metrics_on_labelled_requests_judge_the_challenger() -> None:
    frame = rows(100, disagree=20)
    checks, figures = compare(frame, labels_for(frame), subject())
    check = by_name(checks)["shadow.accuracy"]
    assert figures["metrics"]["champion"]["accuracy"] == 1.0
    assert figures["metrics"]["challenger"]["accuracy"] == 0.8
    assert check.passed is False and figures["labels"] == 100


def test_a_declared_tolerance_lets_a_slightly_worse_challenger_pass() -> None:
    frame = rows(100, disagree=5)
    tolerant = Subject(
        task=BINARY, candidate=2, champion=1, shadow=ShadowConfig(), classes=[False, True],
        metrics=["accuracy"], vs_champion={"accuracy": -0.1}, min_labels=30,
    )  # fmt: skip
    checks, _ = compare(frame, labels_for(frame), tolerant)
    assert by_name(checks)["shadow.accuracy"].passed is True


def test_the_newest_label_wins() -> None:
    frame = rows(40)
    truth = labels_for(frame)
    stale = truth.with_columns(pl.col("label").not_(), pl.lit(1).alias("time"))
    fresh = truth.with_columns(pl.lit(2).alias("time"))
    _, figures = compare(frame, pl.concat([fresh, stale]), subject())
    assert figures["metrics"]["challenger"]["accuracy"] == 1.0


@pytest.mark.parametrize("task", [REGRESSION, MULTI])
def test_other_tasks_have_a_score_distance(task: str) -> None:
    values = [1.0, 2.0, 3.0, 4.0] * 10 if task == REGRESSION else ["a", "b", "c", "a"] * 10
    theirs = [v * 2 for v in values] if task == REGRESSION else ["a"] * 40
    frame = pl.DataFrame(
        [_row(f"p{i}", 1, "live", v, None, 3.0) for i, v in enumerate(values)]
        + [_row(f"p{i}", 2, "shadow", v, None, 3.0) for i, v in enumerate(theirs)]
    )
    s = Subject(task=task, candidate=2, champion=1, shadow=ShadowConfig(max_score_distance=0.01))
    checks, figures = compare(frame, None, s)
    assert figures["score_distance"] > 0.1
    assert by_name(checks)["shadow.score_distance"].passed is False
    assert (figures["agreement"] is None) == (task == REGRESSION)
