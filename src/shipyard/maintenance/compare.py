"""The shadow comparison: the challenger against the champion on the same requests.

A pure function of two frames: the prediction log's rows of the comparison
period (live and shadow variants, paired by ``prediction_id``) and the feedback
labels. Each figure becomes a :class:`~shipyard.maintenance.records.Check`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from shipyard.config.schema import LOWER_IS_BETTER, ShadowConfig
from shipyard.metrics import BINARY, CLASSIFICATION, REGRESSION, compute_metrics, positive_score
from shipyard.metrics import positive_label as _positive_label

from .records import Check

BINS = 20
FAILED_CALL = ("error", "timeout")


@dataclass(frozen=True)
class Subject:
    """What is compared: the task, the two versions, the classes and the limits."""

    task: str
    candidate: int
    champion: int | None
    shadow: ShadowConfig
    classes: list[Any] | None = None
    metrics: list[str] = field(default_factory=list)
    vs_champion: dict[str, float] = field(default_factory=dict)
    min_labels: int = 30


def compare(
    rows: pl.DataFrame, feedback: pl.DataFrame | None, subject: Subject
) -> tuple[list[Check], dict[str, Any]]:
    """The checks and the comparison's figures for ``rows`` (live + shadow) and ``feedback``."""
    challenger, champion = _sides(rows, subject.candidate)
    pairs = _pairs(challenger, champion)
    calls = challenger.height
    failed = _failed(challenger)
    timeouts = (
        int((challenger["reason"] == "timeout").fill_null(False).sum())
        if calls and "reason" in challenger.columns
        else 0
    )
    answered = pairs.filter(
        pl.col("prediction_c").is_not_null() & pl.col("prediction_p").is_not_null()
    )
    figures: dict[str, Any] = {
        "champion": subject.champion,
        "challenger": subject.candidate,
        "requests": pairs.height,
        "challenger_calls": calls,
        "errors": failed - timeouts,
        "timeouts": timeouts,
        "error_rate": None if calls == 0 else round(failed / calls, 6),
    }
    checks = [_error_check(figures, subject.shadow)]
    latency = _latency(answered)
    figures["latency_ms"] = latency
    checks.append(_latency_check(latency, subject.shadow))
    agreement = _agreement(answered, subject.task)
    figures["agreement"] = agreement
    checks.append(
        _limit(
            "shadow.agreement",
            agreement,
            subject.shadow.min_agreement,
            higher=True,
            n=answered.height,
        )
    )
    distance = _distance(answered, subject)
    figures["score_distance"] = distance
    checks.append(
        _limit(
            "shadow.score_distance",
            distance,
            subject.shadow.max_score_distance,
            higher=False,
            n=answered.height,
        )
    )
    metric_checks, metric_figures = _metrics(answered, feedback, subject)
    figures.update(metric_figures)
    checks += metric_checks
    return checks, figures


# -- pairing ------------------------------------------------------------------------------
def _sides(rows: pl.DataFrame, candidate: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The challenger's rows and the champion's (whichever variant each answered as)."""
    if rows.is_empty() or "version" not in rows.columns:
        empty = pl.DataFrame()
        return empty, empty
    if "variant" not in rows.columns:
        rows = rows.with_columns(pl.lit("live").alias("variant"))
    rows = rows.with_columns(pl.col("variant").cast(pl.String).fill_null("live"))
    if "reason" in rows.columns:
        rows = rows.with_columns(pl.col("reason").cast(pl.String))
    mine = pl.col("version") == candidate
    return rows.filter(mine), rows.filter(~mine)


def _pairs(challenger: pl.DataFrame, champion: pl.DataFrame) -> pl.DataFrame:
    """One row per request both answered: ``*_c`` the challenger's columns, ``*_p`` the champion's."""
    keep = ["prediction_id", "variant", "prediction", "probabilities", "latency_ms", "reason"]
    if challenger.is_empty() or champion.is_empty():
        return pl.DataFrame(
            {f"{c}_{s}": [] for s in ("c", "p") for c in keep[1:]} | {"prediction_id": []}
        )

    def side(frame: pl.DataFrame, suffix: str) -> pl.DataFrame:
        present = [c for c in keep if c in frame.columns]
        frame = frame.select(present).unique("prediction_id", keep="first")
        missing = [pl.lit(None).alias(c) for c in keep if c not in present]
        return frame.with_columns(missing).rename({c: f"{c}_{suffix}" for c in keep[1:]})

    pairs = side(challenger, "c").join(side(champion, "p"), on="prediction_id", how="inner")
    return pairs.filter(pl.col("variant_c") != pl.col("variant_p"))


def _failed(challenger: pl.DataFrame) -> int:
    if challenger.is_empty():
        return 0
    failed = pl.lit(False)
    if "reason" in challenger.columns:
        failed = pl.col("reason").is_in(list(FAILED_CALL)).fill_null(False)
    if "prediction" in challenger.columns:
        failed = failed | pl.col("prediction").is_null()
    return int(challenger.select(failed.sum()).item())


# -- the figures ----------------------------------------------------------------------------
def _error_check(figures: dict[str, Any], shadow: ShadowConfig) -> Check:
    rate = figures["error_rate"]
    numbers = {k: figures[k] for k in ("challenger_calls", "errors", "timeouts", "error_rate")}
    numbers["max_error_rate"] = shadow.max_error_rate
    if rate is None:
        return Check("shadow.error_rate", None, numbers, "the challenger answered no calls yet")
    ok = rate <= shadow.max_error_rate
    detail = (
        f"{figures['errors'] + figures['timeouts']} of {figures['challenger_calls']} calls "
        f"failed ({rate:.2%}), allowed {shadow.max_error_rate:.2%}"
    )
    return Check("shadow.error_rate", ok, numbers, detail)


def _latency(answered: pl.DataFrame) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, column in (("champion", "latency_ms_p"), ("challenger", "latency_ms_c")):
        values: np.ndarray = (
            answered[column].drop_nulls().cast(pl.Float64).to_numpy()
            if answered.height
            else np.array([])
        )
        if len(values):
            out[name] = {
                "p50": round(float(np.percentile(values, 50)), 3),
                "p99": round(float(np.percentile(values, 99)), 3),
            }
    if "champion" in out and "challenger" in out and out["champion"]["p99"] > 0:
        out["p99_ratio"] = round(out["challenger"]["p99"] / out["champion"]["p99"], 4)
    return out


def _latency_check(latency: dict[str, Any], shadow: ShadowConfig) -> Check:
    # a live row's latency is its whole request (parse, validate, predict, log); a shadow
    # row's is the challenger's model call alone: the ratio favours the challenger by the
    # request's own overhead (README, Maintenance, step 6 says so)
    figures = {**latency, "max_latency_ratio": shadow.max_latency_ratio}
    ratio = latency.get("p99_ratio")
    if ratio is None:
        return Check("shadow.latency", None, figures, "no latencies of both versions to compare")
    ok = ratio <= shadow.max_latency_ratio
    detail = (
        f"challenger p99 {latency['challenger']['p99']:.2f} ms vs champion "
        f"{latency['champion']['p99']:.2f} ms: ratio {ratio:.2f}, allowed {shadow.max_latency_ratio:g}"
    )
    return Check("shadow.latency", ok, figures, detail)


def _agreement(answered: pl.DataFrame, task: str) -> float | None:
    if task not in CLASSIFICATION or answered.height == 0:
        return None
    same = [
        _key(a) == _key(b)
        for a, b in zip(answered["prediction_c"], answered["prediction_p"], strict=True)
    ]
    return round(float(np.mean(same)), 6)


def _key(value: Any) -> str:
    return str(value)


def _limit(name: str, value: float | None, limit: float | None, *, higher: bool, n: int) -> Check:
    figures = {"value": value, "limit": limit, "requests": n}
    if value is None:
        return Check(name, None, figures, "nothing to compare yet (or not for this task)")
    sign = ">=" if higher else "<="
    if limit is None:
        return Check(name, None, figures, f"{value:.4f} (no limit set, not judged)")
    ok = value >= limit if higher else value <= limit
    return Check(name, ok, figures, f"got {value:.4f}, needs {sign} {limit:g}")


def _distance(answered: pl.DataFrame, subject: Subject) -> float | None:
    """Jensen-Shannon distance (base 2, 0 to 1) between the two versions' score distributions."""
    if answered.height == 0:
        return None
    from scipy.spatial.distance import jensenshannon  # here: scipy loads when judged

    if subject.task == BINARY:
        mine, theirs = _scores(answered, "c", subject), _scores(answered, "p", subject)
        if mine is None or theirs is None:
            return None
        p, q = (np.histogram(s, bins=BINS, range=(0.0, 1.0))[0] for s in (mine, theirs))
    elif subject.task == REGRESSION:
        mine = answered["prediction_c"].cast(pl.Float64).to_numpy()
        theirs = answered["prediction_p"].cast(pl.Float64).to_numpy()
        low, high = float(min(mine.min(), theirs.min())), float(max(mine.max(), theirs.max()))
        if high <= low:
            return 0.0
        p, q = (np.histogram(s, bins=BINS, range=(low, high))[0] for s in (mine, theirs))
    else:
        labels = sorted({_key(v) for v in [*answered["prediction_c"], *answered["prediction_p"]]})
        p = np.array([sum(_key(v) == k for v in answered["prediction_c"]) for k in labels])
        q = np.array([sum(_key(v) == k for v in answered["prediction_p"]) for k in labels])
    value = float(jensenshannon(p / p.sum(), q / q.sum(), base=2))
    return round(value if np.isfinite(value) else 0.0, 6)


def _proba(answered: pl.DataFrame, side: str) -> np.ndarray | None:
    column = answered[f"probabilities_{side}"]
    if column.null_count() or column.dtype == pl.Null:
        return None
    return np.array(column.to_list(), dtype=float)


def _scores(answered: pl.DataFrame, side: str, subject: Subject) -> np.ndarray | None:
    proba = _proba(answered, side)
    if proba is None or proba.ndim != 2:
        return None
    classes = subject.classes or list(range(proba.shape[1]))
    return positive_score(proba, classes, _positive_label(classes, np.asarray(classes)))


def _metrics(
    answered: pl.DataFrame, feedback: pl.DataFrame | None, subject: Subject
) -> tuple[list[Check], dict[str, Any]]:
    """The task's metrics of both versions on the compared requests that have a label."""
    labelled = pl.DataFrame()
    if feedback is not None and not feedback.is_empty() and answered.height:
        labels = feedback.select("prediction_id", "label")
        if "time" in feedback.columns:  # the newest label wins
            labels = (
                feedback.sort("time")
                .unique("prediction_id", keep="last")
                .select("prediction_id", "label")
            )
        labelled = answered.join(labels, on="prediction_id", how="inner")
    figures: dict[str, Any] = {"labels": labelled.height, "min_labels": subject.min_labels}
    names = subject.metrics
    if labelled.height < subject.min_labels:
        why = f"{labelled.height} labelled requests, {subject.min_labels} needed to judge metrics"
        return [
            Check(f"shadow.{m}", None, {"labels": labelled.height}, why) for m in names
        ], figures
    truth = np.asarray(labelled["label"].to_list())
    found: dict[str, dict[str, float]] = {}
    for name, side in (("challenger", "c"), ("champion", "p")):
        predicted = np.asarray(labelled[f"prediction_{side}"].to_list())
        proba = _proba(labelled, side) if subject.task in CLASSIFICATION else None
        found[name] = compute_metrics(subject.task, names, truth, predicted, proba, subject.classes)
    figures["metrics"] = found
    checks = []
    for metric in names:
        mine, theirs = found["challenger"].get(metric), found["champion"].get(metric)
        numbers = {"challenger": mine, "champion": theirs, "labels": labelled.height}
        if mine is None or theirs is None:
            checks.append(Check(f"shadow.{metric}", None, numbers, f"{metric} not computable here"))
            continue
        worse = (mine - theirs) if metric in LOWER_IS_BETTER else (theirs - mine)
        allowed = abs(subject.vs_champion.get(metric, 0.0))
        numbers["allowed"] = allowed
        ok = worse <= allowed + 1e-12
        checks.append(
            Check(
                f"shadow.{metric}",
                ok,
                numbers,
                f"challenger {mine:.4f} vs champion {theirs:.4f} on {labelled.height} labelled "
                f"requests ({'worse' if worse > 0 else 'better or equal'} by {abs(worse):.4f}, "
                f"allowed {allowed:g})",
            )
        )
    return checks, figures
