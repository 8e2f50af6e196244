"""The prediction log as a query: a model's logged requests, answers and labels, filtered.

One row per live prediction (the answer the client got): when, its id, the version
that answered, the prediction and its probabilities, what answered (``path``: the
model or a fallback link; ``degraded`` and ``reason`` when a fallback did), the
latency, the features as served, the request's passthrough fields (the model's declared
``passthrough`` ones, then every other field the returned rows carry, such as a batch
row's ``--id`` and event time; one named like a column comes as ``passthrough.NAME``)
and, with ``with_feedback``, the newest label sent back for it (``label``,
``labelled_at``; null while none has come). ``where`` filters on the declared columns.

Reading goes through the log's reader (:func:`~shipyard.predlog.reader.read_rows`):
only the day folders of the span are listed, the span and the version are pushed
down into each segment's Parquet read, and the filter (``where``, ``fallback_only``,
the label join) is applied one segment at a time, so only matching rows are held.
``limit`` keeps the newest N (reading days newest first and stopping once it has
them); the rows come back newest first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import polars as pl

from shipyard.config import DatasetConfig, ModelConfig, ProjectConfig
from shipyard.config.schema import did_you_mean, parse_duration
from shipyard.errors import NotFoundError
from shipyard.storage import ArtifactStore

from .reader import count_rows, passthrough_fields, read_rows
from .schema import (
    FEEDBACK,
    INPUTS,
    PASSTHROUGH,
    PREDICTIONS,
    RUN_ID,
    SERVE,
    SOURCE,
    SOURCES,
    TIME,
    parse_key,
)
from .where import ANY, BOOL, LIST, NUMBER, TEXT, QueryError, compile_where, parse, referenced
from .where import TIME as TIME_KIND

logger = logging.getLogger(__name__)

LABEL, LABELLED_AT, ID = "label", "labelled_at", "prediction_id"
LOGGED = {  # the prediction log's own columns a query returns, and their kinds
    TIME: TIME_KIND,
    ID: TEXT,
    "version": NUMBER,
    "prediction": ANY,  # the model's labels or values: see _schema
    "probabilities": LIST,
    "path": TEXT,
    "degraded": BOOL,
    "reason": TEXT,
    "latency_ms": NUMBER,
    SOURCE: TEXT,  # 'serve' or 'batch' (shipyard score)
    RUN_ID: TEXT,  # the batch run (null for served rows)
}
_KINDS = {"int": NUMBER, "float": NUMBER, "string": TEXT, "category": TEXT}
_DTYPES: dict[str, Any] = {
    NUMBER: pl.Float64,
    TEXT: pl.String,
    BOOL: pl.Boolean,
    TIME_KIND: pl.Datetime("us", "UTC"),
    LIST: pl.List(pl.Float64),
    ANY: pl.Null,
}
_FUTURE = timedelta(minutes=1)  # "until now" reaches a little past it: replicas' clocks differ


@dataclass(frozen=True)
class PredictionRows:
    """What a query found: the rows (newest first) and how many matched in all."""

    model: str
    frame: pl.DataFrame
    matched: int  # rows matching in the span (``frame`` holds the newest ``limit`` of them)
    start: datetime | None  # None: from the first row logged
    end: datetime
    logged: bool  # whether the model has any prediction logged at all

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "rows": self.frame.height,
            "matched": self.matched,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat(),
        }


class PredictionLog:
    """Queries of the prediction logs of a project's models."""

    def __init__(self, artifacts: ArtifactStore, config: ProjectConfig) -> None:
        self.artifacts = artifacts
        self.config = config

    def select(
        self,
        name: str,
        *,
        since: str | datetime | timedelta | float | None = None,
        until: str | datetime | timedelta | float | None = None,
        version: int | None = None,
        where: str | None = None,
        with_feedback: bool = False,
        fallback_only: bool = False,
        limit: int | None = None,
        now: datetime | None = None,
        source: str | None = None,
        run: str | None = None,
    ) -> PredictionRows:
        """The live predictions of ``name`` in ``[since, until)`` that match, newest first.

        ``since``/``until``: a duration back from now (``"1h"``, ``"30m"``, ``"7d"``, a
        ``timedelta`` or seconds) or a time (ISO text or a ``datetime``; UTC unless it
        says). ``version``: only that version's answers; ``where``: a filter over the
        columns (:mod:`.where`); ``fallback_only``: only answers a fallback gave;
        ``limit``: only the newest N; ``source``: only ``serve`` or ``batch`` rows; ``run``:
        only the rows of that batch run.
        """
        if source is not None and source not in SOURCES:
            raise QueryError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
        model = self._model(name)
        now = now or datetime.now(UTC)
        start = as_time(since, now, "since")
        end = as_time(until, now, "until") or now + _FUTURE
        if start is not None and start >= end:
            raise QueryError(
                f"the span is empty: since {start.isoformat()} is not before until {end.isoformat()}",
                hint="give --since an earlier time than --until",
            )
        _check_count(version, "version must be a version number like 3")
        _check_count(limit, "limit must be a number of rows of 1 or more")
        schema = columns_of(model, self._dataset(model), with_feedback=with_feedback)
        test = compile_where(where, schema) if where is not None else None
        named = referenced(parse(where)) if where is not None else set()
        first = start
        if first is None:  # from the first day logged (listing every segment once)
            days = self._days(name)
            if not days:
                return PredictionRows(name, _empty(schema), 0, start, end, logged=False)
            first = datetime.combine(days[0], datetime.min.time(), UTC)
        labels = self._labels(name, first, max(end, now + _FUTURE)) if with_feedback else None
        keep = _keeper(schema, model.passthrough, test, fallback_only, labels, source, run)
        versions = [version] if version is not None else None
        try:
            frame = read_rows(
                self.artifacts, PREDICTIONS, name, first, end,
                newest=limit, versions=versions, keep=keep, columns=None,
            )  # fmt: skip
            matched = frame.height
            if limit is not None and frame.height >= limit:
                wanted = _stored_columns(named | {"degraded", SOURCE, RUN_ID}, model, with_feedback)
                matched = count_rows(
                    self.artifacts, PREDICTIONS, name, first, end,
                    versions=versions, keep=keep, columns=wanted,
                )  # fmt: skip
        except pl.exceptions.PolarsError as exc:  # a filter the logged values cannot take
            raise QueryError(
                f"the filter {where!r} cannot be applied to the logged values of {name}: "
                f"{str(exc).splitlines()[0]}",
                hint="compare each column with a value of its kind (numbers, 'text', true/false)",
            ) from None
        if not frame.height:
            logged = start is None or bool(self._days(name))
            return PredictionRows(name, _empty(schema), 0, start, end, logged=logged)
        frame = _with_carried(frame, schema, model.passthrough)
        frame = frame.sort(TIME, descending=True, maintain_order=True)
        logger.info("%d of %d matching predictions of %s read", frame.height, matched, name)
        return PredictionRows(name, frame, matched, start, end, logged=True)

    def _model(self, name: str) -> ModelConfig:
        model = self.config.models.get(name)
        if model is None:
            names = list(self.config.models)
            raise NotFoundError(
                f"no model named '{name}' in the project file{did_you_mean(name, names)}; "
                f"declared: {', '.join(names) or 'none'}"
            )
        return model

    def _dataset(self, model: ModelConfig) -> DatasetConfig | None:
        return self.config.datasets.get(model.dataset)

    def _days(self, name: str) -> list[Any]:
        """The UTC days the model's prediction log has segments for, oldest first."""
        days = set()
        for key in self.artifacts.list(f"{PREDICTIONS}/{name}/"):
            try:
                found = parse_key(key)
            except ValueError:
                continue
            if found.model == name:
                days.add(found.day)
        return sorted(days)

    def _labels(self, name: str, start: datetime, end: datetime) -> pl.DataFrame:
        """The newest label of each prediction id that arrived in ``[start, end)``."""
        labels = read_rows(self.artifacts, FEEDBACK, name, start, end, columns=[ID, LABEL])
        if labels.is_empty():
            return pl.DataFrame(
                schema={ID: pl.String, LABEL: pl.Null, LABELLED_AT: pl.Datetime("us", "UTC")}
            )
        return (
            labels.filter(pl.col(ID).is_not_null())
            .sort(TIME)
            .unique(ID, keep="last", maintain_order=True)
            .select(ID, LABEL, pl.col(TIME).alias(LABELLED_AT))
        )


def columns_of(
    model: ModelConfig, dataset: DatasetConfig | None, *, with_feedback: bool = False
) -> dict[str, str]:
    """The columns a query of ``model``'s log returns, in order, and their kinds."""
    columns = dict(LOGGED)
    answer = ANY
    if model.task == "regression":
        answer = NUMBER
    elif dataset is not None and dataset.target in dataset.columns:
        target = dataset.columns[dataset.target].type
        answer = {"bool": BOOL, **_KINDS}.get(target, ANY)
    columns["prediction"] = answer
    for feature in model.features:
        declared = dataset.columns.get(feature) if dataset is not None else None
        columns[feature] = _KINDS.get(declared.type, ANY) if declared is not None else ANY
    for field in model.passthrough:  # one named like a column comes as passthrough.NAME
        columns[f"{PASSTHROUGH}.{field}" if field in columns else field] = ANY
    if with_feedback:
        columns[LABEL] = answer
        columns[LABELLED_AT] = TIME_KIND
    return columns


def as_time(value: Any, now: datetime, what: str) -> datetime | None:
    """``value`` (a duration back from ``now`` or a time) as a UTC time; None for None."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, timedelta):
        return now - value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return now - timedelta(seconds=parse_duration(value))
    if isinstance(value, str):
        try:
            return now - timedelta(seconds=parse_duration(value.strip()))
        except ValueError:
            pass
        try:
            when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    raise QueryError(
        f"{what} must be a duration back from now like '30m', '1h' or '7d', or a time like "
        f"'2026-12-03T10:00' (UTC unless it says), got {value!r}"
    )


def _check_count(value: Any, rule: str) -> None:
    """QueryError unless ``value`` is None or a whole number of 1 or more."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise QueryError(f"{rule}, got {value!r}")


def _keeper(
    schema: dict[str, str],
    passthrough: list[str],
    test: pl.Expr | None,
    fallback_only: bool,
    labels: pl.DataFrame | None,
    source: str | None = None,
    run: str | None = None,
) -> Callable[[pl.DataFrame], pl.DataFrame]:
    """What each segment's rows go through: passthrough fields as columns, every column
    there (null where the segment has none), the labels joined, the filters."""

    def keep(rows: pl.DataFrame) -> pl.DataFrame:
        if PASSTHROUGH in rows.columns:
            carried = rows.get_column(PASSTHROUGH)  # the undeclared fields: see _with_carried
            rows = passthrough_fields(rows, passthrough).with_columns(carried)
        if labels is not None:
            rows = rows.join(labels, on=ID, how="left")
        missing = [c for c in schema if c not in rows.columns]
        if missing:
            rows = rows.with_columns(pl.lit(None, _dtype(c, schema[c])).alias(c) for c in missing)
        rows = rows.with_columns(pl.col(SOURCE).fill_null(SERVE))  # older segments: served
        if source is not None:
            rows = rows.filter(pl.col(SOURCE) == source)
        if run is not None:
            rows = rows.filter(pl.col(RUN_ID) == run)
        if fallback_only:
            rows = rows.filter(pl.col("degraded").fill_null(False))
        if test is not None:
            rows = rows.filter(test)
        if PASSTHROUGH in schema:  # a feature named so: no room for the undeclared fields
            return rows.select(list(schema))
        if PASSTHROUGH not in rows.columns:
            rows = rows.with_columns(pl.lit(None, pl.String).alias(PASSTHROUGH))
        return rows.select([*schema, PASSTHROUGH])

    return keep


def _with_carried(frame: pl.DataFrame, schema: dict[str, str], declared: list[str]) -> pl.DataFrame:
    """``frame`` typed as ``schema`` says, with a column for every passthrough field its rows
    carry that the model does not declare (after the declared ones, before the labels; one
    named like a column as ``passthrough.NAME``); a nested value as its JSON text."""
    typed = _typed(frame, schema)
    if PASSTHROUGH not in frame.columns or PASSTHROUGH in schema:
        return typed
    decoded = [orjson.loads(t) if t else {} for t in frame.get_column(PASSTHROUGH).to_list()]
    keys = [k for k in dict.fromkeys(k for row in decoded for k in row) if k not in declared]
    if not keys:
        return typed
    taken = set(schema)
    extra = []
    for key in keys:
        values = [_scalar(row.get(key)) for row in decoded]
        kinds = {type(v) for v in values if v is not None}
        if len(kinds) > 1:  # mixed kinds in one column: all as text
            values = [None if v is None else str(v) for v in values]
        name = f"{PASSTHROUGH}.{key}" if key in taken else key
        taken.add(name)
        extra.append(pl.Series(name, values, strict=False))
    labels = [c for c in (LABEL, LABELLED_AT) if c in schema]
    head = typed.drop(labels)
    return pl.concat([head, pl.DataFrame(extra), typed.select(labels)], how="horizontal")


def _scalar(value: Any) -> Any:
    """A passthrough value as one cell: a list or an object as its JSON text."""
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return value


def _stored_columns(named: set[str], model: ModelConfig, with_feedback: bool) -> list[str]:
    """The stored columns a count needs to apply a filter naming ``named``."""
    stored = {TIME, ID} if with_feedback else {TIME}
    for name in named:
        if name in LOGGED:
            stored.add(name)
        elif name in model.features:
            stored.add(INPUTS)
        elif name in model.passthrough or name.startswith(f"{PASSTHROUGH}."):
            stored.add(PASSTHROUGH)
    return sorted(stored)


def _dtype(name: str, kind: str) -> Any:
    return pl.Int64 if name == "version" else _DTYPES[kind]


def _empty(schema: dict[str, str]) -> pl.DataFrame:
    return pl.DataFrame(schema={name: _dtype(name, kind) for name, kind in schema.items()})


def _typed(frame: pl.DataFrame, schema: dict[str, str]) -> pl.DataFrame:
    """``frame``'s columns in order; one no segment had a value in typed as its kind says."""
    return frame.select(
        pl.col(name).cast(_dtype(name, kind)) if frame.schema[name] == pl.Null else pl.col(name)
        for name, kind in schema.items()
    )
