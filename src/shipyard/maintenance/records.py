"""The maintenance stage's records: a retraining run, its checks, and the stage's errors.

Plain frozen dataclasses that do no I/O; ``as_dict`` is what ``--json`` prints.
A run moves through ``STATES``; the ``ACTIVE`` ones hold the model's lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shipyard.errors import ShipyardError

STATES = (
    "running",
    "shadowing",
    "awaiting_approval",
    "guarding",
    "promoted",
    "rejected",
    "failed",
    "rolled_back",
)
ACTIVE = ("running", "shadowing", "awaiting_approval", "guarding")
DECISIONS = ("promoted", "rejected", "approved", "rolled_back", "failed")


class MaintenanceError(ShipyardError):
    """A maintenance step cannot be done as asked (another run holds the model, no earlier
    champion to go back to)."""

    exit_code = 1
    http_status = 409


class RunInProgressError(MaintenanceError):
    """A run of this model is already going: its id, holder and start are in the message."""


class RollbackError(MaintenanceError):
    """No version to roll back to, or the one named cannot be."""


@dataclass(frozen=True)
class Check:
    """One check of a run, with its figures; ``passed`` None means not judged (see ``detail``)."""

    name: str
    passed: bool | None
    figures: dict[str, Any] = field(default_factory=dict)
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "figures": dict(self.figures),
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Check:
        return cls(
            name=str(data["name"]),
            passed=data.get("passed"),
            figures=dict(data.get("figures") or {}),
            detail=str(data.get("detail") or ""),
        )


@dataclass(frozen=True)
class RetrainRun:
    """One retraining run of one model, from its trigger to its decision."""

    id: int
    model: str
    state: str
    trigger: str
    reason: str | None
    dataset: str | None
    feedback: dict[str, Any] | None
    candidate: int | None
    champion: int | None
    checks: list[Check]
    comparison: dict[str, Any] | None
    decision: str | None
    decided_by: str | None
    holder: str
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    error: str | None
    steps: list[dict[str, Any]]
    heartbeat_at: datetime | None = None
    shadow_since: datetime | None = None
    promoted_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def candidate_ref(self) -> str | None:
        return None if self.candidate is None else f"{self.model}@{self.candidate}"

    @property
    def duration_s(self) -> float:
        """Seconds from start to finish (to the last update while still active)."""
        end = self.finished_at or self.updated_at
        return max(0.0, (end - self.started_at).total_seconds())

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    def as_dict(self) -> dict[str, Any]:
        def iso(at: datetime | None) -> str | None:
            return None if at is None else at.isoformat()

        return {
            "id": self.id,
            "model": self.model,
            "state": self.state,
            "trigger": self.trigger,
            "reason": self.reason,
            "dataset": self.dataset,
            "feedback": self.feedback,
            "candidate": self.candidate,
            "champion": self.champion,
            "checks": [c.as_dict() for c in self.checks],
            "comparison": self.comparison,
            "decision": self.decision,
            "decided_by": self.decided_by,
            "holder": self.holder,
            "started_at": iso(self.started_at),
            "updated_at": iso(self.updated_at),
            "finished_at": iso(self.finished_at),
            "duration_s": round(self.duration_s, 3),
            "error": self.error,
            "steps": [dict(s) for s in self.steps],
            "heartbeat_at": iso(self.heartbeat_at),
            "shadow_since": iso(self.shadow_since),
            "promoted_at": iso(self.promoted_at),
        }
