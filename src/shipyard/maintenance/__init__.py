"""The maintenance stage: retraining runs, shadow comparison, gated promotion, guard, rollback.

Its names load on first use (:mod:`shipyard.lazy`): importing one module of the
stage does not import the others."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.lazy import exports

if TYPE_CHECKING:
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

_NAMES = {
    "ACTIVE": ".records",
    "Check": ".records",
    "Maintenance": ".api",
    "MaintenanceError": ".records",
    "RetrainRun": ".records",
    "RollbackError": ".records",
    "RunInProgressError": ".records",
    "STATES": ".records",
}
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
__getattr__, __dir__ = exports(__name__, _NAMES)
