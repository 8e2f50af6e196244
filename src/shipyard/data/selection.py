"""Training data for a run: which rows of a dataset a model learns from.

``latest`` is the newest version's rows; ``all`` is every version's rows (a
version in append mode already holds its parent's, so only the versions no later
version builds on are read), deduplicated by the key when the dataset has one,
the newest version winning. A ``window`` keeps the rows whose timestamp is at
least ``now - window``. A :class:`Selection` records what was chosen, so that
:func:`select_again` gives exactly the same rows back later (for the holdout).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from shipyard.config import DatasetConfig
from shipyard.errors import DataError

from .validate import DTYPES
from .versions import DatasetVersion

DATA = ("latest", "all")

Loader = Callable[[DatasetVersion], pl.DataFrame]


@dataclass(frozen=True)
class Selection:
    """The rows a run trained on: the dataset version, the rule, and how many rows."""

    dataset: str  # the newest version at selection time, e.g. "loans@7"
    data: str  # "latest" or "all"
    window_s: float | None
    since: datetime | None  # rows timed at or after this (a window), else None
    rows: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "data": self.data,
            "window_s": self.window_s,
            "since": self.since.isoformat() if self.since is not None else None,
            "rows": self.rows,
        }

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> Selection:
        """A selection back from its ``as_dict()`` (as a model version's training stores it)."""
        try:
            since = stored.get("since")
            return cls(
                dataset=str(stored["dataset"]),
                data=str(stored.get("data", "latest")),
                window_s=None if stored.get("window_s") is None else float(stored["window_s"]),
                since=None if since is None else datetime.fromisoformat(str(since)),
                rows=int(stored["rows"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(
                f"not a stored selection of training rows: {stored!r} ({exc})"
            ) from None


def chosen_versions(newest: DatasetVersion, versions: list[DatasetVersion]) -> list[DatasetVersion]:
    """The versions whose rows make ``all`` up to ``newest``, newest first: each one
    that no chosen later version descends from (append mode holds its parents' rows)."""
    by_number = {v.version: v for v in versions if v.version <= newest.version}
    covered: set[int] = set()
    chosen = []
    for number in sorted(by_number, reverse=True):
        if number in covered:
            continue
        chosen.append(by_number[number])
        todo = list(by_number[number].parents)
        while todo:  # every ancestor of a chosen version is already in it
            parent = todo.pop()
            if parent not in covered and parent in by_number:
                covered.add(parent)
                todo += by_number[parent].parents
    return chosen


def select_rows(
    newest: DatasetVersion,
    versions: list[DatasetVersion],
    config: DatasetConfig,
    load: Loader,
    *,
    data: str,
    since: datetime | None,
) -> pl.DataFrame:
    """The rows ``data`` and ``since`` choose, as of ``newest``, in a fixed order."""
    if data not in DATA:
        raise DataError(f"data: expected one of {', '.join(DATA)}, got {data!r}")
    if data == "latest":
        rows = _shaped(load(newest), config)
    else:
        frames = [_shaped(load(v), config) for v in chosen_versions(newest, versions)]
        rows = pl.concat(frames, how="vertical")
        if config.key is not None:  # newest version first: its row wins
            rows = rows.unique(config.key, keep="first", maintain_order=True).sort(config.key)
    if since is not None:
        ts = config.timestamp
        if ts is None:
            raise DataError(
                f"a sliding window needs a 'timestamp' column; dataset '{newest.dataset}' "
                "declares none",
                hint=f"declare datasets.{newest.dataset}.timestamp, or drop retrain.window",
            )
        rows = rows.filter(pl.col(ts) >= since)
    return rows


def select(
    newest: DatasetVersion,
    versions: list[DatasetVersion],
    config: DatasetConfig,
    load: Loader,
    *,
    data: str = "latest",
    window: float | None = None,
    now: datetime | None = None,
) -> tuple[pl.DataFrame, Selection]:
    """Choose the rows (see the module docstring) and the record that names them."""
    since = None
    if window is not None:
        if window <= 0:
            raise DataError(f"window: expected a duration above 0 seconds, got {window}")
        since = (now or datetime.now(UTC)).astimezone(UTC) - timedelta(seconds=window)
    rows = select_rows(newest, versions, config, load, data=data, since=since)
    if rows.height == 0:
        what = f" with a timestamp since {since.isoformat()}" if since is not None else ""
        raise DataError(
            f"no rows of {newest.ref} ({data}){what} to train on",
            hint="ingest newer data, or widen retrain.window" if since else "ingest data first",
        )
    return rows, Selection(newest.ref, data, window, since, rows.height)


def select_again(
    selection: Selection,
    newest: DatasetVersion,
    versions: list[DatasetVersion],
    config: DatasetConfig,
    load: Loader,
) -> pl.DataFrame:
    """The same rows a stored selection chose (its count checked)."""
    rows = select_rows(newest, versions, config, load, data=selection.data, since=selection.since)
    if rows.height != selection.rows:
        raise DataError(
            f"the selection of {selection.dataset} ({selection.data}) gives {rows.height} rows "
            f"now, but {selection.rows} when it was made; its versions changed",
        )
    return rows


def _shaped(frame: pl.DataFrame, config: DatasetConfig) -> pl.DataFrame:
    """A version's rows in the declared columns and types (a column an older version
    lacks is null), so versions of a changed schema can be put together."""
    return frame.select(
        (pl.col(name) if name in frame.columns else pl.lit(None)).cast(DTYPES[col.type]).alias(name)
        for name, col in config.columns.items()
    )
