"""Run a model's evaluation spec: metrics, gates, the champion, slices, golden set, behaviour, latency.

Every check works on whole columns (one ``predict_proba`` per perturbation, not per
row); each failing check keeps its first few failing cases so the report can say
*which* rows failed, not only that something did.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

import numpy as np

from shipyard.config import ModelConfig
from shipyard.config.schema import LOWER_IS_BETTER, METRICS
from shipyard.metrics import compute_metrics
from shipyard.models import Predictor

from . import behaviour
from .behaviour import plain as _plain
from .behaviour import scores
from .curves import curves
from .holdout import Holdout
from .report import CheckOutcome, EvaluationReport
from .slices import measure as measure_slices

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
    holdout: Holdout | None = None,
    is_champion: bool = False,
) -> EvaluationReport:
    """Evaluate ``predictor`` on ``frame`` (a pandas DataFrame with the features and ``target``).

    ``holdout`` says whether the rows were kept apart from training (its check follows
    the gates); ``is_champion``: the version is the champion, so there is none to beat.
    """
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
    checks += [holdout.check(ref[0])] if holdout is not None else []
    champion_info = None
    if champion is not None:
        champion_ref, champion_predictor = champion
        theirs = _metrics(champion_predictor, features, truth, names)
        champion_info = {"ref": champion_ref, "metrics": theirs}
        checks += _versus(model, metrics, theirs, champion_ref)
    elif model.gates.get("vs_champion"):
        alone = (
            f"{ref[0]}@{ref[1]} is the champion: not compared with itself"
            if is_champion
            else "no champion yet: nothing to compare with"
        )
        checks.append(CheckOutcome("vs champion", "champion", True, detail=alone))
    slices, slice_checks = measure_slices(
        frame, model, target, predictor.task, outputs, predictor.classes
    )
    checks += slice_checks
    if golden is not None:
        checks.append(_golden(predictor, golden, model, target))
    checks += [_invariance(predictor, features, rule) for rule in spec.invariance]
    checks += [_directional(predictor, features, rule) for rule in spec.directional]
    checks += [_minimum(predictor, model, spec.minimum)] if spec.minimum else []
    latency = _latency(predictor, features, spec.latency.batch_size, spec.latency.repeats)
    checks.append(_latency_check(latency, model.latency_budget_ms, spec.latency.batch_size))
    return EvaluationReport(
        model=ref[0],
        version=ref[1],
        dataset=dataset,
        rows=len(frame),
        metrics=metrics,
        checks=checks,
        champion=champion_info,
        holdout=holdout.as_dict() if holdout is not None else {},
        slices=slices,
        curves=curves(predictor.task, predictor.classes, truth, *outputs),
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
    """Time one-row and batch predictions; each call is judged by the model's own time.

    The budget is for what the model costs, not for what else this machine is doing:
    on a busy machine a call's wall time also holds the time the calling thread sat
    ready to run while other processes had every core, and judged on wall time a good
    model fails because of its neighbours. So each call is timed three ways: wall time,
    the thread's CPU time, and the time it waited for a CPU (Linux run-queue delay,
    ``/proc/thread-self/schedstat``). The model's own time is wall time minus that
    wait, never less than its CPU time: computing, sleeping or waiting on I/O are the
    model's and count; a neighbour's load does not. CPU time alone would pass a model
    that sleeps or waits on a socket. Native thread pools (OpenMP in
    HistGradientBoosting and LightGBM, BLAS) are pinned to one thread while timing, as
    a serving worker runs them (``serve --threads 1``): the calling thread then does all
    the work, so no pool thread queues for a CPU on its behalf (its wait would look like
    the model's). Where the platform does not report the run-queue delay (macOS,
    Windows), wall time is judged and the check says so.
    """
    with _one_thread(), _RunQueue() as queue:
        known = queue.known

        def timed(rows: Any, n: int) -> dict[str, np.ndarray]:
            call = (
                predictor.predict_proba
                if predictor.has_proba and predictor.task != "regression"
                else predictor.predict
            )
            call(rows)  # warm up
            wall, cpu, own = [], [], []
            for _ in range(n):
                waited = queue.waited_ns()  # each clock's span holds the next one's
                started = time.perf_counter_ns()
                cpu_started = time.thread_time_ns()
                call(rows)
                spent = time.thread_time_ns() - cpu_started
                took = time.perf_counter_ns() - started
                waited = queue.waited_ns() - waited
                wall.append(took / 1e6)
                cpu.append(spent / 1e6)
                own.append(max(spent, took - waited) / 1e6 if known else took / 1e6)
            return {"": np.array(own), "wall_": np.array(wall), "cpu_": np.array(cpu)}

        single = timed(features.head(1), repeats)
        batch = timed(features.head(batch_size), max(5, repeats // 4))
    figures = {"waits_known": 1.0 if known else 0.0}
    for kind, times in (("single", single), ("batch", batch)):
        for clock, values in times.items():
            for q in (50, 99):
                figures[f"{kind}_{clock}p{q}_ms"] = float(np.percentile(values, q))
    return figures


def _latency_check(latency: dict[str, float], budget: float, batch_size: int) -> CheckOutcome:
    """The p99 of one-row calls against the budget, saying which time was judged and why."""
    judged = latency["single_p99_ms"]
    clocks = (
        f"wall p99 {latency.get('single_wall_p99_ms', judged):.2f} ms, "
        f"CPU p99 {latency.get('single_cpu_p99_ms', judged):.2f} ms"
    )
    if latency.get("waits_known", 1.0):
        what = "the model's own time"
        why = (
            "the model's own time: wall time less the time its thread waited for a CPU "
            f"other processes held ({clocks}), so this machine's other load does not count"
        )
    else:
        what = "wall time"
        why = (
            f"wall time ({clocks}): this platform does not report time spent waiting for a "
            "CPU, so other load on this machine counts too"
        )
    return CheckOutcome(
        "latency p99 single row", "latency", judged <= budget, judged,
        f"<= {budget:g} ms of {what}",
        f"p99 {judged:.2f} ms of {why}; p50 {latency['single_p50_ms']:.2f} ms; "
        f"batch of {batch_size}: p50 {latency['batch_p50_ms']:.2f} ms, "
        f"p99 {latency['batch_p99_ms']:.2f} ms",
    )  # fmt: skip


def _one_thread() -> Any:
    """Native thread pools limited to one thread for the block (as a serving worker runs)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - comes with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(1)


class _RunQueue:
    """The calling thread's time spent ready to run but waiting for a CPU (Linux)."""

    PATH = "/proc/thread-self/schedstat"

    def __init__(self) -> None:
        self._fd: int | None = None

    @property
    def known(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> _RunQueue:
        try:
            self._fd = os.open(self.PATH, os.O_RDONLY)
            self.waited_ns()
        except (OSError, ValueError, IndexError):  # not Linux, or no scheduler statistics
            self.__exit__()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def waited_ns(self) -> int:
        """Nanoseconds waited on a run queue so far (0 where it is not known)."""
        if self._fd is None:
            return 0
        # "time on the CPU, time waiting on a run queue, time slices", in nanoseconds
        return int(os.pread(self._fd, 100, 0).split()[1])


def _row(rows: Any, i: int) -> dict[str, Any]:
    return {k: _plain(v) for k, v in rows.iloc[i].items()}
