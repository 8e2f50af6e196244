"""The actions page's data: a model's versions with their evaluation verdict and aliases,
its open alerts, and its recent audit trail (changes to the model and to its alerts).

Each part is read on its own; one that cannot be read is said on the page (which part
and why) and the forms that do not need it still render.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from .parts import Missing, read_part

if TYPE_CHECKING:
    from shipyard.evaluation.records import EvaluationSummary
    from shipyard.models.registry import ModelVersion
    from shipyard.monitoring.alerting import Alert
    from shipyard.project import Project
    from shipyard.storage import AuditEvent

T = TypeVar("T")
AUDIT_ROWS = 25


@dataclass
class ActionsView:
    """What the actions page of one model shows."""

    name: str
    versions: list[ModelVersion] = field(default_factory=list)
    aliases: dict[str, int] = field(default_factory=dict)
    evaluations: dict[int, EvaluationSummary] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)
    audit: list[AuditEvent] = field(default_factory=list)
    missing: list[Missing] = field(default_factory=list)

    @property
    def champion(self) -> int | None:
        return self.aliases.get("champion")

    @property
    def promotable(self) -> list[ModelVersion]:
        """Active versions whose latest evaluation passed and that are not the champion."""
        return [
            v for v in self.versions
            if v.status == "active" and v.version != self.champion
            and (e := self.evaluations.get(v.version)) is not None and e.passed
        ]  # fmt: skip

    @property
    def refused(self) -> list[ModelVersion]:
        """Versions the gate refuses: failed their latest evaluation or never evaluated."""
        passed = {v.version for v in self.promotable}
        return [
            v for v in self.versions
            if v.status == "active" and v.version != self.champion and v.version not in passed
        ]  # fmt: skip

    def verdict(self, version: int) -> str:
        found = self.evaluations.get(version)
        if found is None:
            return "not evaluated"
        return "passed" if found.passed else "failed: " + ", ".join(found.failed)


def actions_view(project: Project, name: str) -> ActionsView:
    """The actions page's data for model ``name`` (404 when there is no such model)."""
    name = project.models.known(name)
    view = ActionsView(name)
    registry = project.models.registry

    def part(what: str, read: Callable[[], T], default: T) -> T:
        return read_part(view.missing, name, what, read, default)

    view.versions = part("the versions", lambda: registry.versions(name), [])
    view.aliases = part("the aliases", lambda: registry.aliases(name), {})
    history: list[EvaluationSummary] = part(
        "the evaluations", lambda: project.evaluations.history(name, limit=500), []
    )
    for e in sorted(history, key=lambda e: e.id):
        view.evaluations[e.version] = e  # the newest per version
    view.alerts = part(
        "the open alerts", lambda: project.monitoring.alerts.list(model=name, limit=100), []
    )
    # the model's trail and its alerts' (``risk/drift``), read as such, not filtered here
    view.audit = part("the audit trail", lambda: registry.history(name, limit=AUDIT_ROWS), [])
    return view
