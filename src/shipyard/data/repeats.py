"""Recognising a batch that brings nothing new, so that it makes no empty version.

In append mode a file whose bytes are already in the latest version (ingested
into it, or into a version it was appended onto) is skipped. Without a key, a
batch whose valid rows are all rows of the latest version (a re-export of rows
already ingested, in other bytes) is nothing new; with a key, the merge already
refuses rows whose key is there, and a batch that leaves the latest version's
content unchanged is nothing new.
"""

from __future__ import annotations

import polars as pl

from shipyard.config import DatasetConfig

from .validate import ValidationReport
from .versions import DatasetVersion, VersionStore


def files_in(
    latest: DatasetVersion, dataset: DatasetConfig, current: str, versions: VersionStore
) -> dict[str, str]:
    """The sha256 of each file whose rows the latest version holds, and the version it
    came in with: the latest, and each version it was appended onto. With a key, a file
    validated under another schema is not counted (its rows may read differently now,
    and the key keeps a second ingest from duplicating them)."""
    by_number = {v.version: v for v in versions.log(latest.dataset)}
    found: dict[str, str] = {}
    version: DatasetVersion | None = latest
    while version is not None:
        if dataset.key is None or version.schema_hash == current:
            for source in version.sources:
                if source.get("sha256"):
                    found.setdefault(source["sha256"], version.ref)
        version = by_number.get(version.parents[0]) if version.parents else None
    return found


def all_in(incoming: pl.DataFrame, previous: pl.DataFrame) -> bool:
    """Whether every incoming row is already a row of ``previous``, as a whole row (for a
    dataset without a key: a re-export of rows already ingested, in other bytes)."""
    columns = [c for c in previous.columns if c in incoming.columns]
    if incoming.height == 0 or len(columns) != previous.width:
        return False
    fresh = incoming.select(columns).join(
        previous.unique(), on=columns, how="anti", nulls_equal=True
    )
    return fresh.height == 0


def unchanged(report: ValidationReport, latest: DatasetVersion, how: str) -> str:
    """Why a batch whose valid rows are all in ``latest`` makes no version."""
    how = f" {how}" if how else ""
    if not report.quarantined:
        return f"all {count(report.received, 'row')} of the batch are already in {latest.ref}{how}"
    failing = [c for c in report.checks if c.level == "row" and c.failed]
    worst = max(failing, key=lambda c: c.failed).name if failing else "row checks"
    return (
        f"the batch's {count(report.accepted, 'valid row')} are already in {latest.ref}{how}; "
        f"its other {report.quarantined:,} failed row checks (most: {worst}; see --json)"
    )


def count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"
