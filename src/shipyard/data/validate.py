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

import math
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
BOOLEAN_WORDS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False,
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


class Validated:
    """The outcome for one batch: the report, the quarantined rows, the accepted rows.

    Accepted rows keep ``_row`` and ``_source`` until they are written, so that a
    row refused later (by the merge with the parent) is still traced to its origin.
    They are split off on first use: finding and explaining the bad rows does not
    need a copy of the good ones.
    """

    def __init__(
        self,
        report: ValidationReport,
        quarantine: pl.DataFrame,
        typed: pl.DataFrame,
        keep: pl.Series,
    ) -> None:
        self.report = report
        self.quarantine = quarantine
        self._typed: pl.DataFrame | None = typed
        self._keep = keep
        self._accepted: pl.DataFrame | None = None

    @property
    def accepted(self) -> pl.DataFrame:
        """Typed rows that passed every row check (schema columns, ``_row``, ``_source``)."""
        if self._accepted is None:
            assert self._typed is not None
            floats = [n for n, t in self._typed.schema.items() if t.is_float()]
            self._accepted = self._typed.filter(self._keep).with_columns(
                pl.col(floats).fill_nan(None)
            )
            self._typed = None
        return self._accepted


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

    columns = {n: _Column(n, c, raw.schema[n], is_key=n == dataset.key) for n, c in schema.items()}
    converted = [c.convert() for c in columns.values() if c.coerces]
    frame = raw.with_columns(converted) if converted else raw
    if len({frame[c].n_chunks() for c in frame.columns}) > 1:
        frame = frame.rechunk()  # once, or every select below would realign the chunks
    rules = [rule for column in columns.values() for rule in column.rules()]
    if dataset.checks.custom:
        values = frame.select(c.value.alias(n) for n, c in columns.items())
        for check in dataset.checks.custom:
            rule, verdict = _custom_rule(check.name, check.function, custom or {}, values)
            frame = frame.with_columns(verdict)
            rules.append(rule)

    if rules:
        masks = frame.select(
            r.fails.fill_null(False).alias(f"__fail_{i}") for i, r in enumerate(rules)
        )
        any_fail = masks.select(pl.any_horizontal(pl.all())).to_series()
        counts = masks.sum().row(0)
    else:
        masks, counts = pl.DataFrame(), ()
        any_fail = pl.Series("f", [False] * raw.height, dtype=pl.Boolean)
    failing = any_fail.arg_true()  # few rows: gather them rather than filter every column
    failed = [(i, r) for (i, r), n in zip(enumerate(rules), counts, strict=True) if n]
    quarantine = _quarantine(batch, frame[failing], masks[failing], failed, [*present, *extra])

    origin = pl.col(SOURCE) if SOURCE in raw.columns else pl.lit(batch.source.uri)
    typed = frame.select(
        *(c.accepted_value() for c in columns.values()), pl.col(ROW), origin.alias(SOURCE)
    )
    batch_checks += _null_rates(dataset, raw, present)
    batch_checks += _row_count(dataset, batch.received)
    if dataset.checks.freshness is not None:
        batch_checks += _freshness(dataset, typed.filter(~any_fail), now or datetime.now(UTC))
    row_checks = [
        CheckResult(r.name, "row", int(n), int(n) == 0, column=r.column)
        for r, n in zip(rules, counts, strict=True)
    ]
    if batch.ragged:
        row_checks.append(CheckResult("field_count", "row", len(batch.ragged), False))
    report = ValidationReport(
        received=batch.received,
        accepted=raw.height - failing.len(),
        quarantined=quarantine.height,
        checks=batch_checks + row_checks,
    )
    return Validated(report, quarantine, typed, ~any_fail)


validate_rows = validate
""":func:`validate` under the name the package exports (``shipyard.data.validate`` is this
module): what batch scoring splits each chunk with, the same rules as ingest."""


# -- per-column rules ---------------------------------------------------------


class _Column:
    """One schema column over one batch: how its value is read, and the rules it must pass.

    A column already of its type is used as it is (no copy); any other is converted
    once into ``__typed_X``, null where the conversion is not safe. Missing is null;
    in text read for a non-text column also the usual markers (NA, N/A, NULL, None,
    NaN, #N/A); in a float column also NaN. ±inf is not missing, but not a number
    we accept either.
    """

    def __init__(self, name: str, spec: ColumnConfig, dtype: pl.DataType, *, is_key: bool) -> None:
        self.name, self.spec, self.dtype, self.is_key = name, spec, dtype, is_key
        self.coerces = dtype != DTYPES[spec.type]
        self.raw = pl.col(name)
        self.value = pl.col(f"__typed_{name}") if self.coerces else self.raw
        self.floats = spec.type == "float"

    def convert(self) -> pl.Expr:
        return _coerce(self.raw, self.spec.type, self.dtype).alias(f"__typed_{self.name}")

    def missing(self) -> pl.Expr:
        missing = self.raw.is_null()
        if self.dtype == pl.String and self.spec.type not in ("string", "category"):
            missing = missing | self.raw.str.strip_chars().str.to_lowercase().is_in(NULL_MARKERS)
        elif self.dtype.is_float():
            missing = missing | self.raw.is_nan()
        return missing

    def usable(self) -> pl.Expr:
        """Present and parsed (NaN, which is missing, excluded)."""
        if self.floats:
            return self.value.is_not_null() & ~self.value.is_nan()
        return self.value.is_not_null()

    def accepted_value(self) -> pl.Expr:
        """The value as accepted rows keep it (NaN, a missing value, becomes null when
        the accepted rows are split off)."""
        return self.value.alias(self.name)

    def rules(self) -> list[_Rule]:
        name, spec, value = self.name, self.spec, self.value
        text = self.raw.cast(pl.String, strict=False)
        rules = []
        if self.coerces:  # a value already of the column's type cannot fail to convert
            finite = ~value.is_infinite().fill_null(False) if self.floats else pl.lit(True)
            rules.append(
                _Rule(
                    f"type:{name}",
                    name,
                    ~self.missing() & value.is_null() & finite,
                    pl.format(f"{name}: expected {_EXPECTED[spec.type]}, got '{{}}'", text),
                )
            )
        if not spec.nullable or self.is_key:
            rules.append(
                _Rule(
                    f"not_null:{name}",
                    name,
                    self.missing(),
                    pl.lit(f"{name}: missing, and the column may not be empty"),
                )
            )
        if spec.min is not None or spec.max is not None:
            low = spec.min if spec.min is not None else -math.inf
            high = spec.max if spec.max is not None else math.inf
            outside = (value < low) | (value > high)  # ±inf falls outside finite bounds
            rules.append(
                _Rule(
                    f"range:{name}",
                    name,
                    outside & ~value.is_nan() if self.floats else outside,
                    pl.when(value < low)
                    .then(pl.format(f"{name}: {{}} is below the minimum {low:g}", value))
                    .otherwise(pl.format(f"{name}: {{}} is above the maximum {high:g}", value)),
                )
            )
        elif self.floats:
            rules.append(
                _Rule(
                    f"finite:{name}",
                    name,
                    value.is_infinite(),
                    pl.format(f"{name}: expected a finite number, got '{{}}'", text),
                )
            )
        if spec.categories is not None:
            allowed = ", ".join(spec.categories)
            rules.append(
                _Rule(
                    f"category:{name}",
                    name,
                    value.is_not_null() & ~value.is_in(spec.categories),
                    pl.format(f"{name}: '{{}}' is not one of {allowed}", value),
                )
            )
        if spec.regex is not None:
            rules.append(
                _Rule(
                    f"regex:{name}",
                    name,
                    value.is_not_null() & ~value.str.contains(spec.regex),
                    pl.format(f"{name}: '{{}}' does not match {spec.regex}", value),
                )
            )
        if spec.unique or self.is_key:
            rules.append(
                _Rule(
                    f"unique:{name}",
                    name,
                    self.usable() & value.is_duplicated(),
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
                .replace_strict(BOOLEAN_WORDS, default=None, return_dtype=pl.Boolean)
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
        return parse_datetime(raw)
    return pl.lit(None, dtype=target)


def parse_datetime(raw: pl.Expr) -> pl.Expr:
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
    name: str, function: str, custom: dict[str, CustomCheck], values: pl.DataFrame
) -> tuple[_Rule, pl.Series]:
    check = custom.get(name)
    if check is None:
        raise ConfigError(f"custom check '{name}' ({function}) was not loaded")
    try:
        result = check(values)
    except Exception as exc:
        raise ConfigError(
            f"custom check '{name}' ({function}) raised {type(exc).__name__}: {exc}"
        ) from exc
    if isinstance(result, pl.Expr):
        result = values.select(result.alias("ok")).to_series()
    if (
        not isinstance(result, pl.Series)
        or result.dtype != pl.Boolean
        or result.len() != values.height
    ):
        raise ConfigError(
            f"custom check '{name}' ({function}) must return a boolean polars expression or "
            f"Series with one value per row (True = good), got {type(result).__name__}"
        )
    column = f"__custom_{name}"
    rule = _Rule(f"custom:{name}", None, ~pl.col(column), pl.lit(f"custom check '{name}' failed"))
    return rule, result.alias(column)


# -- quarantine ------------------------------------------------------------------


def _quarantine(
    batch: RawBatch,
    failing: pl.DataFrame,
    masks: pl.DataFrame,
    rules: list[tuple[int, _Rule]],
    columns: list[str],
) -> pl.DataFrame:
    """Failing rows as they arrived (as text), with ``_reasons``, ``_source``, ``_row``.

    ``rules`` are the rules that failed somewhere, with their mask's index.
    """
    if failing.height:
        reasons = pl.concat_list(
            pl.when(masks[f"__fail_{i}"]).then(rule.reason).otherwise(None) for i, rule in rules
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
        shown = [_with_header(name, dataset.columns[name].source) for name in missing]
        parts.append(f"missing column(s) {', '.join(shown)}")
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


def _with_header(name: str, source: str | None) -> str:
    """A column as a batch must bring it: by its header, when that is not its name."""
    return f"{name} (header '{source}')" if source and source != name else name


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
