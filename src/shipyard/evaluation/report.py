"""The records an evaluation produces: one outcome per check, and the report around them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class CheckOutcome:
    """One check: what it is, whether it passed, the number, what was needed, failing cases."""

    name: str
    kind: str  # holdout, gate, champion, slice, golden, invariance, directional, minimum, latency
    passed: bool
    value: float | None = None
    expected: str = ""
    detail: str = ""
    failures: list[dict[str, Any]] = field(default_factory=list)  # the first few failing cases


@dataclass(frozen=True)
class EvaluationReport:
    """Everything ``shipyard evaluate`` found about one model version."""

    model: str
    version: int
    dataset: str | None
    rows: int
    metrics: dict[str, float]
    checks: list[CheckOutcome]
    champion: dict[str, Any] | None = None
    # the rows' provenance: kind (split, dataset, frame, data, none), rows_from, detail,
    # recorded, note (the warning when no holdout was recorded); empty when not known
    holdout: dict[str, Any] = field(default_factory=dict)
    slices: list[dict[str, Any]] = field(default_factory=list)
    curves: dict[str, Any] = field(default_factory=dict)
    latency: dict[str, float] = field(default_factory=dict)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failed(self) -> list[CheckOutcome]:
        return [check for check in self.checks if not check.passed]

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ref"] = self.ref
        data["passed"] = self.passed
        data["created_at"] = self.created_at.isoformat()
        return data
