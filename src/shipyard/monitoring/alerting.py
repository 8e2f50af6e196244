"""Alert state, kept in the metadata store so one problem pages once.

An alert goes ``pending`` when its rule's condition first holds, ``firing`` once
it has held for the rule's ``for`` (at once when that is 0), and ``resolved``
when the condition no longer holds; a pending alert whose condition clears is
``cancelled`` without a message. Messages are owed on firing, every ``repeat``
while firing and not acknowledged (a reminder), and on resolving; an owed message
stays owed until every channel of its route took it, so a dead webhook is tried
again on the next run and a channel that took it is not sent it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from shipyard.config.schema import AlertingConfig, ModelConfig
from shipyard.errors import NotFoundError
from shipyard.storage import MetadataStore, as_utc, current_actor, lock, record
from shipyard.storage.tables import alert_notifications, alerts

from .notifiers import NOTIFIERS, Channel, Delivery, Notifier
from .rules import Condition

logger = logging.getLogger(__name__)

ACTIVE = ("pending", "firing")
OWNER = "owner"


@dataclass(frozen=True)
class Alert:
    id: int
    model: str
    rule: str
    state: str
    severity: str
    route: str
    value: float | None
    threshold: float | None
    message: str
    detail: dict[str, Any]
    started_at: datetime
    fired_at: datetime | None
    notified_at: datetime | None
    resolved_at: datetime | None
    acked_at: datetime | None
    acked_by: str | None
    owed: str | None

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        for key in ("started_at", "fired_at", "notified_at", "resolved_at", "acked_at"):
            data[key] = data[key].isoformat() if data[key] else None
        return data


class Alerts:
    """The alert state of a project: advance it from conditions, deliver, list, acknowledge."""

    def __init__(
        self,
        store: MetadataStore,
        config: AlertingConfig,
        *,
        project: str,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.project = project
        self.notifier = Notifier(
            timeout_s=config.timeout_s,
            retries=config.retries,
            smtp=config.smtp,
            environ=environ,
            allow_hosts=config.allow_hosts,
        )

    # -- state ------------------------------------------------------------------------
    def advance(
        self, model: str, conditions: list[Condition], now: datetime, *, report: str = ""
    ) -> list[Alert]:
        """Move each rule's alert along by its condition; return the alerts that changed."""
        changed: list[int] = []
        with self.store.transaction() as conn:
            lock(conn, f"shipyard.alerts:{model}")  # replicas monitoring at once: one alert
            for c in conditions:
                if c.active is None:
                    continue
                row = conn.execute(
                    sa.select(alerts)
                    .where(alerts.c.model == model, alerts.c.rule == c.rule.key)
                    .where(alerts.c.state.in_(ACTIVE))
                    .order_by(alerts.c.id.desc())
                ).first()
                alert_id = self._step(conn, model, c, row, now, report)
                if alert_id is not None:
                    changed.append(alert_id)
        return [self.get(i) for i in changed]

    def _step(
        self, conn: sa.Connection, model: str, c: Condition, row: Any, now: datetime, report: str
    ) -> int | None:
        rule = c.rule
        figures = {
            "value": c.value,
            "threshold": c.threshold,
            "message": c.message,
            "detail": {**c.detail, "report": report, "window": rule.window},
            "updated_at": now,
        }
        if not c.active:
            if row is None:
                return None
            if row.state == "pending":
                conn.execute(
                    alerts.update()
                    .where(alerts.c.id == row.id)
                    .values(state="cancelled", **figures)
                )
                return None
            conn.execute(
                alerts.update()
                .where(alerts.c.id == row.id)
                .values(state="resolved", resolved_at=now, owed="resolved", **figures)
            )
            return int(row.id)
        if row is None:
            firing = rule.hold <= 0
            result = conn.execute(
                alerts.insert()
                .values(
                    model=model,
                    rule=rule.key,
                    state="firing" if firing else "pending",
                    severity=rule.severity,
                    route=rule.route or OWNER,
                    started_at=now,
                    fired_at=now if firing else None,
                    owed="firing" if firing else None,
                    **figures,
                )
                .returning(alerts.c.id)
            )
            return int(result.scalar_one())
        values: dict[str, Any] = dict(figures)
        if row.state == "pending" and (now - as_utc(row.started_at)).total_seconds() >= rule.hold:
            values.update(state="firing", fired_at=now, owed="firing")
        elif row.state == "firing" and row.owed is None and row.acked_at is None:
            repeat = rule.repeat if rule.repeat is not None else self.config.repeat
            last = as_utc(row.notified_at or row.fired_at)
            if repeat > 0 and (now - last).total_seconds() >= repeat:
                values.update(owed=f"reminder-{now:%Y%m%dT%H%M%S}")
        conn.execute(alerts.update().where(alerts.c.id == row.id).values(**values))
        return int(row.id) if "owed" in values else None

    # -- delivery ---------------------------------------------------------------------
    def deliver(self, models: Mapping[str, ModelConfig], now: datetime) -> list[Delivery]:
        """Send every owed message; what fails stays owed for the next run."""
        with self.store.read() as conn:
            rows = conn.execute(sa.select(alerts).where(alerts.c.owed.is_not(None))).all()
        jobs: list[tuple[Alert, Channel]] = []
        for row in rows:
            alert = _alert(row)
            config = models.get(alert.model)
            done = self._delivered(alert)
            for channel in self.channels(alert.route, config):
                if channel.label not in done:
                    jobs.append((alert, channel))
        if not jobs:
            return []
        with ThreadPoolExecutor(min(8, len(jobs))) as pool:
            results = list(
                pool.map(lambda job: self.notifier.send(job[1], self.message(job[0], models)), jobs)
            )
        with self.store.transaction() as conn:
            for (alert, _), delivery in zip(jobs, results, strict=True):
                conn.execute(
                    alert_notifications.insert().values(
                        alert_id=alert.id,
                        kind=alert.owed,
                        channel=delivery.channel.kind,
                        target=delivery.channel.label,
                        ok=delivery.ok,
                        attempts=delivery.attempts,
                        error=delivery.error,
                        at=now,
                    )
                )
            for row in rows:
                alert = _alert(row)
                config = models.get(alert.model)
                done = self._delivered(alert, conn)
                if all(ch.label in done for ch in self.channels(alert.route, config)):
                    conn.execute(
                        alerts.update()
                        .where(alerts.c.id == alert.id, alerts.c.owed == alert.owed)
                        .values(owed=None, notified_at=now)
                    )
        return results

    def _delivered(self, alert: Alert, conn: sa.Connection | None = None) -> set[str]:
        query = sa.select(alert_notifications.c.target).where(
            alert_notifications.c.alert_id == alert.id,
            alert_notifications.c.kind == alert.owed,
            alert_notifications.c.ok.is_(True),
        )
        if conn is not None:
            return set(conn.execute(query).scalars())
        with self.store.read() as reading:
            return set(reading.execute(query).scalars())

    def channels(self, route: str, model: ModelConfig | None) -> list[Channel]:
        """Where ``route`` goes: a named route, or the model's owner (webhook, Slack, e-mail, log)."""
        found: list[Channel] = []
        routed = self.config.routes.get(route) if route != OWNER else None
        owner = model.owner if model and routed is None else None
        for spec in NOTIFIERS.values():
            if routed is not None:
                value = getattr(routed, spec.key)
            elif spec.needs and getattr(self.config, spec.needs) is None:
                value = None  # an owner's e-mail waits for alerting.smtp
            else:
                value = getattr(owner, spec.key, spec.owner_default)
            found += [Channel(spec.kind, target) for target in spec.targets(value, route)]
        if not found:
            found.append(Channel("log", route))  # a route that names nowhere still logs
        return found

    def message(self, alert: Alert, models: Mapping[str, ModelConfig]) -> dict[str, Any]:
        config = models.get(alert.model)
        status = "reminder" if (alert.owed or "").startswith("reminder") else alert.owed
        return {
            "id": alert.id,
            "status": status,
            "project": self.project,
            "model": alert.model,
            "rule": alert.rule,
            "severity": alert.severity,
            "owner": config.owner.name if config else alert.route,
            "route": alert.route,
            "value": alert.value,
            "threshold": alert.threshold,
            "message": alert.message,
            "detail": alert.detail,
            "started_at": alert.started_at.isoformat(),
            "fired_at": alert.fired_at.isoformat() if alert.fired_at else None,
            "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        }

    # -- people -------------------------------------------------------------------------
    def list(
        self, *, model: str | None = None, every: bool = False, limit: int = 100
    ) -> list[Alert]:
        """Pending and firing alerts (``every``: resolved and cancelled ones too), newest first."""
        query = sa.select(alerts).order_by(alerts.c.id.desc()).limit(limit)
        if model:
            query = query.where(alerts.c.model == model)
        if not every:
            query = query.where(alerts.c.state.in_(ACTIVE))
        with self.store.read() as conn:
            return [_alert(row) for row in conn.execute(query)]

    def get(self, alert_id: int) -> Alert:
        with self.store.read() as conn:
            row = conn.execute(sa.select(alerts).where(alerts.c.id == alert_id)).first()
        if row is None:
            raise NotFoundError(
                f"no alert #{alert_id}", hint="`shipyard alerts list --all` shows every alert"
            )
        return _alert(row)

    def ack(self, alert_id: int, *, now: datetime, reason: str | None = None) -> Alert:
        """Acknowledge: someone is on it, so no reminders; it still resolves by itself."""
        alert = self.get(alert_id)
        if alert.state not in ACTIVE:
            raise NotFoundError(
                f"alert #{alert_id} is {alert.state}; only pending or firing alerts can be acknowledged",
                hint="`shipyard alerts list` shows the open ones",
            )
        actor = current_actor()
        with self.store.transaction() as conn:
            conn.execute(
                alerts.update()
                .where(alerts.c.id == alert_id)
                .values(acked_at=now, acked_by=actor, updated_at=now)
            )
            record(
                conn,
                "alert.acked",
                f"{alert.model}/{alert.rule}",
                detail={"alert": alert_id},
                reason=reason,
            )
        return self.get(alert_id)


def _alert(row: Any) -> Alert:
    def at(value: datetime | None) -> datetime | None:
        return as_utc(value) if value is not None else None

    return Alert(
        id=int(row.id),
        model=row.model,
        rule=row.rule,
        state=row.state,
        severity=row.severity,
        route=row.route,
        value=row.value,
        threshold=row.threshold,
        message=row.message,
        detail=dict(row.detail or {}),
        started_at=as_utc(row.started_at),
        fired_at=at(row.fired_at),
        notified_at=at(row.notified_at),
        resolved_at=at(row.resolved_at),
        acked_at=at(row.acked_at),
        acked_by=row.acked_by,
        owed=row.owed,
    )
