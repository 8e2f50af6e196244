"""When a model's retraining policy says it is time: its schedule, its alerts, new labels.

:func:`due` answers for one model at one moment, from state in the stores (the
runs, the alerts, the feedback log), so any process can ask and a worker that
takes over from a dead one asks the same question with the same answer. Each
trigger counts from the *later* of the champion's creation and the last run's
start: a candidate that was rejected does not start another run at once for the
same alert or the same labels. Nothing is due while a run of the model is active
(and :meth:`Maintenance.retrain` refuses a second run anyway, under a lock).
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from shipyard.config import ModelConfig, ProjectConfig
from shipyard.errors import NotFoundError
from shipyard.models import Models
from shipyard.monitoring import Monitoring
from shipyard.storage import ArtifactStore, MetadataStore

from .feedback import count_labels
from .records import ACTIVE, RetrainRun

if TYPE_CHECKING:
    from .api import Maintenance

logger = logging.getLogger(__name__)

__all__ = ["ProjectLike", "due"]

RUNS_LOOKED_AT = 20  # the model's newest runs read to find an active one and the last start


class ProjectLike(Protocol):
    """What the worker and the triggers use of a :class:`shipyard.project.Project`
    (which sits above this stage, so it is named by its shape)."""

    @property
    def config(self) -> ProjectConfig: ...
    @property
    def metadata(self) -> MetadataStore: ...
    @property
    def artifacts(self) -> ArtifactStore: ...
    @property
    def models(self) -> Models: ...
    @property
    def monitoring(self) -> Monitoring: ...
    @property
    def maintenance(self) -> Maintenance: ...


def due(
    project: ProjectLike, name: str, now: datetime | None = None, *, labels: bool = True
) -> tuple[str, str] | None:
    """``(trigger, reason)`` when model ``name``'s policy says retrain now, else ``None``.

    The triggers, first match wins: ``alert:<rule>`` (a rule in ``on_alerts`` fired),
    ``new_labels`` (at least ``new_labels`` feedback labels), ``schedule`` (``every``
    has passed). Each counts from the later of the champion's creation and the last
    run's start; without a champion and without a run there is nothing to count from.
    ``labels=False`` skips counting labels (it reads the prediction log: a worker does
    it less often than it ticks).
    """
    now = now or datetime.now(UTC)
    config: ModelConfig = project.config.models[name]
    policy = config.retrain
    if not policy.triggers:
        return None
    runs = project.maintenance.runs(name, limit=RUNS_LOOKED_AT)
    if any(run.state in ACTIVE for run in runs):
        return None
    since = _since(project, name, runs)
    if since is None:
        return None
    if policy.on_alerts:
        fired = _fired(project, name, policy.on_alerts, since)
        if fired is not None:
            return fired
    if policy.new_labels and labels:
        counted = count_labels(project.artifacts, name, since=since, until=now)
        if counted >= policy.new_labels:
            return (
                "new_labels",
                f"{counted} new feedback labels since {_at(since)} (policy: new_labels "
                f"{policy.new_labels})",
            )
    if policy.every and (now - since).total_seconds() >= policy.every:
        return (
            "schedule",
            f"{_ago(now - since)} since {_at(since)} (policy: every {_ago_s(policy.every)})",
        )
    return None


def _since(project: ProjectLike, name: str, runs: list[RetrainRun]) -> datetime | None:
    """The later of the champion's creation and the newest run's start."""
    starts = [run.started_at for run in runs]
    with contextlib.suppress(NotFoundError):  # no champion yet (or no version at all)
        starts.append(project.models.registry.resolve(f"{name}@champion").created_at)
    return max((_utc(at) for at in starts), default=None)


def _fired(
    project: ProjectLike, name: str, rules: list[str], since: datetime
) -> tuple[str, str] | None:
    """The first listed rule of ``name`` whose alert fired after ``since``, oldest first."""
    alerts = project.monitoring.alerts.list(model=name, every=True)
    fired = [
        a for a in alerts if a.rule in rules and a.fired_at is not None and _utc(a.fired_at) > since
    ]
    if not fired:
        return None
    first = min(fired, key=lambda a: _utc(a.fired_at or since))
    detail = f": {first.message}" if first.message else ""
    return (
        f"alert:{first.rule}",
        f"alert '{first.rule}' (#{first.id}) fired at {_at(first.fired_at or since)}{detail}",
    )


def _utc(at: datetime) -> datetime:
    return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)


def _at(at: datetime) -> str:
    return _utc(at).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ago(delta: timedelta) -> str:
    return _ago_s(delta.total_seconds())


def _ago_s(seconds: float) -> str:
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.3g}{unit}"
    return f"{seconds:.3g}s"
