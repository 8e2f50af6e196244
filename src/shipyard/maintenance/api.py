"""The maintenance stage's facade: retraining runs, their decisions, guard and rollback.

``project.maintenance`` is a :class:`Maintenance`; ``project.retrain`` and
``project.rollback`` are its shortcuts. A run's synchronous steps are in
``loop.py``; everything after them (shadow, decision, approval, guard) moves on
in :meth:`Maintenance.advance`, which the worker calls every tick.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from shipyard.config import ProjectConfig
from shipyard.data import Datasets
from shipyard.errors import NotFoundError
from shipyard.evaluation import Evaluations
from shipyard.metrics import default_metrics
from shipyard.models import Models
from shipyard.monitoring import Monitoring
from shipyard.predlog import FEEDBACK, PREDICTIONS, read_rows
from shipyard.storage import ArtifactStore, MetadataStore, current_actor, history

from .compare import Subject, compare
from .guard import judge
from .loop import CHALLENGER, run_steps
from .records import Check, MaintenanceError, RetrainRun, RunInProgressError
from .repository import RunStore
from .rollback import CHAMPION, roll_back

log = logging.getLogger(__name__)

__all__ = ["Maintenance"]


REJECTABLE = ("shadowing", "awaiting_approval")  # the runs an owner may reject by hand
RUNS_SEARCHED = 50  # a model's newest runs searched for the one that judged a version


class Maintenance:
    """Retrain, shadow, decide, guard and roll back the project's models."""

    def __init__(
        self,
        config: ProjectConfig,
        metadata: MetadataStore,
        artifacts: ArtifactStore,
        data: Datasets,
        models: Models,
        evaluations: Evaluations,
        monitoring: Monitoring,
    ) -> None:
        self.config = config
        self.metadata = metadata
        self.artifacts = artifacts
        self.data = data
        self.models = models
        self.evaluations = evaluations
        self.monitoring = monitoring
        self.repository = RunStore(metadata)

    # -- a run ------------------------------------------------------------------------------
    def retrain(
        self,
        name: str,
        *,
        trigger: str = "manual",
        reason: str | None = None,
        now: datetime | None = None,
    ) -> RetrainRun:
        """Take ``name``'s lock (or :class:`RunInProgressError`) and run the steps now:
        data, train, evaluate, challenger, then shadow or the decision. A failing step
        ends the run as failed and leaves the champion untouched."""
        self.models.config(name)  # an unknown model: NotFoundError naming the known ones
        now = now or datetime.now(UTC)
        champion = self._champion(name)
        run = self.repository.start(
            name, trigger=trigger, reason=reason, champion=champion, now=now
        )
        log.info("retraining run #%d of %s started (%s)", run.id, name, trigger)
        return run_steps(self, run, now)

    def after_steps(self, run: RetrainRun, *, now: datetime) -> RetrainRun:
        """The candidate is the challenger: shadow it when the policy says so, else decide."""
        policy = self.models.config(run.model).retrain
        if policy.shadow is not None and run.champion is not None:
            return self.repository.update(
                run.id,
                step="shadowing",
                note=f"until {policy.shadow.requests} requests or {policy.shadow.max_duration:g} s",
                state="shadowing",
                shadow_since=now,
                action="retrain.shadowing",
                detail={"candidate": run.candidate},
                now=now,
            )
        return self.decide(run, now=now)

    def advance(self, run_id: int, *, now: datetime | None = None) -> RetrainRun:
        """Move an active run along: the shadow comparison and its decision, an approval
        given by hand, the guard period. A run in another state is returned as it is."""
        now = now or datetime.now(UTC)
        run = self.repository.get(run_id)
        if run.state in ("shadowing", "awaiting_approval") and self._approved_by(run):
            return self._approved(run, now)
        if run.state == "shadowing":
            return self._shadow(run, now)
        if run.state == "guarding":
            return self._guard(run, now)
        return run

    def tick(self, *, now: datetime | None = None) -> list[RetrainRun]:
        """Advance every active run; fail every running run whose process stopped (no
        heartbeat for ``worker.lease_s``). The runs whose state changed."""
        now = now or datetime.now(UTC)
        stale = now - timedelta(seconds=self.config.worker.lease_s)
        changed = []
        for run in self.repository.active():
            try:
                if run.state == "running":
                    beat = run.heartbeat_at or run.updated_at
                    if beat < stale:
                        why = f"its process {run.holder} stopped (no heartbeat since {beat:%Y-%m-%d %H:%M:%S} UTC)"
                        changed.append(self.fail(run, why, by="worker"))
                    continue
                after = self.advance(run.id, now=now)
                if after.state != run.state:
                    changed.append(after)
            except Exception:  # one run's trouble never stops the others
                log.exception("could not advance run #%d of %s", run.id, run.model)
        return changed

    # -- decisions ----------------------------------------------------------------------------
    def decide(self, run: RetrainRun, *, now: datetime) -> RetrainRun:
        """Every check passed: promote (``auto``) or ask the owner (``approve``); else reject."""
        failed = [c for c in run.checks if c.passed is False]
        if failed:
            why = "; ".join(f"{c.name}: {c.detail}" for c in failed)
            return self.reject(run, why, by="policy")
        if self.models.config(run.model).retrain.promote == "auto":
            return self._promote(run, now, by="policy:auto")
        run = self.repository.update(
            run.id,
            step="awaiting_approval",
            state="awaiting_approval",
            action="retrain.awaiting_approval",
            detail={"candidate": run.candidate},
            now=now,
        )
        self._tell(
            run,
            f"{run.candidate_ref} awaits your approval",
            f"every check passed; promote it with: shipyard promote {run.candidate_ref} --to "
            f"champion (or say no: shipyard runs reject {run.id} --reason TEXT)",
        )
        return run

    def reject(self, run: RetrainRun, why: str, *, by: str) -> RetrainRun:
        """The candidate is never promoted; the run says why and the owner is told."""
        self._drop_challenger(run)
        run = self.repository.update(
            run.id,
            step="rejected",
            note=why,
            state="rejected",
            decision="rejected",
            decided_by=by,
            action="retrain.rejected",
            reason=why,
            detail={"candidate": run.candidate},
        )
        self._tell(run, f"{run.candidate_ref or run.model} was not promoted", why)
        return run

    def reject_by_hand(self, run_id: int, reason: str) -> RetrainRun:
        """The owner says no to a run in shadow or awaiting approval: its candidate is never
        promoted, the challenger alias goes, the model's lock is released for the next run."""
        if not reason.strip():
            raise MaintenanceError(
                "a rejection needs a reason: it is written to the run and the audit log",
                hint=f'shipyard runs reject {run_id} --reason "why"',
            )
        run = self.repository.get(run_id)
        if run.state not in REJECTABLE:
            raise MaintenanceError(
                f"run #{run.id} of {run.model} is {run.state}; only a run "
                f"{' or '.join(s.replace('_', ' ') for s in REJECTABLE)} can be rejected",
                hint=f"a promoted version goes back with: shipyard rollback {run.model} --reason TEXT"
                if run.state in ("guarding", "promoted")
                else None,
            )
        return self.reject(run, f"rejected by hand: {reason}", by=current_actor())

    def fail(self, run: RetrainRun, error: str, *, by: str | None = None) -> RetrainRun:
        """End ``run`` as failed: the lock released, a challenger it set removed, the owner told."""
        self._drop_challenger(run)
        run = self.repository.update(
            run.id,
            step="failed",
            note=error,
            state="failed",
            decision="failed",
            decided_by=by or run.holder,
            error=error,
            action="retrain.failed",
            reason=error,
            detail={"candidate": run.candidate},
        )
        self._tell(run, f"retraining run #{run.id} of {run.model} failed", error)
        return run

    def _promote(self, run: RetrainRun, now: datetime, *, by: str) -> RetrainRun:
        ref = run.candidate_ref
        assert ref is not None
        self.evaluations.promote(
            ref, to=CHAMPION, reason=f"retraining run #{run.id}: every check passed"
        )
        self._drop_challenger(run)
        return self._promoted(run, now, decision="promoted", by=by, action="retrain.promoted")

    def _promoted(
        self, run: RetrainRun, now: datetime, *, decision: str, by: str, action: str
    ) -> RetrainRun:
        guarded = self.models.config(run.model).retrain.guard is not None
        run = self.repository.update(
            run.id,
            step=decision,
            note=f"by {by}",
            state="guarding" if guarded else "promoted",
            decision=decision,
            decided_by=by,
            promoted_at=now,
            action=action,
            detail={"candidate": run.candidate, "from": run.champion},
            now=now,
        )
        self._tell(run, f"{run.candidate_ref} is the champion", f"{decision} by {by}")
        return run

    def _approved_by(self, run: RetrainRun) -> str | None:
        """Who promoted the run's candidate by hand, if champion points at it now."""
        if run.candidate is None or self._champion(run.model) != run.candidate:
            return None
        for event in history(self.metadata, subject=run.model, limit=200):
            if event.action == "model.promoted" and event.detail.get("version") == run.candidate:
                return event.actor
        return current_actor()

    def _approved(self, run: RetrainRun, now: datetime) -> RetrainRun:
        by = self._approved_by(run) or current_actor()
        self._drop_challenger(run)
        return self._promoted(run, now, decision="approved", by=by, action="retrain.approved")

    def _shadow(self, run: RetrainRun, now: datetime) -> RetrainRun:
        shadow = self.models.config(run.model).retrain.shadow
        assert shadow is not None and run.shadow_since is not None
        checks, figures = self._compare(run, now)
        done = figures["requests"] >= shadow.requests
        late = now - run.shadow_since >= timedelta(seconds=shadow.max_duration)
        kept = [c for c in run.checks if not c.name.startswith("shadow.")]
        run = self.repository.update(run.id, comparison=figures, checks=[*kept, *checks], now=now)
        if not (done or late):
            return run
        if figures["requests"] == 0:
            return self.reject(run, "no request was compared in the shadow period", by="policy")
        note = f"{figures['requests']} requests compared"
        run = self.repository.update(run.id, step="compared", note=note, now=now)
        return self.decide(run, now=now)

    def _guard(self, run: RetrainRun, now: datetime) -> RetrainRun:
        guard = self.models.config(run.model).retrain.guard
        if guard is None or run.promoted_at is None:
            return self.repository.update(run.id, step="promoted", state="promoted", now=now)
        alerts = self.monitoring.alerts.list(model=run.model, every=True, limit=500)
        verdict, check = judge(alerts, guard, run.promoted_at, now)
        kept = [c for c in run.checks if c.name != "guard"]
        if verdict == "guarding":
            return run
        if verdict == "promoted":
            return self.repository.update(
                run.id,
                step="promoted",
                note=check.detail,
                state="promoted",
                checks=[*kept, check],
                now=now,
            )
        if run.champion is None or self._champion(run.model) != run.candidate:
            return self.repository.update(
                run.id,
                step="guard",
                note=f"{check.detail}; champion already moved",
                state="promoted",
                checks=[*kept, check],
                now=now,
            )
        why = f"guard: {check.detail}"
        roll_back(
            self.models, self.repository, run.model, to=run.champion, reason=why, action="guard.rolled_back", run=run,
            run_fields={
                "step": "rolled_back", "note": why, "state": "rolled_back", "decision": "rolled_back",
                "decided_by": "guard", "checks": [*kept, check], "now": now,
            },
        )  # fmt: skip
        run = self.repository.get(run.id)
        self._tell(run, f"{run.model}: champion rolled back to v{run.champion}", why)
        return run

    # -- rollback and promotions by hand ------------------------------------------------------
    def rollback(
        self, name: str, *, to: int | None = None, reason: str | None = None
    ) -> tuple[int, int]:
        """Move ``name``'s champion back to the previous champion (or ``to``); (from, to).
        A guard period going on for the version left ends as rolled back."""
        guarding = [r for r in self.repository.active(name) if r.state == "guarding"]
        run = guarding[0] if guarding and guarding[0].candidate == self._champion(name) else None
        fields = None
        if run is not None:
            fields = {
                "step": "rolled_back", "note": reason or "", "state": "rolled_back",
                "decision": "rolled_back", "decided_by": current_actor(),
            }  # fmt: skip
        moved = roll_back(
            self.models, self.repository, name, to=to, reason=reason, run=run, run_fields=fields
        )
        log.info("%s: champion rolled back from v%d to v%d", name, *moved)
        return moved

    def promoted(self, name: str, before: int | None, version: int, *, reason: str | None) -> None:
        """``version`` was made champion by hand: the approval of a run waiting for it, or
        (with ``retrain.guard``, when there is an earlier champion to go back to) the
        start of a guard period."""
        now = datetime.now(UTC)
        for run in self.repository.active(name):
            if run.candidate == version and run.state in ("shadowing", "awaiting_approval"):
                self._approved(run, now)
                return
        for run in self.repository.active(name):
            if run.state == "guarding" and run.candidate != version:  # its version left
                self.repository.update(
                    run.id,
                    step="superseded",
                    note=f"champion moved to @{version} by hand",
                    state="promoted",
                    action="guard.ended",
                    reason=f"champion moved to {name}@{version} by hand: {reason or 'no reason'}",
                    detail={"candidate": run.candidate, "champion": version},
                    now=now,
                )
        if self.models.config(name).retrain.guard is None or before in (None, version):
            return
        try:
            self.repository.start(
                name, trigger="manual-promotion", reason=reason, champion=before, now=now,
                state="guarding", candidate=version, promoted_at=now, decided_by=current_actor(),
                action="guard.started", detail={"candidate": version},
            )  # fmt: skip
        except RunInProgressError as exc:
            log.warning("no guard period for %s@%d: %s", name, version, exc.message)

    def rejection(self, name: str, version: int) -> tuple[int, str] | None:
        """(run id, why) of the newest run that judged ``name@version``, if it rejected it."""
        for run in self.repository.recent(name, limit=RUNS_SEARCHED):
            if run.candidate == version:
                if run.state != "rejected":
                    return None
                why = run.steps[-1].get("detail") if run.steps else None
                return run.id, str(why or "see the run")
        return None

    # -- reading ------------------------------------------------------------------------------
    def runs(self, model: str | None = None, *, limit: int = 50) -> list[RetrainRun]:
        """Runs, newest first (of ``model`` when given)."""
        if model is not None:
            self.models.config(model)
        return self.repository.recent(model, limit=limit)

    def run(self, run_id: int) -> RetrainRun:
        """One run (:class:`NotFoundError` when there is none)."""
        return self.repository.get(run_id)

    def comparison(self, run_id: int, *, now: datetime | None = None) -> dict[str, Any]:
        """The shadow comparison of a run: live while it shadows, as decided afterwards."""
        run = self.repository.get(run_id)
        if run.state == "shadowing" and run.shadow_since is not None:
            checks, figures = self._compare(run, now or datetime.now(UTC))
            return {**figures, "checks": [c.as_dict() for c in checks]}
        if run.comparison is None:
            raise NotFoundError(f"run #{run_id} has no shadow comparison (it is {run.state})")
        shadow = [c.as_dict() for c in run.checks if c.name.startswith("shadow.")]
        return {**run.comparison, "checks": shadow}

    def _compare(self, run: RetrainRun, now: datetime) -> tuple[list[Check], dict[str, Any]]:
        assert run.shadow_since is not None and run.candidate is not None
        config = self.models.config(run.model)
        assert config.retrain.shadow is not None
        start, end = run.shadow_since, now + timedelta(seconds=1)
        rows = read_rows(
            self.artifacts, PREDICTIONS, run.model, start, end, variants=("live", "shadow")
        )
        labels = read_rows(self.artifacts, FEEDBACK, run.model, start, end)
        candidate = self.models.registry.resolve(f"{run.model}@{run.candidate}")
        vs = dict(config.gates.get("vs_champion", {}))
        # judged on labels: the vs_champion metrics, else the model's first metric
        subject = Subject(
            task=config.task,
            candidate=run.candidate,
            champion=run.champion,
            shadow=config.retrain.shadow,
            classes=candidate.classes,
            metrics=list(vs) or (config.metrics or default_metrics(config.task))[:1],
            vs_champion=vs,
            min_labels=config.monitoring.min_labels,
        )
        checks, figures = compare(
            rows, labels if not labels.is_empty() else pl.DataFrame(), subject
        )
        figures["since"] = start.isoformat()
        return checks, figures

    # -- helpers -------------------------------------------------------------------------------
    def _champion(self, name: str) -> int | None:
        return self.models.registry.aliases(name).get(CHAMPION)

    def _drop_challenger(self, run: RetrainRun) -> None:
        """Remove the challenger alias when it points at this run's candidate."""
        if run.candidate is None:
            return
        if self.models.registry.aliases(run.model).get(CHALLENGER) != run.candidate:
            return
        with contextlib.suppress(NotFoundError):  # removed meanwhile
            self.models.delete_alias(
                run.model, CHALLENGER, reason=f"retraining run #{run.id} ended"
            )

    def _tell(self, run: RetrainRun, title: str, text: str) -> None:
        try:
            self.monitoring.notify_owner(run.model, title, text, {"run": run.id, **run.as_dict()})
        except Exception as exc:  # the run's record says it all; telling is best effort
            log.warning("could not tell the owner of %s about run #%d: %s", run.model, run.id, exc)
