"""Validation: every row ends accepted (typed) or quarantined (as it arrived, with reasons).

All checks are polars expressions evaluated together over whole columns; no
Python runs per row. Reasons are only formatted for the rows that failed.

Row-level checks (a failing row goes to quarantine, one reason per failed check):
type and safe coercion, finite numbers, nulls, min/max, categories, regex,
uniqueness within the batch (every row sharing a value fails), custom checks.
Batch-level checks (reject the batch, or warn): row count, null rate per
column, schema drift (missing or extra columns), freshness.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from shipyard.config import ColumnConfig, DatasetConfig
from shipyard.errors import ConfigError

from .sources import ROW, SOURCE, RawBatch

REASONS = "_reasons"
CustomCheck = Callable[[pl.DataFrame], Any]

DTYPES: dict[str, pl.DataType] = {
    "int": pl.Int64(),
    "float": pl.Float64(),
    "bool": pl.Boolean(),
    "string": pl.String(),
    "category": pl.String(),
    "datetime": pl.Datetime("us", "UTC"),
}
_EXPECTED = {
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "string": "text",
    "category": "text",
    "datetime": "a date and time (ISO 8601)",
}
NULL_MARKERS = ["", "na", "n/a", "null", "none", "nan", "#n/a"]
_BOOLS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False,
          "t": True, "f": False, "y": True, "n": False}  # fmt: skip


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome over a batch."""

    name: str
    level: str  # "row" or "batch"
    failed: int
    passed: bool
    column: str | None = None
    action: str = "quarantine"  # row checks quarantine; batch checks "reject" or "warn"
    detail: str = ""


@dataclass(frozen=True)
class ValidationReport:
    """What validation found: counts that add up, and every check with its failures."""

    received: int
    accepted: int
    quarantined: int
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def rejected_by(self) -> list[CheckResult]:
        return [
            c for c in self.checks if c.level == "batch" and not c.passed and c.action == "reject"
        ]

    @property
    def warnings(self) -> list[CheckResult]:
        return [
            c for c in self.checks if c.level == "batch" and not c.passed and c.action == "warn"
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "accepted": self.accepted,
            "quarantined": self.quarantined,
            "rejected": bool(self.rejected_by),
            "checks": [asdict(c) for c in self.checks],
        }


@dataclass(frozen=True)
class Validated:
    """The outcome for one batch: typed accepted rows, quarantined rows, the report.

    Accepted rows keep ``_row`` and ``_source`` until they are written, so that a
    row refused later (by the merge with the parent) is still traced to its origin.
    """

    accepted: pl.DataFrame
    quarantine: pl.DataFrame
    report: ValidationReport


@dataclass(frozen=True)
class _Rule:
    name: str
    column: str | None
    fails: pl.Expr  # True where the row fails
    reason: pl.Expr  # the text shown for a failing row


def validate(
    batch: RawBatch,
    dataset: DatasetConfig,
    *,
    custom: dict[str, CustomCheck] | None = None,
    now: datetime | None = None,
) -> Validated:
    """Split ``batch`` into accepted and quarantined rows by ``dataset``'s schema and checks."""
    raw = batch.frame
    schema = dataset.columns
    present = [c for c in schema if c in raw.columns]
    missing = [c for c in schema if c not in raw.columns]
    extra = [c for c in raw.columns if c not in schema and c not in (ROW, SOURCE)]

    batch_checks = [_schema_drift(dataset, missing, extra)]
    if missing:  # a missing column is all nulls, so that nullability rules apply to it
        raw = raw.with_columns(pl.lit(None, dtype=pl.String).alias(c) for c in missing)

    derived, rules = [], []
    for name, column in schema.items():
        derived += _derived(name, column.type, raw.schema[name])
        rules += _column_rules(name, column, is_key=name == dataset.key)
    typed_frame = raw.lazy().with_columns(derived).collect()
    for check in dataset.checks.custom:
        rules.append(_custom_rule(check.name, check.function, custom or {}, typed_frame, schema))

    # every column has at least its type rule, so there is always a mask to combine
    masks = typed_frame.select(
        r.fails.fill_null(False).alias(f"__fail_{i}") for i, r in enumerate(rules)
    )
    any_fail = masks.select(pl.any_horizontal(pl.all())).to_series()
    counts = masks.sum().row(0)

    origin = pl.col(SOURCE) if SOURCE in raw.columns else pl.lit(batch.source.uri)
    accepted = typed_frame.filter(~any_fail).select(
        *(pl.col(f"__typed_{n}").alias(n) for n in schema), pl.col(ROW), origin.alias(SOURCE)
    )
    quarantine = _quarantine(
        batch, typed_frame.filter(any_fail), masks.filter(any_fail), rules, extra, present
    )

    batch_checks += _null_rates(dataset, raw, present)
    batch_checks += _row_count(dataset, batch.received)
    batch_checks += _freshness(dataset, accepted, now or datetime.now(UTC))
    row_checks = [
        CheckResult(r.name, "row", int(n), int(n) == 0, column=r.column)
        for r, n in zip(rules, counts, strict=True)
    ]
    if batch.ragged:
        row_checks.append(CheckResult("field_count", "row", len(batch.ragged), False))
    report = ValidationReport(
        received=batch.received,
        accepted=accepted.height,
        quarantined=quarantine.height,
        checks=batch_checks + row_checks,
    )
    return Validated(accepted, quarantine, report)


# -- per-column rules ---------------------------------------------------------


def _derived(name: str, kind: str, dtype: pl.DataType) -> list[pl.Expr]:
    """Per column: ``__typed_X`` (the value, or null), ``__missing_X``, ``__nonfinite_X``.

    Missing is null; in text read for a non-text column also the usual markers (NA,
    N/A, NULL, None, NaN, #N/A); in a float column also NaN. ±inf is not missing
    but not a number we accept either: it is nulled in the value and flagged.
    """
    raw = pl.col(name)
    coerced = _coerce(raw, kind, dtype)
    missing = raw.is_null()
    if dtype == pl.String and kind not in ("string", "category"):
        missing = missing | raw.str.strip_chars().str.to_lowercase().is_in(NULL_MARKERS)
    elif dtype.is_float():
        missing = missing | raw.is_nan()
    if kind == "float":
        nonfinite = coerced.is_infinite().fill_null(False)
        value = pl.when(coerced.is_nan() | coerced.is_infinite()).then(None).otherwise(coerced)
    else:
        nonfinite, value = pl.lit(False), coerced
    return [
        value.alias(f"__typed_{name}"),
        missing.alias(f"__missing_{name}"),
        nonfinite.alias(f"__nonfinite_{name}"),
    ]


def _column_rules(name: str, column: ColumnConfig, *, is_key: bool) -> list[_Rule]:
    raw = pl.col(name)
    value = pl.col(f"__typed_{name}")
    missing = pl.col(f"__missing_{name}")
    text = raw.cast(pl.String, strict=False)
    rules = [
        _Rule(
            f"type:{name}",
            name,
            ~missing & value.is_null() & ~pl.col(f"__nonfinite_{name}"),
            pl.format(f"{name}: expected {_EXPECTED[column.type]}, got '{{}}'", text),
        )
    ]
    if column.type == "float":
        rules.append(
            _Rule(
                f"finite:{name}",
                name,
                pl.col(f"__nonfinite_{name}"),
                pl.format(f"{name}: expected a finite number, got '{{}}'", text),
            )
        )
    if not column.nullable or is_key:
        rules.append(
            _Rule(
                f"not_null:{name}",
                name,
                missing,
                pl.lit(f"{name}: missing, and the column may not be empty"),
            )
        )
    if column.min is not None:
        rules.append(
            _Rule(
                f"min:{name}",
                name,
                value < column.min,
                pl.format(f"{name}: {{}} is below the minimum {column.min:g}", value),
            )
        )
    if column.max is not None:
        rules.append(
            _Rule(
                f"max:{name}",
                name,
                value > column.max,
                pl.format(f"{name}: {{}} is above the maximum {column.max:g}", value),
            )
        )
    if column.categories is not None:
        allowed = ", ".join(column.categories)
        rules.append(
            _Rule(
                f"category:{name}",
                name,
                value.is_not_null() & ~value.is_in(column.categories),
                pl.format(f"{name}: '{{}}' is not one of {allowed}", value),
            )
        )
    if column.regex is not None:
        rules.append(
            _Rule(
                f"regex:{name}",
                name,
                value.is_not_null() & ~value.str.contains(column.regex),
                pl.format(f"{name}: '{{}}' does not match {column.regex}", value),
            )
        )
    if column.unique or is_key:
        rules.append(
            _Rule(
                f"unique:{name}",
                name,
                value.is_not_null() & value.is_duplicated(),
                pl.format(f"{name}: {{}} appears more than once in the batch", value),
            )
        )
    return rules


def _coerce(raw: pl.Expr, kind: str, dtype: pl.DataType) -> pl.Expr:
    """The value as ``kind``, or null where it cannot be safely converted."""
    target = DTYPES[kind]
    if dtype == target:
        return raw
    if kind == "int":
        if dtype.is_integer():
            return raw.cast(pl.Int64, strict=False)
        if dtype.is_float():
            whole = raw.is_finite() & (raw == raw.round(0)) & (raw.abs() < 2.0**63)
            return pl.when(whole).then(raw.cast(pl.Int64, strict=False)).otherwise(None)
        if dtype == pl.String:
            return raw.str.strip_chars().cast(pl.Int64, strict=False)
        return pl.lit(None, dtype=pl.Int64)
    if kind == "float":
        if dtype.is_numeric():
            return raw.cast(pl.Float64, strict=False)
        if dtype == pl.String:
            return raw.str.strip_chars().cast(pl.Float64, strict=False)
        return pl.lit(None, dtype=pl.Float64)
    if kind == "bool":
        if dtype == pl.String:
            return (
                raw.str.strip_chars()
                .str.to_lowercase()
                .replace_strict(_BOOLS, default=None, return_dtype=pl.Boolean)
            )
        if dtype.is_integer():
            return raw.replace_strict({1: True, 0: False}, default=None, return_dtype=pl.Boolean)
        return pl.lit(None, dtype=pl.Boolean)
    if kind in ("string", "category"):
        if dtype == pl.String:
            return raw
        if dtype in (pl.Categorical, pl.Enum) or dtype.is_numeric() or dtype == pl.Boolean:
            return raw.cast(pl.String)
        return pl.lit(None, dtype=pl.String)
    # datetime
    if isinstance(dtype, pl.Datetime):
        return (
            raw.dt.replace_time_zone("UTC")
            if dtype.time_zone is None
            else raw.dt.convert_time_zone("UTC")
        ).cast(target)
    if dtype == pl.Date:
        return raw.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    if dtype == pl.String:
        return _parse_datetime(raw)
    return pl.lit(None, dtype=target)


def _parse_datetime(raw: pl.Expr) -> pl.Expr:
    """ISO 8601 text, with or without an offset (none means UTC), or a bare date."""
    text = raw.str.strip_chars().str.replace(" ", "T", literal=True).str.replace(r"[Zz]$", "+00:00")
    with_offset = text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", strict=False, time_unit="us")
    naive = text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us")
    minutes = text.str.to_datetime("%Y-%m-%dT%H:%M", strict=False, time_unit="us")
    date = text.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us"))
    utc = pl.coalesce(
        with_offset.dt.convert_time_zone("UTC"),
        pl.coalesce(naive, minutes, date).dt.replace_time_zone("UTC"),
    )
    return utc.cast(DTYPES["datetime"])


def _custom_rule(
    name: str,
    function: str,
    custom: dict[str, CustomCheck],
    frame: pl.DataFrame,
    schema: dict[str, ColumnConfig],
) -> _Rule:
    check = custom.get(name)
    if check is None:
        raise ConfigError(f"custom check '{name}' ({function}) was not loaded")
    typed = frame.select(pl.col(f"__typed_{n}").alias(n) for n in schema)
    try:
        result = check(typed)
    except Exception as exc:
        raise ConfigError(
            f"custom check '{name}' ({function}) raised {type(exc).__name__}: {exc}"
        ) from exc
    if isinstance(result, pl.Expr):
        result = typed.select(result.alias("ok")).to_series()
    if (
        not isinstance(result, pl.Series)
        or result.dtype != pl.Boolean
        or result.len() != frame.height
    ):
        raise ConfigError(
            f"custom check '{name}' ({function}) must return a boolean polars expression or "
            f"Series with one value per row (True = good), got {type(result).__name__}"
        )
    frame_col = f"__custom_{name}"
    frame.insert_column(frame.width, result.alias(frame_col))
    return _Rule(
        f"custom:{name}", None, ~pl.col(frame_col), pl.lit(f"custom check '{name}' failed")
    )


# -- quarantine ------------------------------------------------------------------


def _quarantine(
    batch: RawBatch,
    failing: pl.DataFrame,
    masks: pl.DataFrame,
    rules: list[_Rule],
    extra: list[str],
    present: list[str],
) -> pl.DataFrame:
    """Failing rows as they arrived (as text), with ``_reasons``, ``_source``, ``_row``."""
    columns = [*present, *extra]
    if failing.height:
        reasons = pl.concat_list(
            pl.when(masks[f"__fail_{i}"]).then(rule.reason).otherwise(None)
            for i, rule in enumerate(rules)
        ).list.drop_nulls()
        rows = failing.with_columns(masks).select(
            *(pl.col(c).cast(pl.String, strict=False) for c in columns),
            pl.col(SOURCE) if SOURCE in failing.columns else pl.lit(batch.source.uri).alias(SOURCE),
            pl.col(ROW),
            reasons.alias(REASONS),
        )
    else:
        rows = empty_quarantine(columns)
    if batch.ragged:
        ragged = pl.DataFrame(
            {
                **{c: [None] * len(batch.ragged) for c in columns},
                SOURCE: [r.source for r in batch.ragged],
                ROW: [r.line for r in batch.ragged],
                REASONS: [[f"{r.reason}: '{r.text[:200]}'"] for r in batch.ragged],
            },
            schema=rows.schema,
        )
        rows = pl.concat([rows, ragged]).sort(SOURCE, ROW)
    return rows


def empty_quarantine(columns: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            **dict.fromkeys(columns, pl.String),
            SOURCE: pl.String,
            ROW: pl.Int64,
            REASONS: pl.List(pl.String),
        }
    )


# -- batch checks -----------------------------------------------------------------


def _schema_drift(dataset: DatasetConfig, missing: list[str], extra: list[str]) -> CheckResult:
    parts = []
    if missing:
        parts.append(f"missing column(s) {', '.join(missing)}")
    if extra:
        parts.append(f"column(s) not in the schema: {', '.join(extra)}")
    return CheckResult(
        "schema_drift",
        "batch",
        len(missing) + len(extra),
        not parts,
        action=dataset.checks.schema_drift.action,
        detail="; ".join(parts),
    )


def _null_rates(dataset: DatasetConfig, raw: pl.DataFrame, present: list[str]) -> list[CheckResult]:
    limited = [
        n for n, c in dataset.columns.items() if c.max_null_fraction is not None and n in present
    ]
    if not limited or raw.height == 0:
        return []
    nulls = raw.select(pl.col(limited).null_count()).row(0, named=True)
    results = []
    for name in limited:
        limit = dataset.columns[name].max_null_fraction or 0.0
        rate = nulls[name] / raw.height
        results.append(
            CheckResult(
                f"null_rate:{name}",
                "batch",
                int(nulls[name]),
                rate <= limit,
                column=name,
                action=dataset.checks.null_rate.action,
                detail=f"{rate:.2%} nulls, at most {limit:.2%} allowed",
            )
        )
    return results


def _row_count(dataset: DatasetConfig, received: int) -> list[CheckResult]:
    bounds = dataset.checks.row_count
    if bounds is None:
        return []
    low = bounds.min if bounds.min is not None else 0
    high = bounds.max
    ok = received >= low and (high is None or received <= high)
    allowed = f"{low}..{high if high is not None else '∞'}"
    return [
        CheckResult(
            "row_count", "batch", 0 if ok else 1, ok, action=bounds.action,
            detail=f"{received} rows, {allowed} allowed",
        )
    ]  # fmt: skip


def _freshness(dataset: DatasetConfig, accepted: pl.DataFrame, now: datetime) -> list[CheckResult]:
    rule = dataset.checks.freshness
    if rule is None or dataset.timestamp is None:
        return []
    newest = accepted[dataset.timestamp].max() if accepted.height else None
    limit = timedelta(hours=rule.max_age_hours)
    ok = isinstance(newest, datetime) and now - newest <= limit
    seen = newest.isoformat() if isinstance(newest, datetime) else "no timestamps"
    return [
        CheckResult(
            "freshness", "batch", 0 if ok else 1, ok, column=dataset.timestamp,
            action=rule.action, detail=f"newest {seen}, at most {rule.max_age_hours:g} h old allowed",
        )
    ]  # fmt: skip
