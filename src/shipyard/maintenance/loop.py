"""The synchronous steps of a retraining run: data, train, evaluate, challenger.

Run in the process that took the model's lock, with a heartbeat thread that
keeps the run's ``heartbeat_at`` fresh, so a run whose process died is found
(``Maintenance.tick``) and marked failed. The decision that follows is the
facade's (``api.py``).
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any

from shipyard.config.schema import ModelConfig
from shipyard.errors import ShipyardError

from .feedback import ingest_feedback
from .records import Check, MaintenanceError, RetrainRun
from .repository import RunStore

if TYPE_CHECKING:
    from .api import Maintenance

log = logging.getLogger(__name__)

CHALLENGER = "challenger"
FEEDBACK_LOOKBACK_S = 30 * 86400.0  # the first feedback ingest reads labels this far back


class Heartbeat:
    """A thread that marks the run alive every ``every`` seconds while the block runs."""

    def __init__(self, runs: RunStore, run_id: int, every: float) -> None:
        self.runs, self.run_id, self.every = runs, run_id, every
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"run-{run_id}-heartbeat", daemon=True
        )

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=max(5.0, self.every * 2))

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.runs.beat(self.run_id)
            except Exception as exc:  # the next beat may get through; tick judges by age
                log.warning("run #%d: heartbeat not written: %s", self.run_id, exc)


def heartbeat_every(lease_s: float) -> float:
    """How often a run beats: several times within the age at which it counts as dead."""
    return max(0.05, min(5.0, lease_s / 4))


def run_steps(m: Maintenance, run: RetrainRun, now: datetime) -> RetrainRun:
    """Data, train, evaluate, point the challenger; then the decision of the facade.
    Any failure ends the run as failed (``Maintenance.fail``)."""
    config = m.models.config(run.model)
    every = heartbeat_every(m.config.worker.lease_s)
    with Heartbeat(m.repository, run.id, every):
        try:
            ref, selection, feedback = _data(m, run, config, now)
            run = m.repository.update(
                run.id,
                step="data",
                note=ref,
                dataset=ref,
                feedback=feedback,
                heartbeat_at=datetime.now(UTC),
            )
            run = _train(m, run, ref, selection)
            run = _evaluate(m, run)
            if run.state != "running":
                return run  # rejected by its gates
            run = _challenger(m, run)
        except Exception as exc:
            error = one_line(exc)
            # A user's mistake (no train function, data that does not fit) is said in
            # one line; anything else keeps its traceback for whoever debugs it.
            trace = not isinstance(exc, ShipyardError)
            log.warning("run #%d of %s failed: %s", run.id, run.model, error, exc_info=trace)
            return m.fail(m.repository.get(run.id), error)
    return m.after_steps(run, now=datetime.now(UTC))


def one_line(exc: BaseException) -> str:
    """What went wrong, on one line: the error's first line and, when it says more
    (a traceback of the user's code), its last."""
    text = exc.message if isinstance(exc, ShipyardError) else str(exc)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    said = lines[0] if len(lines) == 1 else f"{lines[0]} {lines[-1]}"
    return f"{type(exc).__name__}: {said}"


# -- the steps -------------------------------------------------------------------------------
def _data(
    m: Maintenance, run: RetrainRun, config: ModelConfig, now: datetime
) -> tuple[str, dict[str, Any] | None, dict[str, Any] | None]:
    """Feedback into the dataset (``labels: feedback``), then the rows to train on:
    (dataset ref, selection or None for the whole version, feedback record)."""
    policy = config.retrain
    feedback = None
    if policy.labels == "feedback":
        feedback = _ingest_feedback(m, run, config, now)
    if policy.data == "latest" and policy.window is None:
        return m.data.show(f"{config.dataset}@latest").ref, None, feedback
    select = getattr(m.data, "select", None)
    if select is None:
        raise MaintenanceError(
            f"model '{run.model}': retrain.data={policy.data!r} / window need dataset selections, "
            "which this shipyard does not have",
            hint="use data: latest without a window",
        )
    _, chosen = select(config.dataset, data=policy.data, window=policy.window, now=now)
    return str(chosen.dataset), dict(chosen.as_dict()), feedback


def _ingest_feedback(
    m: Maintenance, run: RetrainRun, config: ModelConfig, now: datetime
) -> dict[str, Any]:
    since = _feedback_since(m, run, now)
    span = {"since": since.isoformat(), "until": now.isoformat()}
    result = ingest_feedback(m.data, m.artifacts, run.model, config, since=since, until=now)
    if result is None:
        note = f"no labelled predictions since {since:%Y-%m-%d %H:%M} UTC"
        m.repository.update(run.id, step="feedback", note=note)
        return {"dataset": None, "rows": 0, **span}
    summary = {**result.summary(), **span}
    m.repository.update(
        run.id,
        step="feedback",
        note=f"{summary['dataset']}: {summary.get('accepted', summary['rows'])} rows",
    )
    return summary


def _feedback_since(m: Maintenance, run: RetrainRun, now: datetime) -> datetime:
    """Labels after the previous run's feedback ingest (or the last 30 days)."""
    for earlier in m.repository.recent(run.model, limit=200):
        until = (earlier.feedback or {}).get("until")
        if earlier.id != run.id and until:
            return datetime.fromisoformat(until)
    return now - timedelta(seconds=FEEDBACK_LOOKBACK_S)


def _train(
    m: Maintenance, run: RetrainRun, ref: str, selection: dict[str, Any] | None
) -> RetrainRun:
    version = m.models.train(run.model, data=ref, selection=selection)
    try:
        m.monitoring.profile_version(version)
    except Exception as exc:  # registered; monitoring computes the profile later
        log.warning("could not profile %s now (%s); monitoring will retry", version.ref, exc)
    return m.repository.update(
        run.id,
        step="train",
        note=f"{version.ref} on {ref}",
        candidate=version.version,
        action="retrain.trained",
        detail={"candidate": version.version, "dataset": ref, "metrics": version.metrics},
    )


def _evaluate(m: Maintenance, run: RetrainRun) -> RetrainRun:
    ref = run.candidate_ref
    assert ref is not None
    report = m.evaluations.evaluate(ref).report
    gates = [c for c in report.checks if c.kind != "champion"]
    versus = [c for c in report.checks if c.kind == "champion"]
    checks = [
        Check(
            "gates",
            all(c.passed for c in gates),
            {
                "metrics": report.metrics,
                "dataset": report.dataset,
                "checks": [
                    {"name": c.name, "passed": c.passed, "value": c.value, "expected": c.expected}
                    for c in gates
                ],
            },
            "; ".join(f"{c.name}: {c.detail}" for c in gates if not c.passed)
            or "every gate passed",
        )
    ]
    if versus or report.champion:
        checks.append(
            Check(
                "vs_champion",
                all(c.passed for c in versus) if versus else None,
                {
                    "champion": report.champion,
                    "checks": [
                        {"name": c.name, "passed": c.passed, "value": c.value, "detail": c.detail}
                        for c in versus
                    ],
                },
                "; ".join(f"{c.name}: {c.detail}" for c in versus)
                or "no vs_champion gate declared",
            )
        )
    run = m.repository.update(
        run.id, step="evaluate", note="passed" if report.passed else "failed", checks=checks
    )
    if report.passed:
        return run
    why = "; ".join(c.detail for c in checks if c.passed is False)
    return m.reject(run, f"the candidate failed its gates: {why}", by="policy:gates")


def _challenger(m: Maintenance, run: RetrainRun) -> RetrainRun:
    ref = run.candidate_ref
    assert ref is not None
    m.models.alias(ref, CHALLENGER, reason=f"retraining run #{run.id}")
    return m.repository.update(run.id, step="challenger", note=ref)
