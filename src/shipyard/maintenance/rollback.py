"""Rollback: move ``champion`` back to the previous champion the audit trail names.

The champion's history is replayed from the model's alias events, oldest first:
each move pushes the version it went to; a rollback pops the version it left,
so rolling back twice goes two champions back, never forth to the bad one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shipyard.errors import ConfigError
from shipyard.models import Models, ModelVersion
from shipyard.storage import AuditEvent, history, record

from .records import RetrainRun, RollbackError
from .repository import RunStore

CHAMPION = "champion"
ROLLED_BACK = ("model.rolled_back", "guard.rolled_back")


def champions(events: Iterable[AuditEvent]) -> list[int]:
    """The champion's versions in order (oldest first), as the audit trail tells it."""
    stack: list[int] = []
    for event in sorted(events, key=lambda e: e.id):
        detail = event.detail
        if event.action in ("alias.set", "alias.moved") and detail.get("alias") == CHAMPION:
            stack.append(int(detail["to"]))
        elif event.action == "alias.deleted" and detail.get("alias") == CHAMPION:
            stack.clear()
        elif event.action in ROLLED_BACK and detail.get("to") is not None:
            target = int(detail["to"])
            if stack and stack[-1] == target:
                stack.pop()  # the alias move of this same rollback
            if stack and stack[-1] == detail.get("from"):
                stack.pop()  # the version rolled back from is forgotten
            if not stack or stack[-1] != target:
                stack.append(target)
    return stack


def previous_champion(events: Iterable[AuditEvent], current: int, usable: set[int]) -> int | None:
    """The newest champion before ``current`` that is still an active version."""
    for version in reversed(champions(events)):
        if version != current and version in usable:
            return version
    return None


def roll_back(
    models: Models,
    runs: RunStore,
    name: str,
    *,
    to: int | None,
    reason: str | None,
    action: str = "model.rolled_back",
    run: RetrainRun | None = None,
    run_fields: dict[str, Any] | None = None,
) -> tuple[int, int]:
    """Point ``name``'s champion at ``to`` (default: the previous champion) in one transaction
    with its audit event (and the run's new state when ``run`` is given). (from, to)."""
    if not (reason and reason.strip()):
        raise ConfigError(
            "a rollback needs a reason: it is written to the audit log",
            hint=f'shipyard rollback {name} --reason "why"',
        )
    registry = models.registry
    models.config(name)  # an unknown model is a NotFoundError naming the known ones
    current = registry.aliases(name).get(CHAMPION)
    if current is None:
        raise RollbackError(
            f"model '{name}' has no champion, so there is nothing to roll back",
            hint=f"promote a version first: shipyard promote {name}@V --to champion",
        )
    active = {v.version for v in registry.versions(name) if v.status == "active"}
    if to is None:
        events = history(runs.store, subject=name, limit=100_000)
        chosen = previous_champion(events, current, active)
        if chosen is None:
            raise RollbackError(
                f"model '{name}' has no earlier champion than v{current} to roll back to",
                hint=f"name one: shipyard rollback {name} --to V --reason ...",
            )
        to = chosen
    if to == current:
        raise RollbackError(
            f"{name}@{to} is already the champion", hint="name another version with --to"
        )
    target: ModelVersion = registry.resolve(f"{name}@{to}")
    if target.status != "active":
        raise RollbackError(
            f"{target.ref} is {target.status}; only an active version can be champion"
        )
    with runs.store.transaction() as conn:
        # the registry's own alias move, inside this transaction: the move, its event and
        # the run's new state are written together or not at all
        before = registry.move_alias_in(conn, target, CHAMPION, reason)
        record(
            conn,
            action,
            name,
            detail={"from": before, "to": target.version, "run": run.id if run else None},
            reason=reason,
        )
        if run is not None:
            runs.update(run.id, conn=conn, **(run_fields or {}))
    return int(before if before is not None else current), target.version
