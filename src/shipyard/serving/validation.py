"""Request validation: rows checked against the model's feature schema, column by column.

A request's rows arrive as records (one dict per row) or as columns (one list per
feature); either way each feature's values are checked together: the common case
(every value a number) is one type scan and one NumPy conversion, and only the
values that fail are looked at one by one to say what was wrong with them. Every
problem is reported, as ``rows[3].amount: expected a number, got "12,5"``: an unknown
field is one problem among the others, never the only one said.

Fields a model declares as ``passthrough`` (an id, a timestamp) are accepted as they
are and kept beside the rows for the prediction log; they never reach the model. A
model that declares none pays nothing for them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import orjson

from shipyard.config import ColumnConfig
from shipyard.errors import ShipyardError

MAX_PROBLEMS = 50
_NUMBER_TYPES = {int, float}
_UNKNOWN = ": unknown field"


class RequestError(ShipyardError, ValueError):
    """A request the server will not pass to the model; ``problems`` lists each by row and field."""

    http_status = 422
    code = "invalid_request"

    def __init__(
        self, message: str, *, problems: list[str] | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.problems = list(problems or [])


class MalformedRequestError(RequestError):
    """The body is not JSON, or not JSON of the protocol's shape."""

    http_status = 400
    code = "malformed_request"


class TooLargeError(RequestError):
    """The body or the number of rows is over the server's limit."""

    http_status = 413
    code = "too_large"


@dataclass(frozen=True)
class FieldSpec:
    """What one feature accepts, from the dataset schema the model was declared on."""

    name: str
    type: str = "float"
    nullable: bool = True
    min: float | None = None
    max: float | None = None
    categories: frozenset[str] | None = None
    regex: re.Pattern[str] | None = None

    @classmethod
    def from_column(cls, name: str, column: ColumnConfig | None) -> FieldSpec:
        if column is None:
            return cls(name)
        return cls(
            name,
            column.type,
            column.nullable,
            column.min,
            column.max,
            frozenset(column.categories) if column.categories else None,
            re.compile(column.regex) if column.regex else None,
        )

    @property
    def numeric(self) -> bool:
        return self.type in ("int", "float")

    def json_schema(self) -> dict[str, Any]:
        """This field as JSON Schema (for the OpenAPI document)."""
        kinds = {"int": "integer", "float": "number", "bool": "boolean"}
        schema: dict[str, Any] = {"type": kinds.get(self.type, "string")}
        if self.min is not None:
            schema["minimum"] = self.min
        if self.max is not None:
            schema["maximum"] = self.max
        if self.categories:
            schema["enum"] = sorted(self.categories)
        if self.regex is not None:
            schema["pattern"] = self.regex.pattern
        if self.type == "datetime":
            schema["format"] = "date-time"
        if self.nullable:
            schema = {"anyOf": [schema, {"type": "null"}]}
        return schema


class Rows:
    """Validated rows: one NumPy array per feature, in the model's feature order.

    All-numeric rows validated at once keep only their float64 matrix (``whole``);
    the per-feature ``columns`` are views made when something asks for them.
    Slotted and small: the prediction log holds one per request until it flushes.
    ``passthrough``: one dict per row of the request's passthrough fields (only those
    the row has), or ``None`` when the request carried none.
    """

    __slots__ = ("_columns", "n", "names", "numeric", "passthrough", "whole")

    def __init__(
        self,
        columns: dict[str, np.ndarray] | None,
        n: int,
        numeric: bool,
        whole: np.ndarray | None = None,
        names: list[str] | None = None,
    ) -> None:
        self._columns = columns
        self.n = n
        self.numeric = numeric
        self.whole = whole
        self.names = names if names is not None else list(columns or {})
        self.passthrough: list[dict[str, Any]] | None = None

    @property
    def columns(self) -> dict[str, np.ndarray]:
        if self._columns is None:
            assert self.whole is not None
            self._columns = {name: self.whole[:, i] for i, name in enumerate(self.names)}
        return self._columns

    def take(self, index: int) -> Rows:
        """Row ``index`` alone."""
        if self.whole is not None:
            row = Rows(None, 1, self.numeric, self.whole[index : index + 1], self.names)
        else:
            columns = {name: column[index : index + 1] for name, column in self.columns.items()}
            row = Rows(columns, 1, self.numeric)
        if self.passthrough is not None:
            row.passthrough = self.passthrough[index : index + 1]
        return row

    def matrix(self) -> np.ndarray:
        """The rows as one float64 matrix (only when every feature is numeric)."""
        if self.whole is not None:
            return self.whole
        return np.column_stack([self.columns[name] for name in self.names])


_MISSING = object()
_MISSING_SAID = ": required, missing"
_ROW = re.compile(r"^\w+\[(\d+)\]")


def _row_of(problem: str) -> int:
    found = _ROW.match(problem)
    return int(found.group(1)) if found else -1


def _show(value: Any) -> str:
    if value is _MISSING:
        return "nothing"
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class RowValidator:
    """Checks rows against the features of one model and turns them into arrays."""

    def __init__(
        self, fields: list[FieldSpec], *, passthrough: list[str] | None = None, model: str = ""
    ) -> None:
        self.fields = fields
        self.names = [f.name for f in fields]
        self._names = frozenset(self.names)
        self.passthrough = [p for p in passthrough or [] if p not in self._names]
        self._carried = frozenset(self.passthrough)
        self._allowed = self._names | self._carried
        self.model = model
        self.numeric = all(f.numeric for f in fields)
        inf = float("inf")
        self._low = np.array([-inf if f.min is None else f.min for f in fields])
        self._high = np.array([inf if f.max is None else f.max for f in fields])
        self._bounded = bool(np.isfinite(self._low).any() or np.isfinite(self._high).any())
        self._whole = np.array([f.type == "int" for f in fields])

    def _fast_numbers(self, rows: list[Any]) -> Rows | None:
        """All-numeric features and every value a good number: one matrix, a few array checks.

        ``None`` sends the rows down the column-by-column path, which names each problem.
        """
        names = self.names
        width = len(names)
        try:
            # every name present and nothing else: no missing and no unknown fields
            if not all(len(row) == width for row in rows):
                if not self._carried:
                    return None
                return self._fast_carrying(rows)
            values = [row[name] for row in rows for name in names]
        except (KeyError, TypeError):
            return None
        return self._fast_values(values, len(rows))

    def _fast_carrying(self, rows: list[Any]) -> Rows | None:
        """The fast path of records with passthrough fields beside the features."""
        allowed = self._allowed
        if not all(type(row) is dict and row.keys() <= allowed for row in rows):
            return None
        try:
            values = [row[name] for row in rows for name in self.names]
        except KeyError:
            return None
        fast = self._fast_values(values, len(rows))
        if fast is not None:
            fast.passthrough = self._carry_records(rows)
        return fast

    def _carry_records(self, rows: list[Any]) -> list[dict[str, Any]] | None:
        """Each row's passthrough fields (``None`` when no row has one)."""
        carried = self._carried
        kept = [{k: v for k, v in row.items() if k in carried} for row in rows]
        return kept if any(kept) else None

    def _carry_columns(self, columns: dict[str, Any], n: int) -> list[dict[str, Any]] | None:
        """Each row's passthrough fields from columns (``None`` when none was sent)."""
        present = [(name, columns[name]) for name in self.passthrough if name in columns]
        if not present:
            return None
        return [{name: values[i] for name, values in present} for i in range(n)]

    def _unknown(self, at: str, key: str | None = None) -> str:
        """An unknown field: ``at`` names it (``rows[1].zip``), or ``key`` does."""
        named = f" '{key}'" if key is not None else ""
        carried = f"; passed through: {', '.join(self.passthrough)}" if self.passthrough else ""
        return f"{at}: unknown field{named}; this model takes {', '.join(self.names)}{carried}"

    def _fast_values(self, values: list[Any], n: int) -> Rows | None:
        """``values``: ``n`` rows of every feature, row after row."""
        names = self.names
        if not set(map(type, values)) <= _NUMBER_TYPES:
            return None
        try:
            matrix = np.array(values, dtype=np.float64).reshape(n, len(names))
        except OverflowError:
            return None
        if not np.isfinite(matrix).all():
            return None
        if self._bounded and ((matrix < self._low).any() or (matrix > self._high).any()):
            return None
        if self._whole.any():
            whole = matrix[:, self._whole]
            if (whole != np.round(whole)).any():
                return None
        return Rows(None, n, True, matrix, names)

    # -- entry points ----------------------------------------------------------------
    def records(self, rows: list[Any], *, where: str = "rows") -> Rows:
        """Validate a list of records (one object per row)."""
        if self.numeric and rows:
            fast = self._fast_numbers(rows)
            if fast is not None:
                return fast
        problems: list[str] = []
        names = self._names
        allowed = self._allowed
        not_records: set[int] = set()
        for index, row in enumerate(rows):
            if type(row) is not dict:
                not_records.add(index)
                problems.append(
                    f"{where}[{index}]: expected an object of feature values, got {_show(row)}"
                )
            elif row.keys() != names:
                problems += [
                    self._unknown(f"{where}[{index}].{key}") for key in row if key not in allowed
                ]
        # the values are checked too: an unknown field does not hide what else is wrong
        records = [{} if i in not_records else row for i, row in enumerate(rows)]
        columns = {name: [row.get(name, _MISSING) for row in records] for name in self.names}
        checked = self._check(columns, len(rows), where, problems, skip=not_records)
        if self._carried:
            checked.passthrough = self._carry_records(records)
        return checked

    def columns(self, columns: dict[str, Any], *, where: str = "rows") -> Rows:
        """Validate columns (one list of values per feature, all of one length)."""
        allowed = self._allowed
        problems = [self._unknown(where, name) for name in columns if name not in allowed]
        problems += [
            f"{where}: the field '{name}' is missing" for name in self.names if name not in columns
        ]
        lengths = {len(v) if isinstance(v, list) else -1 for v in columns.values()}
        if -1 in lengths:
            problems.append(f"{where}: every field needs a list of values, one per row")
        elif len(lengths) > 1:
            problems.append(
                f"{where}: the fields have different numbers of values ({sorted(lengths)})"
            )
        if problems and (len(lengths) != 1 or -1 in lengths):
            raise self._error(problems)  # no rows to check the values of
        n = lengths.pop() if lengths else 0
        given = {name: columns.get(name, [_MISSING] * n) for name in self.names}
        checked = self._check(given, n, where, problems, missing_said=True)
        if self._carried:
            checked.passthrough = self._carry_columns(columns, n)
        return checked

    def carry(self, rows: Rows, columns: dict[str, Any]) -> Rows:
        """``rows`` with the passthrough fields among ``columns`` (one list per field)."""
        if self._carried:
            rows.passthrough = self._carry_columns(columns, rows.n)
        return rows

    def matrix(self, data: list[Any], *, where: str = "rows") -> Rows:
        """Validate a list of rows given as lists of values in feature order."""
        width = len(self.names)
        problems = [
            f"{where}[{index}]: expected a list of {width} values ({', '.join(self.names)}), "
            f"got {_show(row)}"
            for index, row in enumerate(data)
            if type(row) is not list or len(row) != width
        ]
        if problems:
            raise self._error(problems)
        if self.numeric and data:
            fast = self._fast_values([value for row in data for value in row], len(data))
            if fast is not None:
                return fast
        columns = {name: [row[i] for row in data] for i, name in enumerate(self.names)}
        return self._check(columns, len(data), where)

    # -- the checks --------------------------------------------------------------------
    def _check(
        self,
        columns: dict[str, list[Any]],
        n: int,
        where: str,
        found: list[str] | None = None,
        *,
        skip: set[int] | None = None,
        missing_said: bool = False,
    ) -> Rows:
        """Arrays of the values; ``found``: the problems already found in the request's
        shape, said with the values' (``skip``: rows that were not records, whose values
        are not looked at; ``missing_said``: a missing field was said once already)."""
        if n == 0:
            if found:
                raise self._error(found)
            raise RequestError(
                "the request has no rows", hint="send at least one row of feature values"
            )
        problems: list[str] = []
        arrays: dict[str, np.ndarray] = {}
        for spec in self.fields:
            values = columns[spec.name]
            if spec.numeric:
                arrays[spec.name] = self._numbers(spec, values, where, problems)
            else:
                arrays[spec.name] = self._others(spec, values, where, problems)
        if found:
            if skip:
                problems = [p for p in problems if _row_of(p) not in skip]
            if missing_said:
                problems = [p for p in problems if not p.endswith(_MISSING_SAID)]
            problems = found + problems
        if problems:
            raise self._error(problems)
        return Rows(arrays, n, self.numeric)

    def _numbers(
        self, spec: FieldSpec, values: list[Any], where: str, problems: list[str]
    ) -> np.ndarray:
        kinds = set(map(type, values))
        if kinds <= _NUMBER_TYPES:
            try:
                array = np.array(values, dtype=np.float64)
            except OverflowError:  # an int too big for a float
                array = np.array([float("inf")] * len(values))
        else:
            array = np.empty(len(values), dtype=np.float64)
            for index, value in enumerate(values):
                kind = type(value)
                if kind is int or kind is float:
                    array[index] = value
                elif value is None and spec.nullable:
                    array[index] = math.nan
                else:
                    array[index] = math.nan
                    problems.append(self._bad_number(spec, value, where, index))
            if len(problems) >= MAX_PROBLEMS:
                return array
        bad = ~np.isfinite(array)
        if bad.any():
            for index in np.flatnonzero(bad)[:MAX_PROBLEMS]:
                value = values[index]
                if type(value) in _NUMBER_TYPES:
                    problems.append(
                        f"{where}[{index}].{spec.name}: expected a finite number, got {_show(value)}"
                    )
        if spec.type == "int":
            fractional = np.isfinite(array) & (array != np.round(array))
            for index in np.flatnonzero(fractional)[:MAX_PROBLEMS]:
                problems.append(
                    f"{where}[{index}].{spec.name}: expected a whole number, got {_show(values[index])}"
                )
        for bound, outside, word in (
            (spec.min, array < (spec.min if spec.min is not None else 0), "at least"),
            (spec.max, array > (spec.max if spec.max is not None else 0), "at most"),
        ):
            if bound is None:
                continue
            for index in np.flatnonzero(outside)[:MAX_PROBLEMS]:
                problems.append(
                    f"{where}[{index}].{spec.name}: expected a number {word} {bound:g}, "
                    f"got {_show(values[index])}"
                )
        return array

    def _bad_number(self, spec: FieldSpec, value: Any, where: str, index: int) -> str:
        at = f"{where}[{index}].{spec.name}"
        if value is _MISSING:
            return f"{at}: required, missing"
        if value is None:
            return f"{at}: may not be null"
        if isinstance(value, str):
            return f"{at}: expected a number, got {_show(value)} (a string; send a JSON number)"
        return f"{at}: expected a number, got {_show(value)}"

    def _others(
        self, spec: FieldSpec, values: list[Any], where: str, problems: list[str]
    ) -> np.ndarray:
        for index, value in enumerate(values):
            reason = self._other_problem(spec, value)
            if reason is not None:
                problems.append(f"{where}[{index}].{spec.name}: {reason}")
                if len(problems) >= MAX_PROBLEMS:
                    break
        array = np.empty(len(values), dtype=object)
        array[:] = [None if v is _MISSING else v for v in values]
        return array

    def _other_problem(self, spec: FieldSpec, value: Any) -> str | None:
        if value is _MISSING:
            return "required, missing"
        if value is None:
            return None if spec.nullable else "may not be null"
        if spec.type == "bool":
            return None if type(value) is bool else f"expected true or false, got {_show(value)}"
        if not isinstance(value, str):
            return f"expected a string, got {_show(value)}"
        if spec.categories is not None and value not in spec.categories:
            allowed = ", ".join(sorted(spec.categories)[:20])
            return f"expected one of {allowed}, got {_show(value)}"
        if spec.regex is not None and not spec.regex.fullmatch(value):
            return f"expected a value matching /{spec.regex.pattern}/, got {_show(value)}"
        if spec.type == "datetime":
            try:
                datetime.fromisoformat(value)
            except ValueError:
                return f"expected an ISO 8601 date-time, got {_show(value)}"
        return None

    def _error(self, problems: list[str]) -> RequestError:
        problems = sorted(problems, key=_row_of)  # by row, then in field order (a stable sort)
        shown = problems[:MAX_PROBLEMS]
        more = len(problems) - len(shown)
        if more > 0:
            shown.append(f"... and {more} more")
        count = len(problems)
        hint = None
        if any(_UNKNOWN in p for p in problems):
            hint = (
                "to log a field that is not a feature (an id, a timestamp), declare it under "
                f"models.{self.model or 'NAME'}.passthrough in shipyard.yaml"
            )
        return RequestError(
            f"the request has {count} problem{'s' if count != 1 else ''}; "
            "nothing was passed to the model",
            problems=shown,
            hint=hint,
        )
