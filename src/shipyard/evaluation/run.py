"""Run a model's evaluation spec: metrics, gates, the champion, slices, golden set, behaviour, latency.

Every check works on whole columns (one ``predict_proba`` per perturbation, not per
row); each failing check keeps its first few failing cases so the report can say
*which* rows failed, not only that something did.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from shipyard.config import ModelConfig
from shipyard.config.schema import LOWER_IS_BETTER, METRICS
from shipyard.metrics import compute_metrics, positive_label, positive_score
from shipyard.models import Predictor

from . import behaviour
from .behaviour import plain as _plain
from .behaviour import scores
from .report import CheckOutcome, EvaluationReport

SHOWN = 5  # failing cases kept per check


def evaluate(
    predictor: Predictor,
    frame: Any,
    model: ModelConfig,
    target: str,
    *,
    ref: tuple[str, int],
    dataset: str | None,
    champion: tuple[str, Predictor] | None = None,
    golden: Any = None,
) -> EvaluationReport:
    """Evaluate ``predictor`` on ``frame`` (a pandas DataFrame with the features and ``target``)."""
    spec = model.evaluation
    names = spec.metrics or list(METRICS[model.task])
    for metric in [*model.gates, *model.gates.get("vs_champion", {})]:
        if metric != "vs_champion" and metric not in names:
            names.append(metric)
    features = frame[model.features]
    truth = frame[target].to_numpy()
    outputs = _outputs(predictor, features)
    metrics = _metrics(predictor, features, truth, names, outputs)
    checks = _gates(model, metrics)
    champion_info = None
    if champion is not None:
        champion_ref, champion_predictor = champion
        theirs = _metrics(champion_predictor, features, truth, names)
        champion_info = {"ref": champion_ref, "metrics": theirs}
        checks += _versus(model, metrics, theirs, champion_ref)
    elif model.gates.get("vs_champion"):
        checks.append(
            CheckOutcome(
                "vs champion", "champion", True, detail="no champion yet: nothing to compare with"
            )
        )
    slices, slice_checks = _slices(predictor, frame, model, target)
    checks += slice_checks
    if golden is not None:
        checks.append(_golden(predictor, golden, model, target))
    checks += [_invariance(predictor, features, rule) for rule in spec.invariance]
    checks += [_directional(predictor, features, rule) for rule in spec.directional]
    checks += [_minimum(predictor, model, spec.minimum)] if spec.minimum else []
    latency = _latency(predictor, features, spec.latency.batch_size, spec.latency.repeats)
    budget = model.latency_budget_ms
    checks.append(
        CheckOutcome(
            "latency p99 single row", "latency", latency["single_p99_ms"] <= budget,
            latency["single_p99_ms"], f"<= {budget:g} ms",
            f"p50 {latency['single_p50_ms']:.2f} ms; batch of {spec.latency.batch_size}: "
            f"p50 {latency['batch_p50_ms']:.2f} ms, p99 {latency['batch_p99_ms']:.2f} ms",
        )
    )  # fmt: skip
    return EvaluationReport(
        model=ref[0],
        version=ref[1],
        dataset=dataset,
        rows=len(frame),
        metrics=metrics,
        checks=checks,
        champion=champion_info,
        slices=slices,
        curves=_curves(predictor, truth, *outputs),
        latency=latency,
    )


def _outputs(predictor: Predictor, features: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """Predictions, and probabilities where the model gives them: computed once per rows."""
    predicted = predictor.predict(features)
    proba = (
        predictor.predict_proba(features)
        if predictor.task != "regression" and predictor.has_proba
        else None
    )
    return predicted, proba


def _metrics(
    predictor: Predictor,
    features: Any,
    truth: np.ndarray,
    names: list[str],
    outputs: tuple[np.ndarray, np.ndarray | None] | None = None,
) -> dict[str, float]:
    predicted, proba = outputs if outputs is not None else _outputs(predictor, features)
    return compute_metrics(predictor.task, names, truth, predicted, proba, predictor.classes)


def _gates(model: ModelConfig, metrics: dict[str, float]) -> list[CheckOutcome]:
    checks = []
    for metric, rule in model.gates.items():
        if metric == "vs_champion":
            continue
        value = metrics.get(metric)
        for bound, limit in rule.items():
            ok = value is not None and (value >= limit if bound == "min" else value <= limit)
            sign = ">=" if bound == "min" else "<="
            got = f"{value:.4f}" if value is not None else "not computable on this data"
            checks.append(
                CheckOutcome(
                    f"gate {metric}",
                    "gate",
                    ok,
                    value,
                    f"{sign} {limit:g}",
                    f"got {got}, needs {sign} {limit:g}",
                )
            )
    return checks


def _versus(
    model: ModelConfig, mine: dict[str, float], theirs: dict[str, float], champion: str
) -> list[CheckOutcome]:
    checks = []
    for metric, margin in model.gates.get("vs_champion", {}).items():
        a, b = mine.get(metric), theirs.get(metric)
        if a is None or b is None:
            checks.append(
                CheckOutcome(
                    f"vs champion {metric}", "champion", False, a, detail=f"{metric} not computable"
                )
            )
            continue
        worse = (a - b) if metric in LOWER_IS_BETTER else (b - a)
        allowed = abs(margin)
        checks.append(
            CheckOutcome(
                f"vs champion {metric}", "champion", worse <= allowed + 1e-12, a,
                f"at most {allowed:g} worse than {champion} ({b:.4f})",
                f"{a:.4f} vs {b:.4f} ({'worse' if worse > 0 else 'better or equal'} by {abs(worse):.4f})",
            )
        )  # fmt: skip
    return checks


def _slices(
    predictor: Predictor, frame: Any, model: ModelConfig, target: str
) -> tuple[list[dict[str, Any]], list[CheckOutcome]]:
    import pandas as pd

    found, checks = [], []
    for rule in model.evaluation.slices:
        if rule.column not in frame.columns:
            checks.append(
                CheckOutcome(
                    f"slices by {rule.column}",
                    "slice",
                    False,
                    detail=f"no column '{rule.column}' in the evaluation data",
                )
            )
            continue
        column = frame[rule.column]
        keys = (
            pd.cut(column, rule.bins, include_lowest=True).astype(str)
            if rule.bins
            else column.astype(str)
        )
        failures, skipped = [], []
        for key, part in frame.groupby(keys, observed=True, sort=True):
            if len(part) < rule.min_size:
                skipped.append(str(key))
                continue
            value = _metrics(
                predictor, part[model.features], part[target].to_numpy(), [rule.metric]
            ).get(rule.metric)
            bad = (
                value is None
                or (rule.min is not None and value < rule.min)
                or (rule.max is not None and value > rule.max)
            )
            found.append(
                {
                    "column": rule.column,
                    "slice": str(key),
                    "size": len(part),
                    "metric": rule.metric,
                    "value": value,
                    "passed": not bad,
                }
            )
            if bad:
                failures.append({"slice": str(key), "size": len(part), rule.metric: value})
        bound = " and ".join(
            f"{s} {v:g}" for s, v in ((">=", rule.min), ("<=", rule.max)) if v is not None
        )
        detail = f"{len(failures)} of {len(failures) + sum(1 for s in found if s['column'] == rule.column and s['passed'])} slices fail"
        if skipped:
            detail += f"; {len(skipped)} slices under {rule.min_size} rows not judged ({', '.join(skipped[:5])})"
        checks.append(
            CheckOutcome(
                f"slices {rule.metric} by {rule.column}",
                "slice",
                not failures,
                None,
                bound,
                detail,
                failures[:SHOWN],
            )
        )
    return found, checks


def _golden(predictor: Predictor, golden: Any, model: ModelConfig, target: str) -> CheckOutcome:
    rule = model.evaluation.golden
    assert rule is not None
    predicted = predictor.predict(golden[model.features])
    wrong = predicted != golden[target].to_numpy()
    reason = [f"expected {e!r}, got {p!r}" for e, p in zip(golden[target], predicted, strict=True)]
    if rule.score_column is not None:
        off = (
            np.abs(scores(predictor, golden[model.features]) - golden[rule.score_column].to_numpy())
            > rule.tolerance
        )
        wrong = wrong | off
    failures = [
        {**{f: _plain(golden.iloc[i][f]) for f in model.features}, "why": reason[i]}
        for i in np.flatnonzero(wrong)[:SHOWN]
    ]
    return CheckOutcome(
        f"golden set {rule.dataset}", "golden", not wrong.any(), float(wrong.mean()) if len(wrong) else 0.0,
        "every case right" + (f" (scores within {rule.tolerance:g})" if rule.score_column else ""),
        f"{int(wrong.sum())} of {len(wrong)} cases wrong", failures,
    )  # fmt: skip


def _invariance(predictor: Predictor, features: Any, rule: Any) -> CheckOutcome:
    rows = features.head(rule.rows).reset_index(drop=True)
    changes: list[Any] = rule.values if rule.values is not None else []
    found = behaviour.invariance(
        predictor, rows, rule.column, eps=rule.eps, values=rule.values, shift=rule.shift
    )
    moved, bad = found.moved, found.bad
    what = (
        f"set to {', '.join(map(str, changes))}"
        if rule.values is not None
        else f"moved by up to ±{rule.shift:g}"
    )
    failures = [{**_row(rows, i), "score moved": round(float(moved[i]), 4)} for i in bad[:SHOWN]]
    return CheckOutcome(
        f"invariance {rule.column}", "invariance", len(bad) == 0, float(moved.max()) if len(moved) else 0.0,
        f"score moves <= {rule.eps:g}", f"{rule.column} {what}: {len(bad)} of {len(rows)} rows moved more", failures,
    )  # fmt: skip


def _directional(predictor: Predictor, features: Any, rule: Any) -> CheckOutcome:
    rows = features.head(rule.rows).reset_index(drop=True)
    found = behaviour.directional(
        predictor,
        rows,
        rule.column,
        increase=rule.increase,
        expect=rule.expect,
        tolerance=rule.tolerance,
    )
    change, bad = found.change, found.bad
    failures = [{**_row(rows, i), "score change": round(float(change[i]), 4)} for i in bad[:SHOWN]]
    return CheckOutcome(
        f"directional {rule.column} +{rule.increase:g} → {rule.expect}", "directional", len(bad) == 0,
        float(len(bad)), f"score never goes {'down' if rule.expect == 'up' else 'up'}",
        f"{len(bad)} of {len(rows)} rows went the wrong way", failures,
    )  # fmt: skip


def _minimum(predictor: Predictor, model: ModelConfig, cases: list[Any]) -> CheckOutcome:
    import pandas as pd

    frame = pd.DataFrame([c.case for c in cases])[model.features]
    wrong = behaviour.minimum(predictor, frame, [c.expect for c in cases])
    failures = [{**cases[i].case, "expected": want, "got": _plain(got)} for i, want, got in wrong]
    return CheckOutcome(
        "minimum functionality", "minimum", not failures, float(len(failures)),
        "every listed case right", f"{len(failures)} of {len(cases)} cases wrong", failures[:SHOWN],
    )  # fmt: skip


def _latency(
    predictor: Predictor, features: Any, batch_size: int, repeats: int
) -> dict[str, float]:
    def timed(rows: Any, n: int) -> np.ndarray:
        predictor.predict(rows)  # warm up
        took = []
        for _ in range(n):
            started = time.perf_counter()
            (
                predictor.predict_proba
                if predictor.has_proba and predictor.task != "regression"
                else predictor.predict
            )(rows)
            took.append((time.perf_counter() - started) * 1000)
        return np.array(took)

    single = timed(features.head(1), repeats)
    batch = timed(features.head(batch_size), max(5, repeats // 4))
    return {
        "single_p50_ms": float(np.percentile(single, 50)),
        "single_p99_ms": float(np.percentile(single, 99)),
        "batch_p50_ms": float(np.percentile(batch, 50)),
        "batch_p99_ms": float(np.percentile(batch, 99)),
    }


def _curves(
    predictor: Predictor, truth: np.ndarray, predicted: np.ndarray, proba: np.ndarray | None
) -> dict[str, Any]:
    """ROC and PR curves, calibration bins and the confusion matrix (classification)."""
    from sklearn import metrics as m

    if predictor.task == "regression":
        return {}
    classes = list(predictor.classes or sorted(set(truth.tolist())))
    curves: dict[str, Any] = {
        "labels": [str(c) for c in classes],
        "confusion": m.confusion_matrix(truth, predicted, labels=classes).tolist(),
    }
    if predictor.task != "binary_classification" or proba is None:
        return curves
    positive = positive_label(classes, truth)
    score = positive_score(proba, classes, positive)
    actual = truth == positive
    if actual.all() or not actual.any():
        return curves
    fpr, tpr, _ = m.roc_curve(actual, score)
    precision, recall, _ = m.precision_recall_curve(actual, score)
    edges = np.linspace(0, 1, 11)
    which = np.clip(np.digitize(score, edges[1:-1]), 0, 9)
    calibration = [
        {
            "predicted": float(score[which == b].mean()),
            "observed": float(actual[which == b].mean()),
            "count": int((which == b).sum()),
        }
        for b in range(10)
        if (which == b).any()
    ]
    curves.update(roc=_thin(fpr, tpr), pr=_thin(recall, precision), calibration=calibration)
    return curves


def _thin(x: np.ndarray, y: np.ndarray, points: int = 200) -> list[list[float]]:
    index = np.unique(np.linspace(0, len(x) - 1, min(points, len(x))).astype(int))
    return [[round(float(x[i]), 5), round(float(y[i]), 5)] for i in index]


def _row(rows: Any, i: int) -> dict[str, Any]:
    return {k: _plain(v) for k, v in rows.iloc[i].items()}
