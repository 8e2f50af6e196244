"""Where a run's answers and quarantined rows go, written so a killed run leaves no
file that looks complete.

:class:`Answers` writes Parquet or CSV to a hidden temporary name in the output's own
folder (``.NAME.RUN.partial``) and renames it into place only when the run has scored
every row (:meth:`Answers.commit`); a run that fails removes it, a run killed mid-way
leaves only the hidden partial file. Without an output file the answers go to the
artifact store. :class:`Quarantine` collects refused rows in a local temporary Parquet
file and stores it in the artifact store at the end.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from shipyard.errors import DataError
from shipyard.storage import ArtifactStore

from .chunk import PREDICTION
from .records import BatchRun

OUTPUT_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


def output_format(path: Path) -> str:
    """The format ``path``'s extension names; a one-line error for any other."""
    kind = OUTPUT_FORMATS.get(path.suffix.lower())
    if kind is None:
        raise DataError(
            f"--out {path}: cannot write answers as '{path.suffix or '(no extension)'}'",
            hint="name a .parquet or .csv file",
        )
    if not path.parent.is_dir():
        raise DataError(f"--out {path}: the folder {path.parent} does not exist")
    if path.is_dir():
        raise DataError(f"--out {path}: is a folder; name a file in it")
    return kind


class _TableFile:
    """A Parquet or CSV file written table by table, its schema taken from the first."""

    def __init__(self, path: Path, kind: str, *, dictionary: bool | list[str] = True) -> None:
        self.path = path
        self.kind = kind
        self.dictionary = dictionary
        self._writer: Any = None
        self._schema: pa.Schema | None = None
        self._empty: pa.Table | None = None
        self._closed = False

    def write(self, table: pa.Table) -> None:
        if not table.num_rows:
            self._empty = self._empty or table
            return
        if self._writer is None:
            self._schema = table.schema
            if self.kind == "parquet":
                self._writer = pq.ParquetWriter(
                    self.path, table.schema, compression="zstd", use_dictionary=self.dictionary
                )
            else:
                import pyarrow.csv as pcsv

                self._writer = pcsv.CSVWriter(self.path, table.schema)
        elif table.schema != self._schema:
            assert self._schema is not None
            table = table.cast(self._schema)
        self._writer.write_table(table)

    def close(self) -> None:
        """Finish the file (an empty table's schema when no row came); again: nothing."""
        if self._closed:
            return
        self._closed = True
        if self._writer is None and self._empty is not None:
            self.write_empty(self._empty)
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def write_empty(self, table: pa.Table) -> None:
        if self.kind == "parquet":
            pq.write_table(table, self.path)
        else:
            import pyarrow.csv as pcsv

            pcsv.write_csv(table, self.path)

    @property
    def written(self) -> bool:
        return self._writer is not None or self._empty is not None


class Answers:
    """The answers of one run: to ``path`` (renamed into place at the end) or, without
    one, to the artifact store. ``empty``: what a run with no rows writes (the columns and
    types of the answers, no rows), in the format asked."""

    def __init__(
        self, path: Path | None, run: BatchRun, artifacts: ArtifactStore, empty: pa.Table
    ) -> None:
        self.path = path
        self.run = run
        self.artifacts = artifacts
        self.empty = empty
        if path is not None:
            kind = output_format(path)
            self._tmp = path.parent / f".{path.name}.{run.run_id}.partial"
        else:
            kind = "parquet"
            handle, name = tempfile.mkstemp(prefix="shipyard-answers-", suffix=".parquet")
            os.close(handle)
            self._tmp = Path(name)
        # only the labels repeat: a dictionary tried on the ids and probabilities and
        # given up costs as much as writing them (1 M answers: 0.2 s of 0.4 s)
        self._file = _TableFile(self._tmp, kind, dictionary=[PREDICTION])

    def write(self, table: pa.Table) -> None:
        self._file.write(table)

    def commit(self) -> str:
        """Close the file and put it in place; where the answers are (a path or a key)."""
        if not self._file.written:  # no rows read: the columns of the answers, no rows
            self._file.write(self.empty)
        self._file.close()
        if self.path is not None:
            with self._tmp.open("rb") as handle:
                os.fsync(handle.fileno())
            self._tmp.replace(self.path)
            return str(self.path)
        return _stored(self.artifacts, self.run, "answers", self._file, self._tmp)

    def abort(self) -> None:
        """Remove what was written (a failed run leaves no answers)."""
        _discard(self._file, self._tmp)


class Quarantine:
    """The refused rows of one run, stored in the artifact store at the end."""

    def __init__(self, run: BatchRun, artifacts: ArtifactStore) -> None:
        self.run = run
        self.artifacts = artifacts
        self.rows = 0
        handle, name = tempfile.mkstemp(prefix="shipyard-quarantine-", suffix=".parquet")
        os.close(handle)
        self._tmp = Path(name)
        self._file = _TableFile(self._tmp, "parquet")

    def write(self, table: pa.Table) -> None:
        self.rows += table.num_rows
        if table.num_rows:
            self._file.write(table)

    def commit(self) -> str | None:
        """Store the refused rows; their key (``None`` when there were none)."""
        if not self.rows:  # nothing was written to it
            _discard(self._file, self._tmp)
            return None
        return _stored(self.artifacts, self.run, "quarantine", self._file, self._tmp)

    def abort(self) -> None:
        _discard(self._file, self._tmp)


def _stored(artifacts: ArtifactStore, run: BatchRun, what: str, file: _TableFile, tmp: Path) -> str:
    """Close ``file`` and put what it wrote, ``tmp``, in the store under
    ``batch/MODEL/RUN/{what}``, then remove ``tmp`` (also when either fails); its key."""
    try:
        file.close()
        prefix = f"batch/{run.model}/{run.run_id}/{what}"
        return artifacts.put_file(tmp, prefix=prefix, suffix=".parquet").key
    finally:
        tmp.unlink(missing_ok=True)


def _discard(file: _TableFile, tmp: Path) -> None:
    """Close ``file`` if it can be, and remove what it wrote."""
    with contextlib.suppress(Exception):
        file.close()
    tmp.unlink(missing_ok=True)
