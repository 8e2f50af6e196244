"""Propose a schema from a sample file, and write it into the project file for review.

Types are tried from the narrowest (bool, int, float, datetime) to text; a type
fits when 95% of the sample's values parse as it (the rest are the errors the
schema is there to catch); a text column with few distinct values becomes a
category. A header the project file would refuse as a name (``mean radius``) is
proposed sanitised (``mean_radius``) with ``source:`` naming the header, so the
file is ingested as it is. A column named like an identifier (``id``, ``*_id``,
``uuid``) whose values are all distinct becomes the key.

The proposal has to hold for tomorrow's batch, not only for the sample: numeric
ranges are proposed only when asked (``ranges=True``), widened by 10% of the
observed span (never below zero when the sample has none), with a comment stating
what was observed; never on the key, identifier-like columns (by name, or whole
numbers all distinct) or timestamps.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from shipyard.config import PROJECT_FILE, parse_config
from shipyard.errors import ConfigError
from shipyard.storage.safe_files import TempFile, checked_folder, refuse_link

from .names import sanitise
from .sources import ROW, read_path
from .validate import BOOLEAN_WORDS, parse_datetime

SAMPLE_ROWS = 100_000
MAX_CATEGORIES = 20
MARGIN = 0.10
FEW_CODES = 3  # an int column with at most this many values is a label or a code
# a label by name, whatever its count of values: target, label, class, y, outcome, *_label
_LABEL_NAME = re.compile(r"(?i)^(?:target|label|class|y|outcome)$|(?:^|_)(?:label|class|target)$")
PARSE_SHARE = 0.95  # a column is numeric (or datetime) when this share of its values parse
# identifiers by name: id, customer_id, Customer ID, uuid, order-guid, customerId
_ID_NAME = re.compile(r"(?i:(?:^|[_.-])(?:id|uuid|guid))$|[a-z](?:Id|ID|Uuid|UUID)$")
# times by name (an epoch in an int column is still a time): ts, created_at, event_time, date
_TIME_NAME = re.compile(r"(?i:(?:^|[_.-])(?:ts|time|timestamp|date|datetime|epoch)|_at)$")


@dataclass(frozen=True)
class Proposal:
    """A proposed dataset entry (``key``, ``timestamp``, ``columns``), and a comment per
    column that explains a proposed value (what a range was widened from)."""

    entry: dict[str, Any]
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def columns(self) -> dict[str, dict[str, Any]]:
        columns: dict[str, dict[str, Any]] = self.entry["columns"]
        return columns


def infer_schema(path: Path, *, ranges: bool = False, sample: int = SAMPLE_ROWS) -> Proposal:
    """The dataset entry proposed from ``path``; numeric ranges only when ``ranges``."""
    frame = read_path(path).frame.drop(ROW).head(sample)
    names = sanitise(frame.columns)
    columns: dict[str, dict[str, Any]] = {}
    notes: dict[str, str] = {}
    for header, name in names.items():
        spec = _infer_column(frame[header])
        columns[name] = {"source": header, **spec} if header != name else spec
    entry: dict[str, Any] = {}
    key = next(
        (n for n, c in columns.items() if c.get("unique") and _ID_NAME.search(n)),
        None,
    )
    if key:
        entry["key"] = key
        columns[key]["nullable"] = False
    timestamp = next((n for n, c in columns.items() if c["type"] == "datetime"), None)
    if timestamp:
        entry["timestamp"] = timestamp
    entry["columns"] = columns
    if ranges:
        for header, name in names.items():
            spec = columns[name]
            if spec["type"] in ("int", "float") and not _identifier_or_time(name, spec):
                note = _add_range(name, spec, frame[header])
                if note:
                    notes[name] = note
    return Proposal(entry, notes)


def _identifier_or_time(name: str, spec: dict[str, Any]) -> bool:
    """Whether a range would be wrong tomorrow: ids and times only ever grow."""
    if _ID_NAME.search(name) or _TIME_NAME.search(name):
        return True
    return spec["type"] == "int" and bool(spec.get("unique"))


def _infer_column(series: pl.Series) -> dict[str, Any]:
    values = series.drop_nulls()
    spec: dict[str, Any] = {"type": _infer_type(series)}
    if series.null_count() == 0:
        spec["nullable"] = False
    if values.len() == 0:
        spec["type"] = "string"
        return spec
    if spec["type"] in ("int", "string") and values.n_unique() == values.len() and values.len() > 1:
        spec["unique"] = True
    if spec["type"] == "string":
        distinct = values.cast(pl.String).unique().sort().to_list()
        if len(distinct) <= MAX_CATEGORIES and len(distinct) * 2 <= values.len():
            spec["type"] = "category"
            spec["categories"] = distinct
            spec.pop("unique", None)
    return spec


def _add_range(name: str, spec: dict[str, Any], series: pl.Series) -> str | None:
    """Set ``min``/``max`` from the sample, widened; the comment that says so."""
    typed = _typed(series.drop_nulls(), spec["type"]).drop_nulls()
    if spec["type"] == "float":
        typed = typed.filter(typed.is_finite())
    if typed.len() == 0:
        return None
    seen_low, seen_high = float(typed.min()), float(typed.max())  # type: ignore[arg-type]
    codes = typed.unique().sort()
    few = codes.len() <= FEW_CODES or bool(_LABEL_NAME.search(name))
    if spec["type"] == "int" and few and codes.len() * 2 <= typed.len():
        # a label or a code (0/1, a class, a grade): a value beyond them is a new one to
        # question, not tomorrow's growth
        spec["min"], spec["max"] = int(seen_low), int(seen_high)
        shown = ", ".join(str(v) for v in codes.to_list())
        return f"only {shown} seen: a label or code? not widened"
    margin = (seen_high - seen_low) * MARGIN or abs(seen_high) * MARGIN or 1.0
    low, high = seen_low - margin, seen_high + margin
    floor = ""
    if seen_low >= 0 and low < 0:
        low, floor = 0.0, ", not below 0"
    if spec["type"] == "int":
        spec["min"], spec["max"] = math.floor(low), math.ceil(high)
    else:
        spec["min"], spec["max"] = _round(low), _round(high)
    return f"observed {seen_low:g} to {seen_high:g}, widened {MARGIN:.0%}{floor}"


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


HEADING = "proposed by 'shipyard data infer': review it, and set 'target' if any"


def render(name: str, proposal: Proposal) -> str:
    """The proposal as the YAML ``write_into_project`` adds (``datasets: NAME: …``)."""
    from ruamel.yaml.comments import CommentedMap

    datasets = CommentedMap()
    datasets[name] = _block(proposal)
    datasets.yaml_set_comment_before_after_key(name, before=HEADING, indent=2)
    return _dump({"datasets": datasets})


def write_into_project(project_file: Path, name: str, proposal: Proposal, *, force: bool) -> None:
    """Add ``proposal`` as ``datasets.NAME`` to the project file, keeping its comments.

    The file is replaced only by one that still loads; a problem is reported against
    the project file's own name, and nothing is written.
    """
    from ruamel.yaml.comments import CommentedMap

    document = _yaml().load(project_file.read_text(encoding="utf-8"))
    datasets = document.get("datasets")
    if datasets is None:
        datasets = CommentedMap()
        document["datasets"] = datasets
    if name in datasets and not force:
        raise ConfigError(
            f"dataset '{name}' is already declared in {project_file.name}; not replacing it",
            hint="pass --force to replace it, or choose another --dataset name",
        )
    datasets[name] = _block(proposal)
    datasets.yaml_set_comment_before_after_key(name, before=HEADING, indent=2)
    text = _dump(document)
    try:
        parse_config(text, source=str(project_file))  # only a file that still loads
    except ConfigError as exc:
        raise ConfigError(
            f"not written: with datasets.{name} as proposed, {exc.message}",
            hint=f"fix {project_file.name} (or pass another --dataset name) and infer again",
        ) from None
    # a new temporary file (never through a link), then renamed over the old one
    with checked_folder(project_file.parent) as folder:
        refuse_link(folder, project_file.name, project_file)
        with TempFile(folder, prefix=f".{PROJECT_FILE}.infer.") as tmp:
            tmp.file.write(text.encode("utf-8"))
            tmp.file.flush()
            tmp.commit(folder, project_file.name)


def _block(proposal: Proposal) -> Any:
    from ruamel.yaml.comments import CommentedMap

    block = CommentedMap()
    for key in ("key", "timestamp"):
        if key in proposal.entry:
            block[key] = proposal.entry[key]
    columns = CommentedMap()
    for column, spec in proposal.columns.items():
        flow = CommentedMap(spec)
        flow.fa.set_flow_style()
        columns[column] = flow
        if column in proposal.notes:
            columns.yaml_add_eol_comment(proposal.notes[column], column)
    block["columns"] = columns
    return block


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # a column's flow mapping stays on one line
    return yaml


def _dump(document: Any) -> str:
    buffer = io.StringIO()
    _yaml().dump(document, buffer)
    return buffer.getvalue()
