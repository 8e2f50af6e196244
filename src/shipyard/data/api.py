"""The data stage's API: what ``project.data`` offers, and what the CLI calls."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl

from shipyard.config import DatasetConfig, ProjectConfig
from shipyard.config.checks import did_you_mean
from shipyard.errors import DataError, NotFoundError, StorageError
from shipyard.storage import ArtifactStore, MetadataStore
from shipyard.storage.safe_files import write_atomic

from .csv_safe import write_csv
from .diff import DatasetDiff, diff_frames
from .ingest import IngestResult, Progress, ingest
from .selection import Selection, select, select_again
from .sources import NamedFrame
from .versions import DatasetVersion, VersionStore

EXPORT_FORMATS = (".parquet", ".csv", ".jsonl")


@dataclass(frozen=True)
class Export:
    """A file written by an export: where, how many rows, how many cells were escaped."""

    path: Path
    rows: int
    escaped: int = 0  # text cells a spreadsheet would have run as formulas, now quoted


@dataclass(frozen=True)
class DatasetSummary:
    """A declared dataset: how many versions it has and its newest one."""

    name: str
    versions: int
    latest: DatasetVersion | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "versions": self.versions,
            "latest": self.latest.as_dict() if self.latest else None,
        }


class Datasets:
    """Ingest, version, inspect and export the datasets a project declares."""

    def __init__(
        self, config: ProjectConfig, root: Path, metadata: MetadataStore, artifacts: ArtifactStore
    ) -> None:
        self._config = config
        self._root = root
        self._artifacts = artifacts
        self.versions = VersionStore(metadata)

    def config(self, name: str) -> DatasetConfig:
        """The declared schema of dataset ``name``."""
        dataset = self._config.datasets.get(name)
        if dataset is None:
            names = list(self._config.datasets)
            declared = ", ".join(names) if names else "none: declare one under 'datasets:'"
            raise NotFoundError(
                f"no dataset named '{name}' in the project file{did_you_mean(name, names)}; "
                f"declared: {declared}"
            )
        return dataset

    def ingest(
        self,
        name: str,
        *sources: Any,
        mode: str | None = None,
        delimiter: str | None = None,
        progress: Progress | None = None,
    ) -> IngestResult:
        """Validate ``sources`` (paths, SqlQuery, frames) and commit them as the next version."""
        if not sources:
            raise DataError(f"nothing to ingest into '{name}': give at least one source")
        return ingest(
            name,
            self.config(name),
            list(sources),
            versions=self.versions,
            artifacts=self._artifacts,
            root=self._root,
            mode=mode,
            delimiter=delimiter,
            progress=progress,
        )

    def summaries(self) -> list[DatasetSummary]:
        """Every declared dataset, and any with versions that is no longer declared."""
        latest = self.versions.latest_per_dataset()
        counts = self.versions.counts()
        names = list(dict.fromkeys([*self._config.datasets, *latest]))
        return [DatasetSummary(n, counts.get(n, 0), latest.get(n)) for n in names]

    def show(self, ref: str) -> DatasetVersion:
        """The version ``ref`` names (``NAME@3``, ``NAME@latest``, ``NAME@<hash prefix>``)."""
        return self.versions.resolve(ref, known=[*self._config.datasets, *self.versions.counts()])

    def log(self, name: str) -> list[DatasetVersion]:
        """Every version of ``name``, newest first."""
        if name not in self._config.datasets and not self.versions.counts().get(name):
            self.config(name)  # raises NotFoundError with the declared names
        return self.versions.log(name)

    def load(self, ref: str) -> pl.DataFrame:
        """The rows of a version (read back with their hash verified)."""
        return pl.read_parquet(io.BytesIO(self._artifacts.get(self.show(ref).data_key)))

    def select(
        self,
        name: str,
        *,
        data: str = "latest",
        window: float | None = None,
        now: datetime | None = None,
    ) -> tuple[pl.DataFrame, Selection]:
        """The rows of dataset ``name`` a run trains on: the ``latest`` version's or ``all``
        versions' (deduplicated by the key, newest wins), only those timed at or after
        ``now - window`` seconds when ``window`` is given; and the record naming them."""
        config = self.config(name)
        newest = self.versions.latest(name)
        if newest is None:
            raise NotFoundError(f"dataset '{name}' has no versions yet; ingest a batch first")
        return select(
            newest, self._versions_of(name, data), config, self._load_version,
            data=data, window=window, now=now,
        )  # fmt: skip

    def rows(self, selection: dict[str, Any]) -> pl.DataFrame:
        """The same rows again from a stored ``Selection.as_dict()``."""
        chosen = Selection.from_dict(selection)
        newest = self.show(chosen.dataset)
        return select_again(
            chosen,
            newest,
            self._versions_of(newest.dataset, chosen.data),
            self.config(newest.dataset),
            self._load_version,
        )

    def _versions_of(self, name: str, data: str) -> list[DatasetVersion]:
        return self.versions.log(name) if data == "all" else []

    def _load_version(self, version: DatasetVersion) -> pl.DataFrame:
        return pl.read_parquet(io.BytesIO(self._artifacts.get(version.data_key)))

    def quarantine(self, ref: str) -> pl.DataFrame:
        """The rows a version's ingest quarantined, as they arrived, with ``_reasons``."""
        return pl.read_parquet(io.BytesIO(self._artifacts.get(self.show(ref).quarantine_key)))

    def quarantine_rows(
        self, ref: str, *, offset: int = 0, limit: int = 50
    ) -> tuple[pl.DataFrame, int]:
        """``limit`` quarantined rows of a version from ``offset`` (as they arrived, with
        ``_reasons``), and how many there are in all: only those rows are decoded."""
        data = self._artifacts.get(self.show(ref).quarantine_key)
        rows = pl.scan_parquet(io.BytesIO(data))
        total = int(rows.select(pl.len()).collect().item())
        return rows.slice(max(offset, 0), max(limit, 0)).collect(), total

    def report(self, ref: str) -> dict[str, Any]:
        """The validation report of a version's ingest."""
        data: dict[str, Any] = json.loads(self._artifacts.get(self.show(ref).report_key))
        return data

    def export(self, ref: str, path: Path, *, raw: bool = False) -> Export:
        """Write a version to ``path`` (.parquet: the stored bytes exactly; .csv; .jsonl).

        The file appears whole or not at all, and never through a symbolic link at
        ``path`` (refused). In a CSV, text cells a spreadsheet would run as a formula
        are escaped with a leading ``'`` unless ``raw``.
        """
        version = self.show(ref)
        suffix = path.suffix.lower()
        if suffix not in EXPORT_FORMATS:
            raise DataError(
                f"cannot export to '{path.name}': the extension must be one of "
                f"{', '.join(EXPORT_FORMATS)}"
            )
        escaped = 0
        try:
            if suffix == ".parquet":
                written = self._artifacts.download(version.data_key, path)
            else:
                frame = self.load(ref)

                def write(out: BinaryIO) -> None:
                    nonlocal escaped
                    if suffix == ".csv":
                        escaped = write_csv(frame, out, raw=raw)
                    else:
                        frame.write_ndjson(out)

                written = _write_file(path, write)
        except StorageError:
            raise
        except OSError as exc:
            raise DataError(f"cannot write {path}: {exc.strerror or exc}") from None
        return Export(written.resolve(), version.rows, escaped)

    def export_quarantine(self, ref: str, path: Path) -> Export:
        """Write the rows ``ref``'s ingest quarantined, with their reasons, as CSV to ``path``.

        Formula-like cells are always escaped: these are the rows nobody vetted.
        """
        rows = self.quarantine(ref)
        escaped = 0

        def write(out: BinaryIO) -> None:
            nonlocal escaped
            escaped = write_csv(rows, out)

        written = _write_file(path, write)
        return Export(written.resolve(), rows.height, escaped)

    def diff(self, a: str, b: str) -> DatasetDiff:
        """What changed from version ``a`` to version ``b`` of one dataset."""
        first, second = self.show(a), self.show(b)
        if first.dataset != second.dataset:
            raise DataError(f"can only diff versions of one dataset, got {a} and {b}")
        key = (
            self._config.datasets[first.dataset].key
            if first.dataset in self._config.datasets
            else None
        )
        return diff_frames(first.ref, self.load(a), second.ref, self.load(b), key=key)


__all__ = ["DatasetSummary", "Datasets", "Export", "NamedFrame", "Progress", "Selection"]


def _write_file(path: Path, write: Callable[[BinaryIO], object]) -> Path:
    """``write_atomic``, with a failure of the file system said as a DataError."""
    try:
        return write_atomic(path, write)
    except StorageError:
        raise
    except OSError as exc:
        raise DataError(f"cannot write {path}: {exc.strerror or exc}") from None
