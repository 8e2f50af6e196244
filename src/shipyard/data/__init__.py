"""The data stage: schemas, sources, validation with quarantine, immutable versions."""

from __future__ import annotations

from .api import Datasets, DatasetSummary, Export
from .diff import DatasetDiff
from .ingest import IngestResult
from .selection import Selection
from .sources import NamedFrame, SqlQuery
from .validate import DTYPES, ValidationReport
from .versions import DatasetVersion

__all__ = [
    "DTYPES",
    "DatasetDiff",
    "DatasetSummary",
    "DatasetVersion",
    "Datasets",
    "Export",
    "IngestResult",
    "NamedFrame",
    "Selection",
    "SqlQuery",
    "ValidationReport",
]
