"""Feedback as training data: served inputs joined with their labels, as dataset rows.

The labels that *arrived* in ``[since, until)`` are joined by ``prediction_id`` to
the live predictions made up to :data:`LABEL_LOOKBACK_S` before ``since`` (labels
come late); the newest label of an id wins. Each joined row becomes a row of the
model's dataset: the features as served, the target from the label, the timestamp
column (when declared) from the prediction's time, the key column from the
prediction id when the key is a string column; any other column is empty, so the
dataset's own validation decides (a required one sends the row to quarantine with
its reason). Nothing is dropped unseen: labels for ids no live prediction carries,
labels superseded by a newer one, and predictions that logged no inputs are
counted in the :class:`FeedbackIngest` (and logged), not ingested.

The rows go through ``Datasets.ingest`` like any batch, in append mode, one source
per pair of log segments (``"<predictions key> + <feedback key>"``), so the new
version's ``sources`` — and each quarantined row's ``_source`` — name the
prediction-log segments they came from.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from shipyard.config import DatasetConfig, ModelConfig
from shipyard.data import Datasets, IngestResult, NamedFrame
from shipyard.predlog import FEEDBACK, PREDICTIONS, list_segments, read_rows
from shipyard.storage import ArtifactStore

log = logging.getLogger(__name__)

LABEL_LOOKBACK_S = 30 * 86400.0  # labels are joined to predictions up to 30 days older
SOURCE_KIND = "predlog"
JOINER = " + "  # between the two segment keys of a source's uri
_ID, _TIME, _LABEL, _VARIANT = "prediction_id", "time", "label", "variant"
_PREDICTED, _LABELLED, _ORIGIN = "_predicted_at", "_labelled_at", "_origin"


@dataclass(frozen=True)
class FeedbackRows:
    """Labelled live predictions as dataset rows, and what was counted but not used."""

    frame: pl.DataFrame  # the dataset's columns, plus ``_origin`` (the two segment keys)
    segments: list[str]  # the log segments the rows came from, sorted
    labels: int  # label rows that arrived in the span
    duplicates: int  # labels superseded by a newer label of the same id
    unknown_ids: int  # labelled ids with no live prediction in the log (lookback included)
    no_inputs: int  # labelled predictions that logged no feature value at all (left out)

    @property
    def counts(self) -> dict[str, int]:
        return {
            "labels": self.labels,
            "rows": self.frame.height,
            "duplicates": self.duplicates,
            "unknown_ids": self.unknown_ids,
            "no_inputs": self.no_inputs,
        }


@dataclass(frozen=True)
class FeedbackIngest(IngestResult):
    """An :class:`IngestResult` of feedback rows, with the segments and the counts."""

    segments: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """What a retraining run records: ``{"dataset", "rows", "quarantined", "segments", …}``."""
        return {
            "dataset": self.version.ref,
            "rows": self.report.received,
            "accepted": self.report.accepted,
            "quarantined": self.report.quarantined,
            "segments": self.segments,
            **{k: v for k, v in self.counts.items() if k != "rows"},
        }

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "feedback": self.summary()}


def feedback_frame(
    artifacts: ArtifactStore,
    model_name: str,
    model_config: ModelConfig,
    dataset_config: DatasetConfig,
    *,
    since: datetime,
    until: datetime,
) -> tuple[pl.DataFrame, list[str]]:
    """Live predictions' inputs joined with the labels that arrived in ``[since, until)``,
    as rows of the dataset; and the log segments they came from."""
    rows = feedback_rows(
        artifacts, model_name, model_config, dataset_config, since=since, until=until
    )
    return rows.frame.drop(_ORIGIN), rows.segments


def feedback_rows(
    artifacts: ArtifactStore,
    model_name: str,
    model_config: ModelConfig,
    dataset_config: DatasetConfig,
    *,
    since: datetime,
    until: datetime,
) -> FeedbackRows:
    """:func:`feedback_frame` with each row's origin and the counts of what was not used."""
    labels, duplicates, predictions = _joinable(artifacts, model_name, since, until)
    joined = labels.join(predictions, on=_ID, how="inner")
    unknown = labels.height - joined.height
    features = list(model_config.features)
    joined = joined.with_columns(
        pl.lit(None, dtype=pl.String).alias(f) for f in features if f not in joined.columns
    )
    empty = pl.all_horizontal(pl.col(f).is_null() for f in features)
    no_inputs = int(joined.select(empty.sum()).item()) if joined.height else 0
    if no_inputs:
        log.warning(
            "%d labelled prediction(s) of %s logged no inputs; they cannot become training "
            "rows and are left out",
            no_inputs,
            model_name,
        )
    joined = joined.filter(~empty).sort(_PREDICTED, _ID)
    joined = _with_origin(artifacts, model_name, joined, since, until)
    frame = joined.select(*_dataset_columns(model_config, dataset_config), pl.col(_ORIGIN))
    segments = sorted(
        {key for origin in frame[_ORIGIN].unique().to_list() for key in origin.split(JOINER)}
    )
    if unknown or duplicates:
        log.info(
            "feedback of %s: %d label(s) for ids no live prediction carries, %d superseded",
            model_name,
            unknown,
            duplicates,
        )
    return FeedbackRows(frame, segments, labels.height + duplicates, duplicates, unknown, no_inputs)


def ingest_feedback(
    datasets: Datasets,
    artifacts: ArtifactStore,
    model_name: str,
    model_config: ModelConfig,
    *,
    since: datetime,
    until: datetime,
) -> FeedbackIngest | None:
    """The labelled live rows of ``[since, until)`` as a new version of the model's dataset
    (append mode, the dataset's validation and quarantine); None when there are none."""
    dataset = model_config.dataset
    rows = feedback_rows(
        artifacts, model_name, model_config, datasets.config(dataset), since=since, until=until
    )
    if rows.frame.height == 0:
        log.info("no labelled live predictions of %s to ingest: %s", model_name, rows.counts)
        return None
    batches = [
        NamedFrame(group.drop(_ORIGIN), SOURCE_KIND, str(origin))
        for (origin,), group in rows.frame.group_by(_ORIGIN, maintain_order=True)
    ]
    result = datasets.ingest(dataset, *batches, mode="append")
    log.info(
        "feedback of %s ingested as %s: %d rows from %d segment(s), %d quarantined",
        model_name,
        result.version.ref,
        result.report.received,
        len(rows.segments),
        result.report.quarantined,
    )
    return FeedbackIngest(result.version, result.report, rows.segments, rows.counts)


def count_labels(
    artifacts: ArtifactStore, model_name: str, *, since: datetime, until: datetime
) -> int:
    """Distinct prediction ids labelled in ``[since, until)`` that a live prediction carries."""
    labels = read_rows(artifacts, FEEDBACK, model_name, since, until, columns=[_ID])
    if labels.height == 0:
        return 0
    ids = labels.get_column(_ID).drop_nulls().unique()
    start = since - timedelta(seconds=LABEL_LOOKBACK_S)
    served = _live(read_rows(artifacts, PREDICTIONS, model_name, start, until, columns=[_ID]))
    if served.height == 0:
        return 0
    return int(ids.is_in(served.get_column(_ID).implode()).sum())


def _joinable(
    artifacts: ArtifactStore, model: str, since: datetime, until: datetime
) -> tuple[pl.DataFrame, int, pl.DataFrame]:
    """The newest label of each id (and how many were superseded), and the newest live
    prediction of each labelled id, with their times renamed apart."""
    labels = read_rows(artifacts, FEEDBACK, model, since, until, columns=[_ID, _LABEL])
    if labels.height == 0:
        none = pl.DataFrame(schema={_ID: pl.String, _LABEL: pl.Null, _LABELLED: pl.Datetime})
        return none, 0, pl.DataFrame(schema={_ID: pl.String, _PREDICTED: pl.Datetime})
    labels = labels.filter(pl.col(_ID).is_not_null())
    latest = labels.sort(_TIME).unique(_ID, keep="last", maintain_order=True)
    latest = latest.rename({_TIME: _LABELLED})
    start = since - timedelta(seconds=LABEL_LOOKBACK_S)
    served = _live(
        read_rows(artifacts, PREDICTIONS, model, start, until, columns=[_ID, _TIME, "inputs"])
    )
    if served.height == 0:
        return (
            latest,
            labels.height - latest.height,
            pl.DataFrame(schema={_ID: pl.String, _PREDICTED: pl.Datetime("us", "UTC")}),
        )
    served = served.filter(pl.col(_ID).is_in(latest.get_column(_ID).implode()))
    served = served.sort(_TIME).unique(_ID, keep="last", maintain_order=True)
    return latest, labels.height - latest.height, served.rename({_TIME: _PREDICTED})


def _live(frame: pl.DataFrame) -> pl.DataFrame:
    """Only the live rows (a frame without the ``variant`` column is all live)."""
    if _VARIANT not in frame.columns:
        return frame
    return frame.filter(pl.col(_VARIANT).fill_null("live") == "live").drop(_VARIANT)


def _dataset_columns(model: ModelConfig, dataset: DatasetConfig) -> list[pl.Expr]:
    """Each declared column of the dataset from the joined row: the label, the features,
    the prediction time, the prediction id, or nothing (validation decides)."""
    exprs = []
    for name, column in dataset.columns.items():
        if name == dataset.target:
            expr = pl.col(_LABEL)
        elif name in model.features:
            expr = _as_declared(name, column.type)
        elif name == dataset.timestamp:
            expr = pl.col(_PREDICTED)
        elif name == dataset.key and column.type == "string":
            expr = pl.col(_ID)
        else:
            expr = pl.lit(None, dtype=pl.String)
        exprs.append(expr.alias(name))
    return exprs


def _as_declared(name: str, kind: str) -> pl.Expr:
    """A served feature as its column declares it: serving keeps whole numbers as floats,
    so an int column's whole values are written as whole numbers (any other value is
    left for validation to judge, as text)."""
    value = pl.col(name)
    if kind != "int":
        return value
    whole = value.cast(pl.Float64, strict=False)
    return (
        pl.when(whole.is_finite() & (whole == whole.floor()) & (whole.abs() < 2.0**53))
        .then(whole.cast(pl.Int64, strict=False).cast(pl.String))
        .otherwise(value.cast(pl.String))
    )


def _with_origin(
    artifacts: ArtifactStore, model: str, joined: pl.DataFrame, since: datetime, until: datetime
) -> pl.DataFrame:
    """``_origin``: the keys of the segments holding each row's prediction and its label."""
    if joined.height == 0:
        return joined.with_columns(pl.lit(None, dtype=pl.String).alias(_ORIGIN))
    wanted = set(joined.get_column(_ID).to_list())
    start = since - timedelta(seconds=LABEL_LOOKBACK_S)
    predicted = _segments_of(artifacts, PREDICTIONS, model, start, until, wanted)
    labelled = _segments_of(artifacts, FEEDBACK, model, since, until, wanted)
    predicted = predicted.rename({"_p": "_pkey", _TIME: _PREDICTED})
    labelled = labelled.rename({"_p": "_lkey", _TIME: _LABELLED})
    origin = pl.concat_str(
        pl.col("_pkey").fill_null("predictions/?"),  # "?": a segment unreadable on the 2nd read
        pl.lit(JOINER),
        pl.col("_lkey").fill_null("feedback/?"),
    )
    return (
        joined.join(predicted, on=[_ID, _PREDICTED], how="left")
        .join(labelled, on=[_ID, _LABELLED], how="left")
        .with_columns(origin.alias(_ORIGIN))
        .drop("_pkey", "_lkey")
    )


def _segments_of(
    artifacts: ArtifactStore, kind: str, model: str, start: datetime, end: datetime, ids: set[str]
) -> pl.DataFrame:
    """``(prediction_id, time) -> segment key`` for the rows of ``ids`` in ``[start, end)``."""
    import pyarrow.parquet as pq

    found: list[pl.DataFrame] = []
    day = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    wanted = pl.Series(list(ids), dtype=pl.String).implode()
    while day < end:
        for key in list_segments(artifacts, kind, model, day):
            try:
                source = io.BytesIO(artifacts.get(key))
                names = pq.read_schema(source).names
                columns = [c for c in (_ID, _TIME, _VARIANT) if c in names]
                table = pq.read_table(source, columns=columns)
            except Exception as exc:  # the reader skipped it too: say which
                log.warning("skipping unreadable log segment %s: %s", key, exc)
                continue
            rows = pl.from_arrow(table)
            assert isinstance(rows, pl.DataFrame)
            rows = _live(rows).filter(pl.col(_ID).is_in(wanted))
            if rows.height:
                found.append(rows.select(_ID, pl.col(_TIME), pl.lit(key).alias("_p")))
        day += timedelta(days=1)
    if not found:
        return pl.DataFrame(
            schema={_ID: pl.String, _TIME: pl.Datetime("us", "UTC"), "_p": pl.String}
        )
    return pl.concat(found).unique([_ID, _TIME], keep="last")
