"""The maintenance stage: retraining runs, shadow comparison, gated promotion, guard, rollback."""

from __future__ import annotations

from .api import Maintenance
from .records import (
    ACTIVE,
    STATES,
    Check,
    MaintenanceError,
    RetrainRun,
    RollbackError,
    RunInProgressError,
)

__all__ = [
    "ACTIVE",
    "STATES",
    "Check",
    "Maintenance",
    "MaintenanceError",
    "RetrainRun",
    "RollbackError",
    "RunInProgressError",
]
