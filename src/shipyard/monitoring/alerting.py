"""Alert state, kept in the metadata store so one problem pages once.

An alert goes ``pending`` when its rule's condition first holds, ``firing`` once
it has held for the rule's ``for`` (at once when that is 0), and ``resolved``
when the condition no longer holds; a pending alert whose condition clears is
``cancelled`` without a message. Messages are owed on firing, every ``repeat``
while firing and not acknowledged (a reminder), and on resolving; an owed message
stays owed until every channel of its route took it, so a dead webhook is tried
again on the next run and a channel that took it is not sent it twice. A channel
whose setting is missing (an e-mail without ``alerting.smtp``) is not skipped: its
delivery is kept as "not configured", the message stays owed, and
:func:`~.notifiers.undeliverable` names every such destination for ``shipyard doctor``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from shipyard.config.schema import AlertingConfig, ModelConfig
from shipyard.errors import NotFoundError
from shipyard.storage import MetadataStore, as_utc, current_actor, lock, record
from shipyard.storage.tables import alert_notifications, alerts

from .notifiers import NOT_CONFIGURED, NOTIFIERS, Channel, Delivery, Notifier, status_of
from .rules import Condition

logger = logging.getLogger(__name__)
UNREACHED = "shipyard_unreached"
"""Set on the log record of an owner a channel cannot reach for a missing setting: a caller
that says so itself (``shipyard monitor`` ends with that error) filters the record out."""

ACTIVE = ("pending", "firing")
OWNER = "owner"


@dataclass(frozen=True)
class DeliveryRecord:
    """One message of an alert on one channel, as the alert history keeps it."""

    kind: str  # firing, reminder-…, resolved
    channel: str  # the channel's label: never a URL's path or credentials
    status: str  # sent, failed, not configured
    attempts: int
    error: str | None
    at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "at": self.at.isoformat()}


@dataclass(frozen=True)
class Alert:
    """One alert: its rule's state, its figures, its owner and every delivery of its messages."""

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
    owner: str | None = None  # the model's owner (None: the model is no longer declared)
    deliveries: tuple[DeliveryRecord, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        for key in ("started_at", "fired_at", "notified_at", "resolved_at", "acked_at"):
            data[key] = data[key].isoformat() if data[key] else None
        data["deliveries"] = [d.as_dict() for d in self.deliveries]
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
        models: Mapping[str, ModelConfig] | None = None,
        root: Path | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.project = project
        self.models = dict(models or {})
        self.notifier = Notifier(
            timeout_s=config.timeout_s,
            retries=config.retries,
            smtp=config.smtp,
            environ=environ,
            allow_hosts=config.allow_hosts,
            root=root,
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
        jobs: list[tuple[Alert, Channel, dict[str, Any]]] = []
        for row in rows:
            alert = _alert(row)
            config = models.get(alert.model)
            done = self._delivered(alert)
            channels = self.channels(alert.route, config)
            message = self.message(alert, models)
            message["deliveries"] = self.plan(channels, done)
            jobs += [(alert, ch, message) for ch in channels if ch.label not in done]
        if not jobs:
            return []
        with ThreadPoolExecutor(min(8, len(jobs))) as pool:
            sent = list(pool.map(lambda job: self.notifier.send(job[1], job[2]), jobs))
        results = [
            dataclasses.replace(d, alert=alert.id, model=alert.model)
            for (alert, _, _), d in zip(jobs, sent, strict=True)
        ]
        for d in results:
            if d.status == NOT_CONFIGURED:
                owner = self._owner(d.model or "", models)
                logger.error(
                    "alert #%s of %s did not reach its owner %s: %s is not configured: %s",
                    d.alert, d.model, owner, d.channel.label, d.error,
                    extra={UNREACHED: True},
                )  # fmt: skip
        with self.store.transaction() as conn:
            for (alert, _, _), delivery in zip(jobs, results, strict=True):
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

    def plan(self, channels: list[Channel], done: set[str] | None = None) -> list[dict[str, str]]:
        """What a message's body says of each channel it goes to: ``sent`` (an earlier run),
        ``not configured`` (a setting is missing) or ``sending`` (now)."""
        return [
            {
                "channel": ch.label,
                "status": "sent"
                if ch.label in (done or set())
                else (NOT_CONFIGURED if self.notifier.missing(ch.kind) else "sending"),
            }
            for ch in channels
        ]

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
        """Where ``route`` goes: a named route, or the model's owner (webhook, Slack, e-mail,
        file, log). A destination whose setting is missing is listed too: it fails as
        "not configured" rather than vanish."""
        found: list[Channel] = []
        routed = self.config.routes.get(route) if route != OWNER else None
        owner = model.owner if model and routed is None else None
        for spec in NOTIFIERS.values():
            if routed is not None:
                value = getattr(routed, spec.key)
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
            rows = conn.execute(query).all()
            sent = _history(conn, [int(row.id) for row in rows])
        return [self._full(row, sent) for row in rows]

    def get(self, alert_id: int) -> Alert:
        """Alert ``alert_id`` with its owner and every delivery of its messages."""
        with self.store.read() as conn:
            row = conn.execute(sa.select(alerts).where(alerts.c.id == alert_id)).first()
            if row is None:
                raise NotFoundError(
                    f"no alert #{alert_id}", hint="`shipyard alerts list --all` shows every alert"
                )
            sent = _history(conn, [alert_id])
        return self._full(row, sent)

    def _full(self, row: Any, sent: Mapping[int, Sequence[DeliveryRecord]]) -> Alert:
        alert = _alert(row)
        owner = self._owner(alert.model, self.models)
        return dataclasses.replace(alert, owner=owner, deliveries=tuple(sent.get(alert.id, [])))

    @staticmethod
    def _owner(model: str, models: Mapping[str, ModelConfig]) -> str | None:
        config = models.get(model)
        return config.owner.name if config else None

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


def _history(conn: sa.Connection, ids: list[int]) -> dict[int, list[DeliveryRecord]]:
    """Every delivery of the alerts ``ids``, oldest first, by alert."""
    found: dict[int, list[DeliveryRecord]] = {i: [] for i in ids}
    if not ids:
        return found
    n = alert_notifications.c
    query = sa.select(alert_notifications).where(n.alert_id.in_(ids)).order_by(n.id)
    for r in conn.execute(query):
        found[int(r.alert_id)].append(
            DeliveryRecord(
                kind=r.kind or "",
                channel=r.target,
                status=status_of(bool(r.ok), int(r.attempts or 0)),
                attempts=int(r.attempts or 0),
                error=r.error,
                at=as_utc(r.at),
            )
        )
    return found


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
