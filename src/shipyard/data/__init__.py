"""The data stage: schemas, sources, validation with quarantine, immutable versions.

Its names load on first use (:mod:`shipyard.lazy`): importing one module of the
stage does not import the others."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.lazy import exports

if TYPE_CHECKING:
    from .api import Datasets, DatasetSummary, Export
    from .diff import DatasetDiff
    from .ingest import IngestResult
    from .names import to_column_names
    from .selection import Selection
    from .sources import NamedFrame, RawBatch, SourceInfo, SqlQuery
    from .validate import DTYPES, ValidationReport, validate_rows
    from .versions import DatasetVersion

_NAMES = {
    "DatasetDiff": ".diff",
    "Datasets": ".api",
    "DatasetSummary": ".api",
    "DatasetVersion": ".versions",
    "DTYPES": ".validate",
    "Export": ".api",
    "IngestResult": ".ingest",
    "NamedFrame": ".sources",
    "RawBatch": ".sources",
    "SourceInfo": ".sources",
    "validate_rows": ".validate",
    "Selection": ".selection",
    "SqlQuery": ".sources",
    "ValidationReport": ".validate",
    "to_column_names": ".names",
}
__all__ = [
    "DTYPES",
    "DatasetDiff",
    "DatasetSummary",
    "DatasetVersion",
    "Datasets",
    "Export",
    "IngestResult",
    "NamedFrame",
    "RawBatch",
    "Selection",
    "SourceInfo",
    "SqlQuery",
    "ValidationReport",
    "to_column_names",
    "validate_rows",
]
__getattr__, __dir__ = exports(__name__, _NAMES)
