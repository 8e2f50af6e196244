"""Propose a schema from a sample file, and write it into the project file for review.

Types are tried from the narrowest (bool, int, float, datetime) to text; a type
fits when 95% of the sample's values parse as it (the rest are the errors the
schema is there to catch); a text
column with few distinct values becomes a category. Numeric ranges get a margin
(10% of the span) so the next batch is not rejected for being slightly wider,
and never go below zero when the sample has no negatives. A column named ``id``
or ``*_id`` whose values are all distinct becomes the key.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import polars as pl

from shipyard.config import PROJECT_FILE, load_config
from shipyard.errors import ConfigError
from shipyard.storage.safe_files import TempFile, checked_folder, refuse_link

from .sources import ROW, read_path
from .validate import BOOLEAN_WORDS, parse_datetime

SAMPLE_ROWS = 100_000
MAX_CATEGORIES = 20
MARGIN = 0.10
PARSE_SHARE = 0.95  # a column is numeric (or datetime) when this share of its values parse


def infer_schema(path: Path, *, sample: int = SAMPLE_ROWS) -> dict[str, Any]:
    """A dataset entry (``key``, ``timestamp``, ``columns``) proposed from ``path``."""
    frame = read_path(path).frame.drop(ROW).head(sample)
    columns: dict[str, dict[str, Any]] = {}
    for name in frame.columns:
        columns[name] = _infer_column(frame[name])
    entry: dict[str, Any] = {}
    key = next(
        (
            n
            for n, c in columns.items()
            if c.get("unique") and (n.lower() == "id" or n.lower().endswith("_id"))
        ),
        None,
    )
    if key:
        entry["key"] = key
        columns[key]["nullable"] = False
    timestamp = next((n for n, c in columns.items() if c["type"] == "datetime"), None)
    if timestamp:
        entry["timestamp"] = timestamp
    entry["columns"] = columns
    return entry


def _infer_column(series: pl.Series) -> dict[str, Any]:
    values = series.drop_nulls()
    spec: dict[str, Any] = {"type": _infer_type(series)}
    if series.null_count() == 0:
        spec["nullable"] = False
    if values.len() == 0:
        spec["type"] = "string"
        return spec
    if spec["type"] in ("int", "float"):
        typed = _typed(values, spec["type"]).drop_nulls()
        if spec["type"] == "float":
            typed = typed.filter(typed.is_finite())
        low, high = float(typed.min()), float(typed.max())  # type: ignore[arg-type]
        margin = (high - low) * MARGIN or abs(high) * MARGIN or 1.0
        low, high = low - margin, high + margin
        if float(typed.min()) >= 0:  # type: ignore[arg-type]
            low = max(low, 0.0)
        if spec["type"] == "int":
            spec["min"], spec["max"] = math.floor(low), math.ceil(high)
        else:
            spec["min"], spec["max"] = _round(low), _round(high)
    if spec["type"] in ("int", "string") and values.n_unique() == values.len() and values.len() > 1:
        spec["unique"] = True
    if spec["type"] == "string":
        distinct = values.cast(pl.String).unique().sort().to_list()
        if len(distinct) <= MAX_CATEGORIES and len(distinct) * 2 <= values.len():
            spec["type"] = "category"
            spec["categories"] = distinct
            spec.pop("unique", None)
    return spec


def _infer_type(series: pl.Series) -> str:
    dtype = series.dtype
    if dtype == pl.Boolean:
        return "bool"
    if dtype.is_integer():
        return "int"
    if dtype.is_float():
        return "float"
    if dtype.is_temporal():
        return "datetime"
    if dtype != pl.String:
        return "string"
    values = series.drop_nulls().str.strip_chars()
    if values.len() == 0:
        return "string"
    if values.str.to_lowercase().is_in([k for k in BOOLEAN_WORDS if not k.isdigit()]).all():
        return "bool"
    for kind in ("int", "float", "datetime"):
        if _typed(values, kind).null_count() <= values.len() * (1 - PARSE_SHARE):
            return kind
    return "string"


def _typed(values: pl.Series, kind: str) -> pl.Series:
    if kind == "datetime":
        return pl.select(parse_datetime(pl.lit(values.cast(pl.String)))).to_series()
    target = pl.Int64 if kind == "int" else pl.Float64
    if values.dtype == pl.String:
        return values.str.strip_chars().cast(target, strict=False)
    return values.cast(target, strict=False)


def _round(value: float) -> float:
    if value == 0:
        return 0.0
    digits = max(0, 3 - math.floor(math.log10(abs(value))))
    return round(value, digits)


def write_into_project(
    project_file: Path, name: str, entry: dict[str, Any], *, force: bool
) -> None:
    """Add ``entry`` as ``datasets.NAME`` to the project file, keeping its comments."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 120
    document = yaml.load(project_file.read_text(encoding="utf-8"))
    datasets = document.get("datasets")
    if datasets is None:
        datasets = CommentedMap()
        document["datasets"] = datasets
    if name in datasets and not force:
        raise ConfigError(
            f"dataset '{name}' is already declared in {project_file.name}; not replacing it",
            hint="pass --force to replace it, or choose another --dataset name",
        )
    block = CommentedMap()
    for key in ("key", "timestamp"):
        if key in entry:
            block[key] = entry[key]
    columns = CommentedMap()
    for column, spec in entry["columns"].items():
        flow = CommentedMap(spec)
        flow.fa.set_flow_style()
        columns[column] = flow
    block["columns"] = columns
    datasets[name] = block
    datasets.yaml_set_comment_before_after_key(
        name, before="proposed by 'shipyard data infer': review it, and set 'target' if any"
    )
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    # a new temporary file (never through a link), checked, then renamed over the old one
    with checked_folder(project_file.parent) as folder:
        refuse_link(folder, project_file.name, project_file)
        with TempFile(folder, prefix=f".{PROJECT_FILE}.infer.") as tmp:
            tmp.file.write(buffer.getvalue().encode("utf-8"))
            tmp.file.flush()
            load_config(project_file.with_name(tmp.name))  # only a file that still loads
            tmp.commit(folder, project_file.name)
