"""Ingest: sources → validation → merge with the parent → artifacts → one committed version.

Nothing is lost: every received row is either in the new version's accepted
rows or in its quarantine with a reason, and the counts add up. The version
record is written last, in one transaction, after the data, quarantine and
report are stored; an ingest killed at any point before leaves no version.

A batch with more than ``checks.max_quarantined`` of its rows failing row
checks is still written (its quarantine is there to inspect), and the result says
so (``too_many_quarantined``, naming the check that took most rows): ``data
ingest`` then exits 1. A batch that brings nothing new writes no version (see
:mod:`.repeats`); the result says why (``nothing_new``).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl

from shipyard.config import DatasetConfig
from shipyard.entrypoints import load_entry_point
from shipyard.errors import BatchRejectedError
from shipyard.storage import ArtifactStore

from .names import to_column_names
from .repeats import all_in, count, files_in, unchanged
from .sources import ROW, SOURCE, RawBatch, combine, read_source
from .validate import DTYPES, REASONS, CheckResult, Validated, ValidationReport, validate
from .versions import ConcurrentIngestError, DatasetVersion, VersionStore

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
ATTEMPTS = 12


@dataclass(frozen=True)
class IngestResult:
    """The version an ingest made, and the report of its validation.

    When the batch brought nothing new, ``nothing_new`` says why and ``version`` is
    the latest version, which already holds the rows. ``skipped`` names the files
    left out because their bytes are already in the latest version.
    ``too_many_quarantined`` says so when more of the batch failed row checks than
    ``checks.max_quarantined`` allows: the version is written, the ingest is no success.
    """

    version: DatasetVersion
    report: ValidationReport
    nothing_new: str | None = field(default=None, kw_only=True)
    skipped: tuple[str, ...] = field(default=(), kw_only=True)
    too_many_quarantined: str | None = field(default=None, kw_only=True)

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version.as_dict(),
            "report": self.report.as_dict(),
            "nothing_new": self.nothing_new,
            "skipped": list(self.skipped),
            "too_many_quarantined": self.too_many_quarantined,
        }


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
    mode = mode or dataset.mode
    batches = []
    for source in sources:
        step(f"reading {source if isinstance(source, str | Path) else type(source).__name__}")
        raw = read_source(source, delimiter=delimiter)
        frame = to_column_names(raw.frame, dataset, raw.source.uri)
        batches.append(RawBatch(frame, raw.source, raw.ragged))
    skipped: tuple[str, ...] = ()
    parent = versions.latest(name)
    if mode == "append" and parent is not None:
        current = schema_hash(dataset)
        already = files_in(parent, dataset, current, versions)
        repeats = [(b, already[b.source.sha256]) for b in batches if b.source.sha256 in already]
        skipped = tuple(f"{b.source.uri} (already in {ref})" for b, ref in repeats)
        batches = [b for b in batches if b.source.sha256 not in already]
        if not batches:
            reason = f"already in {parent.ref}: " + ", ".join(
                Path(b.source.uri).name + (f" (since {ref})" if ref != parent.ref else "")
                for b, ref in repeats
            )
            if parent.schema_hash != current:  # its quarantined rows are not looked at again
                reason += (
                    f"; the schema changed since {parent.ref}, and what it quarantined then "
                    "stays out: ingest with --mode replace to validate the files again under "
                    "the new schema"
                )
            return _nothing_new(parent, reason, [b for b, _ in repeats], [], versions, skipped)
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
    alarm = _too_many_quarantined(name, dataset, validated)

    for attempt in range(1, ATTEMPTS + 1):
        try:
            result = _commit(
                name, dataset, validated, batches, files, mode, versions, artifacts, step,
                may_be_unchanged=alarm is None,
            )  # fmt: skip
            if alarm is not None:
                log.info("%s: %s", result.version.ref, alarm)  # the caller says it (CLI: exit 1)
            return replace(result, skipped=skipped, too_many_quarantined=alarm)
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
    *,
    may_be_unchanged: bool,
) -> IngestResult:
    parent = versions.latest(name)
    accepted, quarantine = validated.accepted, validated.quarantine
    rows = accepted
    if mode == "append" and parent is not None:
        step(f"merging with {parent.ref}")
        previous = pl.read_parquet(io.BytesIO(artifacts.get(parent.data_key)))
        if may_be_unchanged and dataset.key is None and all_in(accepted, previous):
            reason = unchanged(validated.report, parent, "as whole rows")
            return _nothing_new(parent, reason, batches, files, versions, (), validated.report)
        rows, superseded = _merge(previous, accepted, dataset, parent.ref)
        quarantine = pl.concat([quarantine, superseded], how="diagonal_relaxed")
    if dataset.key is not None:
        rows = rows.sort(dataset.key)
    rows = rows.select(pl.col(c).cast(DTYPES[col.type]) for c, col in dataset.columns.items())
    content = to_parquet(rows)
    if (
        may_be_unchanged
        and parent is not None
        and hashlib.sha256(content).hexdigest() == parent.content_hash
    ):
        reason = unchanged(validated.report, parent, "")
        return _nothing_new(parent, reason, batches, files, versions, (), validated.report)

    step("storing data, quarantine and report")
    prefix = f"datasets/{name}"
    data = artifacts.put(content, prefix=prefix, suffix=".parquet")
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


def _nothing_new(
    latest: DatasetVersion,
    reason: str,
    batches: list[RawBatch],
    files: list[tuple[str, str]],
    versions: VersionStore,
    skipped: tuple[str, ...],
    report: ValidationReport | None = None,
) -> IngestResult:
    versions.record_unchanged(latest, reason, [b.source.uri for b in batches], files)
    log.info("nothing new for %s: %s", latest.dataset, reason)
    if report is None:  # files skipped unread by validation: their rows are all in latest
        received = sum(b.received for b in batches)
        report = ValidationReport(received=received, accepted=0, quarantined=0)
    return IngestResult(latest, report, nothing_new=reason, skipped=skipped)


def _too_many_quarantined(name: str, dataset: DatasetConfig, validated: Validated) -> str | None:
    """What to say when more of the batch failed row checks than ``max_quarantined`` allows."""
    report, limit = validated.report, dataset.checks.max_quarantined
    if report.received == 0 or report.quarantined <= limit * report.received:
        return None
    message = (
        f"{report.quarantined:,} of {report.received:,} rows "
        f"({report.quarantined / report.received:.0%}) quarantined, more than "
        f"datasets.{name}.checks.max_quarantined allows ({limit:.0%})"
    )
    failing = [c for c in report.checks if c.level == "row" and c.failed]
    if failing:
        worst = max(failing, key=lambda c: c.failed)
        message += f"; most by {worst.name} ({count(worst.failed, 'row')})"
        example = _example(validated.quarantine, worst)
        if example:
            message += f", e.g. {example}"
    return message


def _example(quarantine: pl.DataFrame, check: CheckResult) -> str | None:
    """The first quarantined row's reason from ``check``, with where the row came from."""
    for row in quarantine.head(10_000).iter_rows(named=True):
        for reason in row[REASONS] or []:
            if check.column is not None and not reason.startswith(f"{check.column}:"):
                continue
            if check.name.startswith("custom:") and check.name[7:] not in reason:
                continue
            where = f"{Path(str(row[SOURCE])).name} row {row[ROW]}"
            return f"{where}: {reason}"
    return None
