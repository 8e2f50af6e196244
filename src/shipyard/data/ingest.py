"""Ingest: sources → validation → merge with the parent → artifacts → one committed version.

Nothing is lost: every received row is either in the new version's accepted
rows or in its quarantine with a reason, and the counts add up. The version
record is written last, in one transaction, after the data, quarantine and
report are stored; an ingest killed at any point before leaves no version.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from shipyard.config import DatasetConfig
from shipyard.entrypoints import load_entry_point
from shipyard.errors import BatchRejectedError
from shipyard.storage import ArtifactStore

from .sources import ROW, SOURCE, RawBatch, combine, read_source
from .validate import DTYPES, REASONS, Validated, ValidationReport, validate
from .versions import ConcurrentIngestError, DatasetVersion, VersionStore

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
ATTEMPTS = 12


@dataclass(frozen=True)
class IngestResult:
    """The version an ingest made, and the report of its validation."""

    version: DatasetVersion
    report: ValidationReport

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version.as_dict(), "report": self.report.as_dict()}


def schema_hash(dataset: DatasetConfig) -> str:
    """A hash of everything that decides what a valid row is."""
    text = json.dumps(dataset.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def to_parquet(frame: pl.DataFrame) -> bytes:
    """Canonical Parquet: fixed settings, so the same rows give the same bytes and hash."""
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", compression_level=3, statistics=True)
    return buffer.getvalue()


def ingest(
    name: str,
    dataset: DatasetConfig,
    sources: Sequence[Any],
    *,
    versions: VersionStore,
    artifacts: ArtifactStore,
    root: Path,
    mode: str | None = None,
    delimiter: str | None = None,
    progress: Progress | None = None,
) -> IngestResult:
    """Validate ``sources`` against ``dataset`` and commit them as its next version."""
    step = progress or (lambda _message: None)
    batches = []
    for source in sources:
        step(f"reading {source if isinstance(source, str | Path) else type(source).__name__}")
        batches.append(read_source(source, delimiter=delimiter))
    batch = combine(batches)
    files = [(b.source.sha256, b.source.uri) for b in batches if b.source.sha256]

    step(f"validating {batch.received:,} rows")
    custom = {
        check.name: load_entry_point(
            check.function, root=root, where=f"datasets.{name}.checks.custom.{check.name}"
        )
        for check in dataset.checks.custom
    }
    validated = validate(batch, dataset, custom=custom)
    if validated.report.rejected_by:
        _reject(name, validated.report, batches, files, versions, artifacts)

    mode = mode or dataset.mode
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return _commit(
                name, dataset, validated, batches, files, mode, versions, artifacts, step
            )
        except ConcurrentIngestError:
            if attempt == ATTEMPTS:
                raise
            # another ingest of this dataset committed first: merge onto it, after a pause
            # that grows and is jittered so that racing writers spread out
            time.sleep(random.uniform(0, min(1.0, 0.05 * 2**attempt)))
            log.info("%s moved on while ingesting; merging again (attempt %d)", name, attempt + 1)
    raise AssertionError("unreachable")


def _commit(
    name: str,
    dataset: DatasetConfig,
    validated: Validated,
    batches: list[RawBatch],
    files: list[tuple[str, str]],
    mode: str,
    versions: VersionStore,
    artifacts: ArtifactStore,
    step: Progress,
) -> IngestResult:
    parent = versions.latest(name)
    accepted, quarantine = validated.accepted, validated.quarantine
    rows = accepted
    if mode == "append" and parent is not None:
        step(f"merging with {parent.ref}")
        previous = pl.read_parquet(io.BytesIO(artifacts.get(parent.data_key)))
        rows, superseded = _merge(previous, accepted, dataset, parent.ref)
        quarantine = pl.concat([quarantine, superseded], how="diagonal_relaxed")
    if dataset.key is not None:
        rows = rows.sort(dataset.key)
    rows = rows.select(pl.col(c).cast(DTYPES[col.type]) for c, col in dataset.columns.items())

    step("storing data, quarantine and report")
    prefix = f"datasets/{name}"
    data = artifacts.put(to_parquet(rows), prefix=prefix, suffix=".parquet")
    quarantined = artifacts.put(
        to_parquet(quarantine), prefix=f"{prefix}/quarantine", suffix=".parquet"
    )
    received = sum(b.received for b in batches)
    report = ValidationReport(
        received=received,
        accepted=received - quarantine.height,
        quarantined=quarantine.height,
        checks=validated.report.checks,
    )
    report_doc = {
        "dataset": name,
        "sources": [b.source.as_dict() for b in batches],
        **report.as_dict(),
    }
    reported = artifacts.put(
        json.dumps(report_doc, sort_keys=True, default=str).encode(),
        prefix=f"{prefix}/reports",
        suffix=".json",
    )
    pending = DatasetVersion(
        dataset=name,
        version=0,
        mode=mode,
        parents=[parent.version] if parent is not None and mode == "append" else [],
        sources=[b.source.as_dict() for b in batches],
        schema_hash=schema_hash(dataset),
        rows_received=received,
        rows_accepted=report.accepted,
        rows_quarantined=report.quarantined,
        rows=rows.height,
        content_hash=data.sha256,
        data_key=data.key,
        quarantine_key=quarantined.key,
        report_key=reported.key,
    )
    step("committing the version")
    version = versions.commit(
        pending, expected_parent=parent.version if parent else None, files=files
    )
    log.info(
        "ingested %s: %d received, %d accepted, %d quarantined",
        version.ref,
        received,
        report.accepted,
        report.quarantined,
    )
    return IngestResult(version, report)


def _merge(
    previous: pl.DataFrame, incoming: pl.DataFrame, dataset: DatasetConfig, parent_ref: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Append ``incoming`` to ``previous``; rows that clash on the key go by the policy.

    Returns the merged rows and the incoming rows that did not make it, as quarantine.
    """
    key = dataset.key
    if key is None or incoming.height == 0:
        return pl.concat([previous, incoming], how="diagonal_relaxed"), _none_superseded(incoming)
    clash = incoming[key].is_in(previous[key].implode())
    if not clash.any():
        return pl.concat([previous, incoming], how="diagonal_relaxed"), _none_superseded(incoming)
    if dataset.on_duplicate_key == "reject":
        refused = incoming.filter(clash)
        reason = pl.format(f"{key}: {{}} is already in {parent_ref}", pl.col(key))
        kept = pl.concat([previous, incoming.filter(~clash)], how="diagonal_relaxed")
        return kept, _as_quarantine(refused, reason)
    # keep_latest: the newer timestamp wins; on a tie the incoming row does
    ts = dataset.timestamp
    assert ts is not None  # the project file check guarantees it
    older = incoming.join(
        previous.select(key, pl.col(ts).alias("__old_ts")),
        on=key,
        how="left",
        maintain_order="left",
    )
    loses = (pl.col("__old_ts").is_not_null() & (pl.col(ts) < pl.col("__old_ts"))).fill_null(False)
    losing = older.filter(loses).drop("__old_ts")
    winning = older.filter(~loses).drop("__old_ts")
    kept = pl.concat(
        [previous.filter(~previous[key].is_in(winning[key].implode())), winning],
        how="diagonal_relaxed",
    )
    reason = pl.format(f"{key}: {{}} has a newer row in {parent_ref} (keep_latest)", pl.col(key))
    return kept, _as_quarantine(losing, reason)


def _as_quarantine(rows: pl.DataFrame, reason: pl.Expr) -> pl.DataFrame:
    return rows.select(
        *(pl.col(c).cast(pl.String) for c in rows.columns if c not in (ROW, SOURCE)),
        pl.col(SOURCE),
        pl.col(ROW),
        pl.concat_list(reason).alias(REASONS),
    )


def _none_superseded(incoming: pl.DataFrame) -> pl.DataFrame:
    return _as_quarantine(incoming.clear(), pl.lit(""))


def _reject(
    name: str,
    report: ValidationReport,
    batches: list[RawBatch],
    files: list[tuple[str, str]],
    versions: VersionStore,
    artifacts: ArtifactStore,
) -> None:
    failed = [f"{c.name}: {c.detail}" for c in report.rejected_by]
    doc = {"dataset": name, "sources": [b.source.as_dict() for b in batches], **report.as_dict()}
    key = artifacts.put(
        json.dumps(doc, sort_keys=True, default=str).encode(),
        prefix=f"datasets/{name}/rejected",
        suffix=".json",
    ).key
    versions.record_rejection(name, key, failed, files)
    raise BatchRejectedError(
        f"batch for '{name}' rejected, no version written: " + "; ".join(failed),
        report={**doc, "report_key": key},
        hint=f"fix the data, or set datasets.{name}.checks.<check>.action: warn to accept it "
        "with a warning",
    )
