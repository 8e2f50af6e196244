"""One chunk of rows scored: the pure step every engine calls, in the parent or a worker.

:func:`score_chunk` validates the rows with ingest's rules (``shipyard.data``), splits
them into accepted and quarantined (each refused row with its reasons), predicts the
accepted ones and builds two tables: the answers and the prediction-log rows. It does
no I/O and reads no clock: prediction ids come from the run id and the row number, the
log time is the run's start. The same input for the same run gives the same bytes,
whichever engine (or how many workers) scored it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import polars as pl
import pyarrow as pa

from shipyard.data import RawBatch, SourceInfo, to_column_names, validate_rows
from shipyard.errors import first_line
from shipyard.predlog.schema import (
    BATCH,
    INPUTS,
    LIVE,
    PASSTHROUGH,
    PROBABILITIES,
    RUN_ID,
    SOURCE,
    TIME,
    VARIANT,
    probabilities_type,
    time_type,
)

from .inputs import MALFORMED
from .records import BatchRun, ChunkResult, ScoreInputError

if TYPE_CHECKING:
    from .scorer import Scorer

ROW = "_row"
"""The answers' row column when the run names no id column (1-based over the input)."""
PREDICTION_ID, PREDICTION = "prediction_id", "prediction"
PROBABILITY = "probability_"
_ROW, _SOURCE, _REASONS = "_row", "_source", "_reasons"


def score_chunk(scorer: Scorer, table: pa.Table, *, run: BatchRun, offset: int) -> ChunkResult:
    """Score ``table``, rows ``offset + 1 …`` of the run's input (``offset`` rows came before).

    The rows are validated against ``scorer``'s schema; the accepted ones are predicted.
    Returns the answers, the log rows and the quarantined rows (see :class:`ChunkResult`).
    """
    n = table.num_rows
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    # the features' source headers renamed to their names, as ingest reads a batch
    frame = to_column_names(frame, scorer.dataset, "; ".join(run.source))
    table = table.rename_columns(frame.columns)
    numbers = pl.Series(_ROW, np.arange(offset + 1, offset + n + 1, dtype=np.int64))
    raw = frame.with_columns(numbers)
    broken = raw.clear()
    if MALFORMED in raw.columns:  # CSV lines not read: quarantined in their places
        flagged = raw.get_column(MALFORMED).is_not_null()
        broken = raw.filter(flagged)
        raw = raw.filter(~flagged).drop(MALFORMED)
    source = "; ".join(run.source)
    info = SourceInfo("batch", source, None, raw.height)
    validated = validate_rows(RawBatch(raw, info), scorer.dataset)
    accepted = validated.accepted
    quarantined = validated.quarantine
    if broken.height:
        said = broken.select(_ROW, pl.concat_list(MALFORMED).alias(_REASONS))
        quarantined = _also_refused(quarantined, broken, said, source)
    try:
        labels, proba = _predict(scorer, accepted)
    except Exception as exc:
        # a model that takes no missing value (a linear model): its rows with one are
        # quarantined, the others scored; a model that still refuses fails the run
        holes = accepted.select(pl.any_horizontal(pl.col(scorer.features).is_null())).to_series()
        if not holes.any():
            raise _refused(run, offset, n, exc) from exc
        quarantined = _with_missing(quarantined, raw, accepted, holes, scorer.features, source)
        accepted = accepted.filter(~holes)
        try:
            labels, proba = _predict(scorer, accepted)
        except Exception as again:
            raise _refused(run, offset, n, again) from again
    rows = accepted.get_column(_ROW).to_numpy()
    quarantine = _finite_said(quarantined).to_arrow()
    ids = _ids(run, rows)
    named = _named_by(table, run, rows, offset)
    answers = _answers(scorer, run, named, ids, labels, proba)
    log = _log(scorer, run, accepted, named, ids, labels, proba, table, rows, offset)
    return ChunkResult(offset, n, answers, log, _plain(quarantine))


def _refused(run: BatchRun, offset: int, n: int, exc: Exception) -> ScoreInputError:
    return ScoreInputError(
        f"{run.ref} could not score rows {offset + 1}-{offset + n}: "
        f"{type(exc).__name__}: {first_line(exc)}",
        hint="check that the model takes the columns of its dataset's schema",
    )


def _with_missing(
    quarantined: pl.DataFrame,
    raw: pl.DataFrame,
    accepted: pl.DataFrame,
    holes: pl.Series,
    features: tuple[str, ...],
    source: str,
) -> pl.DataFrame:
    """``quarantined`` plus the accepted rows with a missing feature (as they arrived),
    each reason naming the feature."""
    reasons = accepted.filter(holes).select(
        pl.col(_ROW),
        pl.concat_list(
            pl.when(pl.col(f).is_null())
            .then(pl.lit(f"{f}: missing, and the model takes no missing value"))
            .otherwise(pl.lit(None, pl.String))
            for f in features
        )
        .list.drop_nulls()
        .alias(_REASONS),
    )
    return _also_refused(quarantined, raw, reasons, source)


def _also_refused(
    quarantined: pl.DataFrame, raw: pl.DataFrame, reasons: pl.DataFrame, source: str
) -> pl.DataFrame:
    """``quarantined`` plus the rows of ``raw`` (as they arrived) that ``reasons`` (``_row``,
    ``_reasons``) refuses, in the quarantine's columns, by row number."""
    texts = [c for c in quarantined.columns if c not in (_SOURCE, _ROW, _REASONS)]
    rows = raw.join(reasons, on=_ROW, how="inner").select(
        *(pl.col(c).cast(pl.String, strict=False) if c in raw.columns else
          pl.lit(None, pl.String).alias(c) for c in texts),
        pl.lit(source).alias(_SOURCE),
        pl.col(_ROW),
        pl.col(_REASONS),
    )  # fmt: skip
    return pl.concat([quarantined, rows.cast(quarantined.schema)]).sort(_ROW)


_INFINITE = r"^(.+): (-?inf(?:inity)?) is (?:above the maximum|below the minimum) .*$"


def _finite_said(quarantined: pl.DataFrame) -> pl.DataFrame:
    """Reasons of ±inf in a column with bounds said as ingest says them in one without:
    not a finite number (not "inf is above the maximum 30.22")."""
    if not quarantined.height:
        return quarantined
    said = pl.element().str.replace(_INFINITE, "${1}: expected a finite number, got '${2}'")
    return quarantined.with_columns(pl.col(_REASONS).list.eval(said))


def _predict(scorer: Scorer, accepted: pl.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
    if not accepted.height:
        return np.array([]), None
    features = accepted.select(scorer.features)
    rows: Any = features.to_numpy().astype(np.float64) if scorer.numeric else features
    return scorer.predictor.answer(rows)


def _ids(run: BatchRun, rows: np.ndarray) -> pa.Array:
    """``{run id}-{row}`` for every row (what :meth:`BatchRun.prediction_id` says), in C."""
    import pyarrow.compute as pc

    numbers = pa.array(rows, type=pa.int64()).cast(pa.string())
    return pc.binary_join_element_wise(run.prediction_id(0)[:-1], numbers, "")


def _named_by(table: pa.Table, run: BatchRun, rows: np.ndarray, offset: int) -> pa.Array:
    """Each accepted row's id (from the run's id column), or its row number."""
    if run.id_column is None:
        return pa.array(rows, type=pa.int64())
    positions = pa.array(rows - offset - 1, type=pa.int64())
    return _plain_array(table.column(run.id_column).take(positions).combine_chunks())


def _labels(labels: np.ndarray) -> pa.Array:
    if labels.dtype.kind in "biuf":
        return pa.array(labels)
    try:
        return pa.array(labels.tolist())
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types: as text, as serving logs them
        return pa.array([None if v is None else str(v) for v in labels.tolist()], pa.string())


def empty_answers(scorer: Scorer, run: BatchRun, id_type: pa.DataType | None) -> pa.Table:
    """The answers of no rows, with the columns and types of a run that scored some:
    the id column (of ``id_type``; ``_row`` an integer), ``prediction_id``, ``prediction``
    and ``probability_{class}`` per class."""
    kind = pa.int64() if run.id_column is None else id_type or pa.string()  # CSV: text
    empty = pa.array([], type=pa.string())
    return _answers(scorer, run, pa.array([], type=kind), empty, np.array([]), None)


def _label_type(scorer: Scorer) -> pa.DataType:
    """The type of the model's labels: its classes' (as :func:`_labels` makes them), a
    regression's float64."""
    classes = scorer.classes
    if not classes:
        return pa.float64()
    return _labels(np.asarray(classes)).type


def _answers(
    scorer: Scorer,
    run: BatchRun,
    named: pa.Array,
    ids: pa.Array,
    labels: np.ndarray,
    proba: np.ndarray | None,
) -> pa.Table:
    first = run.id_column or ROW
    said = _labels(labels) if len(labels) else pa.array([], type=_label_type(scorer))
    columns: dict[str, pa.Array] = {first: named, PREDICTION_ID: ids, PREDICTION: said}
    classes = scorer.classes
    if classes is not None:
        width = len(classes)
        matrix = proba if proba is not None else np.empty((len(ids), width))
        for index, name in enumerate(classes):
            columns[f"{PROBABILITY}{name}"] = pa.array(matrix[:, index].astype(np.float64))
    return pa.table(columns)


def _log(
    scorer: Scorer,
    run: BatchRun,
    accepted: pl.DataFrame,
    named: pa.Array,
    ids: pa.Array,
    labels: np.ndarray,
    proba: np.ndarray | None,
    table: pa.Table,
    rows: np.ndarray,
    offset: int,
) -> pa.Table:
    """The accepted rows in the prediction log's columns, in its order; the passthrough
    field holds the row's id (``--id``) and its event time (the dataset's timestamp
    column, when the input has it), as a served request's passthrough fields."""
    n = len(ids)
    micros = int(run.started_at.timestamp() * 1_000_000)
    columns: dict[str, pa.Array] = {
        PREDICTION_ID: ids,
        PREDICTION: _labels(labels),
        PROBABILITIES: _probabilities(proba, n, scorer.classes is not None),
        TIME: pa.array(np.full(n, micros, dtype=np.int64)).cast(time_type()),
        "version": pa.array(np.full(n, run.version, dtype=np.int64)),
        "path": pa.array(["model"] * n, type=pa.string()),
        "degraded": pa.array(np.zeros(n, dtype=bool)),
        "reason": pa.nulls(n, type=pa.string()),
        "latency_ms": pa.nulls(n, type=pa.float64()),
        VARIANT: pa.array([LIVE] * n, type=pa.string()),
        SOURCE: pa.array([BATCH] * n, type=pa.string()),
        RUN_ID: pa.array([run.run_id] * n, type=pa.string()),
    }
    fields = {} if run.id_column is None else {run.id_column: named.to_pylist()}
    stamp = scorer.event_time
    if stamp is not None and stamp in table.column_names and stamp not in fields:
        positions = pa.array(rows - offset - 1, type=pa.int64())
        fields[stamp] = table.column(stamp).take(positions).to_pylist()
    if fields:
        lined = zip(*fields.values(), strict=True)
        records = [dict(zip(fields, values, strict=True)) for values in lined]
        columns[PASSTHROUGH] = pa.array(
            [orjson.dumps(r, option=orjson.OPT_NAIVE_UTC).decode() for r in records],
            type=pa.string(),
        )
    columns[INPUTS] = _inputs(scorer, accepted)
    return pa.table(columns)


def _probabilities(proba: np.ndarray | None, n: int, classifier: bool) -> pa.Array:
    if proba is None or not classifier:
        return pa.nulls(n, type=probabilities_type())
    width = proba.shape[1]
    offsets = pa.array(np.arange(0, (n + 1) * width, width, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(proba.reshape(-1).astype(np.float64)))


def _inputs(scorer: Scorer, accepted: pl.DataFrame) -> pa.Array:
    """The validated features as one struct: numbers as float64 (as serving logs them),
    the others as text, booleans as booleans."""
    fields = []
    for name in scorer.features:
        kind = scorer.column(name).type
        series = accepted.get_column(name)
        if kind in ("int", "float"):
            series = series.cast(pl.Float64)
        elif kind == "datetime":
            series = series.dt.to_string("%Y-%m-%dT%H:%M:%S%.f%:z")
        fields.append(_plain_array(series.to_arrow()))
    return pa.StructArray.from_arrays(fields, list(scorer.features))


def _plain_array(array: pa.Array) -> pa.Array:
    """``array`` with polars' large strings as plain strings (the log's type)."""
    if pa.types.is_large_string(array.type) or pa.types.is_string_view(array.type):
        return array.cast(pa.string())
    return array


def _plain(table: pa.Table) -> pa.Table:
    """``table`` with large strings (and lists of them) as plain ones."""
    fields = []
    for f in table.schema:
        t = f.type
        if pa.types.is_large_string(t) or pa.types.is_string_view(t):
            t = pa.string()
        elif pa.types.is_large_list(t) or pa.types.is_list(t):
            t = pa.list_(pa.string())  # the quarantine's reasons
        fields.append(pa.field(f.name, t))
    return table.cast(pa.schema(fields))
