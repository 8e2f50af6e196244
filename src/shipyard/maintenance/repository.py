"""The maintenance stage's tables: retraining runs and the one lock per model with an active run.

All of the stage's SQL. Each change of a run and the audit event that describes
it are written in one transaction; a run that ends releases its model's lock in
that same transaction.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from shipyard.errors import NotFoundError
from shipyard.storage import MetadataStore, as_utc, lock, record
from shipyard.storage.tables import retrain_locks, retrain_runs

from .records import ACTIVE, Check, RetrainRun, RunInProgressError

# what a run's row may be changed to by update(); the rest is written once
_FIELDS = frozenset(
    {
        "state",
        "dataset",
        "feedback",
        "candidate",
        "champion",
        "checks",
        "comparison",
        "decision",
        "decided_by",
        "holder",
        "shadow_since",
        "promoted_at",
        "finished_at",
        "error",
        "heartbeat_at",
    }
)


def holder_name() -> str:
    """``host:pid`` of this process: who holds a run while its steps run."""
    return f"{socket.gethostname()}:{os.getpid()}"


class RunStore:
    """Retraining runs and their model locks in the metadata database."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    # -- writing ---------------------------------------------------------------------------
    def start(
        self,
        model: str,
        *,
        trigger: str,
        reason: str | None,
        champion: int | None,
        now: datetime,
        state: str = "running",
        candidate: int | None = None,
        holder: str | None = None,
        detail: dict[str, Any] | None = None,
        action: str = "retrain.started",
        promoted_at: datetime | None = None,
        decided_by: str | None = None,
    ) -> RetrainRun:
        """A new run of ``model`` holding its lock, or :class:`RunInProgressError`."""
        holder = holder or holder_name()
        with self.store.transaction() as conn:
            lock(conn, f"shipyard.retrain:{model}")
            held = conn.execute(
                sa.select(retrain_locks).where(retrain_locks.c.model == model)
            ).first()
            if held is not None:
                held_state = conn.execute(
                    sa.select(retrain_runs.c.state).where(retrain_runs.c.id == held.run_id)
                ).scalar()
                raise _in_progress(model, held, held_state)
            run_id = conn.execute(
                retrain_runs.insert()
                .values(
                    model=model,
                    state=state,
                    trigger=trigger,
                    reason=reason,
                    candidate=candidate,
                    champion=champion,
                    checks=[],
                    decided_by=decided_by,
                    holder=holder,
                    started_at=now,
                    updated_at=now,
                    heartbeat_at=now,
                    promoted_at=promoted_at,
                    steps=[{"step": state, "at": now.isoformat(), "detail": trigger}],
                )
                .returning(retrain_runs.c.id)
            ).scalar_one()
            conn.execute(
                retrain_locks.insert().values(model=model, run_id=run_id, holder=holder, since=now)
            )
            record(
                conn,
                action,
                model,
                detail={"run": run_id, "trigger": trigger, "champion": champion, **(detail or {})},
                reason=reason,
            )
        return self.get(run_id)

    def update(
        self,
        run_id: int,
        *,
        step: str | None = None,
        note: str = "",
        action: str | None = None,
        reason: str | None = None,
        detail: dict[str, Any] | None = None,
        now: datetime | None = None,
        conn: Connection | None = None,
        **fields: Any,
    ) -> RetrainRun:
        """Change a run's ``fields``, add ``step`` to its timeline, write ``action`` to the
        audit log; a state that is not active releases the model's lock. One transaction
        (``conn``'s when given)."""
        unknown = set(fields) - _FIELDS
        assert not unknown, f"not a run field: {sorted(unknown)}"
        now = now or datetime.now(UTC)
        with self._within(conn) as tx:
            row = tx.execute(sa.select(retrain_runs).where(retrain_runs.c.id == run_id)).first()
            if row is None:
                raise NotFoundError(f"no retraining run #{run_id}")
            values = dict(fields)
            if "checks" in values:
                values["checks"] = [
                    c.as_dict() if isinstance(c, Check) else c for c in values["checks"]
                ]
            if step is not None:
                values["steps"] = [
                    *(row.steps or []),
                    {"step": step, "at": now.isoformat(), "detail": note},
                ]
            values["updated_at"] = now
            state = values.get("state", row.state)
            if (
                state not in ACTIVE
                and values.get("finished_at") is None
                and row.finished_at is None
            ):
                values["finished_at"] = now
            tx.execute(retrain_runs.update().where(retrain_runs.c.id == run_id).values(**values))
            if state not in ACTIVE:
                tx.execute(
                    retrain_locks.delete().where(
                        (retrain_locks.c.model == row.model) & (retrain_locks.c.run_id == run_id)
                    )
                )
            if action is not None:
                record(
                    tx,
                    action,
                    row.model,
                    detail={"run": run_id, "state": state, **(detail or {})},
                    reason=reason,
                )
        return self.get(run_id)

    def beat(self, run_id: int, now: datetime | None = None) -> None:
        """The run's process is alive: its heartbeat is now."""
        with self.store.transaction() as conn:
            conn.execute(
                retrain_runs.update()
                .where(retrain_runs.c.id == run_id)
                .values(heartbeat_at=now or datetime.now(UTC))
            )

    @contextmanager
    def _within(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
        else:
            with self.store.transaction() as tx:
                yield tx

    # -- reading ---------------------------------------------------------------------------
    def get(self, run_id: int) -> RetrainRun:
        with self.store.read() as conn:
            row = conn.execute(sa.select(retrain_runs).where(retrain_runs.c.id == run_id)).first()
        if row is None:
            raise NotFoundError(
                f"no retraining run #{run_id}", hint="`shipyard runs list` shows every run"
            )
        return _run(row)

    def recent(
        self, model: str | None = None, *, limit: int = 50, states: tuple[str, ...] | None = None
    ) -> list[RetrainRun]:
        """Runs, newest first (of ``model``, in ``states`` when given)."""
        query = sa.select(retrain_runs).order_by(retrain_runs.c.id.desc()).limit(limit)
        if model is not None:
            query = query.where(retrain_runs.c.model == model)
        if states is not None:
            query = query.where(retrain_runs.c.state.in_(states))
        with self.store.read() as conn:
            return [_run(row) for row in conn.execute(query)]

    def active(self, model: str | None = None) -> list[RetrainRun]:
        """Runs not yet decided, oldest first."""
        return sorted(self.recent(model, limit=10_000, states=ACTIVE), key=lambda r: r.id)

    def holding(self, model: str) -> tuple[int, str, datetime] | None:
        """(run id, holder, since) of the model's lock, if a run holds it."""
        with self.store.read() as conn:
            row = conn.execute(
                sa.select(retrain_locks).where(retrain_locks.c.model == model)
            ).first()
        return None if row is None else (int(row.run_id), str(row.holder), as_utc(row.since))


def _in_progress(model: str, held: Any, state: str | None) -> RunInProgressError:
    since = as_utc(held.since)
    run = held.run_id
    ends = {
        "shadowing": f"say no to it with `shipyard runs reject {run} --reason TEXT`",
        "awaiting_approval": f"promote its candidate, or `shipyard runs reject {run} --reason TEXT`",
        "guarding": "it ends by itself after the guard period, or at once with "
        f"`shipyard rollback {model} --reason TEXT`",
        "running": "it ends when its steps do (a run whose process died is marked failed "
        "after worker.lease_s by `shipyard worker`)",
    }.get(state or "", "start another when it has finished")
    return RunInProgressError(
        f"a retraining run of '{model}' is already going: run #{run} ({state or 'active'}), "
        f"held by {held.holder} since {since:%Y-%m-%d %H:%M:%S} UTC",
        hint=f"see `shipyard runs show {run}`; {ends}",
    )


def _run(row: Any) -> RetrainRun:
    def at(value: datetime | None) -> datetime | None:
        return None if value is None else as_utc(value)

    return RetrainRun(
        id=int(row.id),
        model=row.model,
        state=row.state,
        trigger=row.trigger,
        reason=row.reason,
        dataset=row.dataset,
        feedback=row.feedback,
        candidate=row.candidate,
        champion=row.champion,
        checks=[Check.from_dict(c) for c in (row.checks or [])],
        comparison=row.comparison,
        decision=row.decision,
        decided_by=row.decided_by,
        holder=row.holder,
        started_at=as_utc(row.started_at),
        updated_at=as_utc(row.updated_at),
        finished_at=at(row.finished_at),
        error=row.error,
        steps=list(row.steps or []),
        heartbeat_at=at(row.heartbeat_at),
        shadow_since=at(row.shadow_since),
        promoted_at=at(row.promoted_at),
    )
