"""The data stage: schemas, sources, validation with quarantine, immutable versions."""

from __future__ import annotations

from .api import Datasets, DatasetSummary
from .diff import DatasetDiff
from .ingest import IngestResult
from .sources import SqlQuery
from .validate import ValidationReport
from .versions import DatasetVersion

__all__ = [
    "DatasetDiff",
    "DatasetSummary",
    "DatasetVersion",
    "Datasets",
    "IngestResult",
    "SqlQuery",
    "ValidationReport",
]
