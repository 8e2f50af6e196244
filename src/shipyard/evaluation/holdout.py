"""Holdouts: the rows a version is scored on, and whether shipyard kept them apart from training.

A version has a *recorded* holdout when shipyard can vouch that its rows were kept
apart from the rows the model learned from:

- ``split``: shipyard trained it (``shipyard train``) and recorded the split rule;
- ``dataset``: a dataset version named at registration (``register(..., holdout="loans@3")``);
- ``frame``: rows handed over at registration (``holdout=frame``), checked against the
  model's columns and kept as a Parquet artifact.

``data`` is a dataset version named at evaluation (``--data``): the user vouches for
it. A named dataset version (either way) is scored less the rows it shares with the
version the model was registered with. Anything else is ``none`` (so is a named
version all of whose rows it was registered with): scored all the same, the report says
:data:`NO_HOLDOUT`, and the gates refuse unless the project opts in
(``models.NAME.evaluation.allow_unrecorded_holdout``).
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import polars as pl

from shipyard.data import DTYPES
from shipyard.errors import ConfigError, DataError

from .report import CheckOutcome

NO_HOLDOUT = "no recorded holdout: scored on rows the model may have trained on"
RECORDED = ("split", "dataset", "frame")
SHOWN_COLUMNS = 10  # missing columns named in one error


@dataclass(frozen=True)
class Holdout:
    """Where the scored rows came from, in words, and whether they were kept apart."""

    kind: str  # split, dataset, frame (recorded); data (--data); none
    rows_from: str  # what the report names as its data, e.g. "loans@1 (holdout)"
    detail: str  # one sentence on how the rows were kept apart, or why they were not
    allowed: bool = False  # the project accepts an evaluation without a recorded holdout

    @property
    def recorded(self) -> bool:
        return self.kind in RECORDED

    @property
    def note(self) -> str:
        """The warning a reader must see, or "" when the rows were kept apart or named."""
        return "" if self.kind != "none" else NO_HOLDOUT

    def check(self, model: str) -> CheckOutcome:
        """The ``holdout`` check: fails on rows nobody kept apart, unless the project allows it."""
        if self.kind != "none":
            return CheckOutcome("holdout", "holdout", True, None, "rows kept apart", self.detail)
        key = f"models.{model}.evaluation.allow_unrecorded_holdout"
        if self.allowed:
            return CheckOutcome(
                "holdout", "holdout", True, None, "rows kept apart", f"{self.detail} (allowed by {key})"
            )  # fmt: skip
        return CheckOutcome(
            "holdout", "holdout", False, None, "rows kept apart",
            f"{self.detail}; register the version with holdout=, evaluate it with "
            f"--data DATASET@N, or set {key}: true",
        )  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "recorded": self.recorded, "note": self.note}


def labelled_rows(
    frame: pl.DataFrame,
    *,
    features: list[str],
    target: str,
    task: str,
    classes: list[Any] | None,
    where: str,
    hint: str | None = None,
    rare_unknown: bool = False,
) -> pl.DataFrame:
    """The rows of ``frame`` with a target, after checking they can score the model.

    Refuses (one line naming what is wrong) rows that lack the model's features or
    target (with ``hint``), that have no labelled row, or whose target cannot be the
    model's answer: text for a regression model, or for a classifier any label it does
    not know (its metrics would be computed over classes it cannot answer, some silently
    dropped). With ``rare_unknown`` (rows shipyard itself split off the training data, where a
    label too rare to reach the training part may still reach the holdout) such rows are
    misses to count unless they are most of the rows.
    """
    missing = [c for c in [*features, target] if c not in frame.columns]
    if missing:
        shown = ", ".join(missing[:SHOWN_COLUMNS])
        more = f" and {len(missing) - SHOWN_COLUMNS} more" if len(missing) > SHOWN_COLUMNS else ""
        raise DataError(
            f"{where} lacks {len(missing)} of the model's columns: {shown}{more}", hint=hint
        )
    labelled = frame.filter(pl.col(target).is_not_null())
    if labelled.height == 0:
        raise DataError(
            f"{where} has no rows with a value in '{target}' ({frame.height} rows in all): "
            "nothing to score",
            hint=f"name a dataset version whose '{target}' is filled in",
        )
    column = labelled[target]
    if task == "regression":
        if not column.dtype.is_numeric():
            raise DataError(
                f"'{target}' in {where} holds {column.dtype} values, not numbers: "
                "a regression model is scored on numbers",
                hint="is it a version of the dataset the model learns from?",
            )
    elif classes:  # a label it never learned cannot be scored: every metric would bend
        known = list(classes)
        counts = column.value_counts()
        unknown = [(v, n) for v, n in counts.iter_rows() if v not in known]
        strangers = sum(n for _, n in unknown)
        if unknown and not (rare_unknown and strangers * 2 <= labelled.height):
            shown = ", ".join(repr(v) for v, _ in sorted(unknown, key=lambda u: -u[1])[:5])
            raise DataError(
                f"'{target}' in {where} holds labels the model never predicts in {strangers:,} "
                f"of {labelled.height:,} rows: {shown}{' ...' if len(unknown) > 5 else ''} "
                f"(its classes: {', '.join(map(repr, known))})",
                hint="evaluate on rows labelled with the model's classes, or retrain it on data "
                "that has the new label (is the version one of the dataset it learns from?)",
            )
    return labelled


def as_polars(rows: Any) -> pl.DataFrame:
    """A pandas or polars DataFrame as polars; anything else is refused."""
    if isinstance(rows, pl.DataFrame):
        return rows
    if type(rows).__module__.startswith("pandas") and hasattr(rows, "columns"):
        frame = rows.reset_index(drop=True)
        frame.columns = [str(c) for c in frame.columns]
        return pl.from_pandas(frame)
    raise ConfigError(
        f"holdout= takes a dataset version like 'loans@3' or a pandas or polars DataFrame, "
        f"not {type(rows).__name__}"
    )


def typed(frame: pl.DataFrame, columns: dict[str, Any], *, where: str) -> pl.DataFrame:
    """The schema's columns of ``frame`` (those it has), each cast to its declared type."""
    casts = []
    for name, spec in columns.items():
        if name not in frame.columns:
            continue
        dtype = DTYPES[spec.type]
        source = frame.schema[name]
        if spec.type == "datetime" and source == pl.String:
            casts.append(pl.col(name).str.to_datetime(time_zone="UTC", strict=True))
        elif spec.type == "datetime" and isinstance(source, pl.Datetime):
            zoned = source.time_zone is not None
            when = (
                pl.col(name).dt.convert_time_zone("UTC")
                if zoned
                else pl.col(name).dt.replace_time_zone("UTC")
            )
            casts.append(when.dt.cast_time_unit("us"))
        else:
            casts.append(pl.col(name).cast(dtype, strict=True))
    try:
        return frame.select(casts)
    except (pl.exceptions.PolarsError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"{where} does not fit the dataset's column types: {first}",
            hint="give the columns the types the dataset declares (numbers as numbers, not text)",
        ) from None


def parquet(frame: pl.DataFrame) -> bytes:
    """``frame`` as Parquet bytes (what a holdout handed over as rows is stored as)."""
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def read_parquet(data: bytes) -> pl.DataFrame:
    return pl.read_parquet(io.BytesIO(data))


def shared_rows(rows: pl.DataFrame, other: pl.DataFrame) -> pl.Series:
    """Which of ``rows`` are also in ``other``, value for value in the columns both have."""
    common = [c for c in rows.columns if c in other.columns]
    if not common or rows.height == 0 or other.height == 0:
        return pl.Series("shared", [False] * rows.height, dtype=pl.Boolean)
    mine = rows.select(common).hash_rows(seed=0).to_frame("row").with_row_index("at")
    theirs = other.select(common).hash_rows(seed=0).unique().to_frame("row")
    found = np.zeros(rows.height, dtype=bool)
    found[mine.join(theirs, on="row", how="semi")["at"].to_numpy()] = True
    return pl.Series("shared", found)
