"""``shipyard worker``: the one process per project that monitors and retrains.

Every ``worker.tick_s`` a :class:`Worker` takes or renews the lease ``worker`` in
the metadata database (:mod:`.lease`); only the holder acts, so with several
workers (or replicas each running one) exactly one does, and another takes over
within ``worker.lease_s`` of the holder's death. While it holds the lease, each
tick:

1. monitors every model with a champion whose last monitoring run is older than
   ``worker.monitor_every`` (default ``server.monitor_every``; off when neither is
   set) — alerts fire and reach their owners from here;
2. advances the active retraining runs (:meth:`Maintenance.tick`: shadow
   comparisons decided, approvals noticed, guard periods judged, runs of a dead
   process marked failed);
3. starts a run for each model whose policy says so (:func:`.triggers.due`; new
   feedback labels are counted once a minute, as that reads the prediction log), in
   a thread of its own, so the lease keeps being renewed while a candidate trains.

The lease is renewed between these steps too, so a slow monitoring pass does not
let it lapse. A worker that finds the lease lost stops acting at once and tries to
take it again on the next tick.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from shipyard.errors import ShipyardError, first_line

from .lease import Lease
from .records import RunInProgressError
from .triggers import ProjectLike, due

logger = logging.getLogger(__name__)

__all__ = ["LEASE", "Worker"]

LEASE = "worker"
LABELS_EVERY_S = 60.0  # how often a worker counts a model's new feedback labels (a log read)


class Worker:
    """Monitoring and retraining for one project, acting only while it holds the lease."""

    def __init__(self, project: ProjectLike, holder: str | None = None) -> None:
        self.project = project
        settings = project.config.worker
        self.tick_s = settings.tick_s
        self.monitor_every = settings.monitor_every or project.config.server.monitor_every
        self.lease = Lease(project.metadata, LEASE, holder, seconds=settings.lease_s)
        self.holding = False
        self._retraining: dict[str, threading.Thread] = {}
        self._labels_counted: dict[str, datetime] = {}
        self._fixed: datetime | None = None  # the clock of this round, when a test sets it

    @property
    def holder(self) -> str:
        return self.lease.holder

    # -- the loop -----------------------------------------------------------------------
    def run_forever(self, stop: threading.Event) -> None:
        """Tick every ``tick_s`` until ``stop`` is set; then give the lease up and let the
        runs this worker started finish their steps."""
        logger.info(
            "worker %s started: tick %gs, lease %gs, monitoring %s",
            self.holder,
            self.tick_s,
            self.lease.seconds,
            f"every {self.monitor_every:g}s" if self.monitor_every else "off",
        )
        try:
            while not stop.is_set():
                try:
                    self.tick()
                except Exception as exc:  # a database that blinked: try again next tick
                    logger.warning("worker tick failed: %s", first_line(exc))
                stop.wait(self.tick_s)
        finally:
            self.shutdown()

    def tick(self, now: datetime | None = None) -> bool:
        """One round: take or renew the lease, then act if held. Returns whether it acted.

        ``now`` (tests) fixes the clock for the whole round; by default the lease is
        renewed at the real time between the steps, however long they took.
        """
        self._fixed = now
        now = self._now()
        if not self._hold(now):
            return False
        self._monitor(now)
        if not self._hold(self._now()):
            return False
        for run in self.project.maintenance.tick(now=now):
            logger.info(
                "run #%d of %s is %s%s",
                run.id,
                run.model,
                run.state,
                f": {run.error}" if run.error else "",
            )
        if not self._hold(self._now()):
            return False
        self._trigger(now)
        return True

    def _now(self) -> datetime:
        return self._fixed or datetime.now(UTC)

    def shutdown(self, *, wait: bool = True) -> None:
        """Release the lease (if held) and, with ``wait``, let started runs finish."""
        if self.holding:
            try:
                self.lease.release()
                logger.info("worker %s released the lease", self.holder)
            except Exception as exc:  # it expires by itself
                logger.warning("could not release the lease (%s); it expires", first_line(exc))
            self.holding = False
        if wait:
            self.wait()
        logger.info("worker %s stopped", self.holder)

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the runs this worker started to finish their synchronous steps."""
        for name, thread in list(self._retraining.items()):
            if thread.is_alive():
                logger.info("waiting for the run of %s to finish its steps", name)
            thread.join(timeout)

    # -- the steps --------------------------------------------------------------------------
    def _hold(self, now: datetime) -> bool:
        held = self.lease.acquire(now) if not self.holding else self.lease.renew(now)
        if held and not self.holding:
            logger.info("worker %s took the lease (%gs)", self.holder, self.lease.seconds)
        elif self.holding and not held:
            logger.warning("worker %s lost the lease; it stops acting", self.holder)
        elif not held:
            holder = self.lease.held_by(now)
            if holder is not None:
                logger.debug("the lease is held by %s until %s", *holder)
        self.holding = held
        return held

    def _monitor(self, now: datetime) -> None:
        if not self.monitor_every:
            return
        for name in self.project.config.models:
            if "champion" not in self.project.models.registry.aliases(name):
                continue
            last = self.project.monitoring.runs(name, limit=1)
            if last and (now - _utc(last[0].window_end)).total_seconds() < self.monitor_every:
                continue
            try:
                run = self.project.monitoring.run(name, now=now)
            except Exception as exc:  # one model's failure does not stop the others
                logger.warning("monitoring %s failed: %s", name, first_line(exc))
                continue
            changed = ", ".join(f"{a.rule} {a.state}" for a in run.alerts)
            logger.info(
                "monitored %s: %d predictions%s",
                name,
                run.report.rows,
                f"; alerts: {changed}" if changed else "",
            )
            if not self._hold(self._now()):
                return

    def _trigger(self, now: datetime) -> None:
        for name in self.project.config.models:
            thread = self._retraining.get(name)
            if thread is not None and thread.is_alive():
                continue
            counted = self._labels_counted.get(name)
            labels = counted is None or (now - counted).total_seconds() >= LABELS_EVERY_S
            if labels:
                self._labels_counted[name] = now
            try:
                found = due(self.project, name, now, labels=labels)
            except ShipyardError as exc:
                logger.warning("cannot tell whether %s is due: %s", name, first_line(exc))
                continue
            if found is None:
                continue
            trigger, reason = found
            logger.info("retraining %s (%s): %s", name, trigger, reason)
            thread = threading.Thread(
                target=self._retrain,
                args=(name, trigger, reason),
                name=f"shipyard-retrain-{name}",
                daemon=True,
            )
            self._retraining[name] = thread
            thread.start()

    def _retrain(self, name: str, trigger: str, reason: str) -> None:
        try:
            run = self.project.maintenance.retrain(name, trigger=trigger, reason=reason)
        except RunInProgressError as exc:  # another process started one first
            logger.info("not retraining %s: %s", name, exc.message)
            return
        except Exception as exc:  # the run records its own failure; say it here too
            logger.warning("retraining %s failed: %s", name, first_line(exc))
            return
        logger.info(
            "run #%d of %s is %s%s",
            run.id,
            name,
            run.state,
            f" (candidate {run.candidate_ref})" if run.candidate_ref else "",
        )


def _utc(at: datetime) -> datetime:
    return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
