"""Column names: headers made into names the project file accepts, and back.

A column name in ``shipyard.yaml`` is letters, digits, ``.``, ``_`` or ``-`` (at
most 64, starting with a letter or digit). Real headers are often not:
scikit-learn's own feature names include ``mean radius`` and
``od280/od315_of_diluted_wines``. :func:`sanitise` proposes a name for each
header (``mean_radius``), keeping valid ones as they are and distinct ones
distinct; the column's ``source`` key keeps the original header, and
:func:`to_column_names` renames ``source`` headers to column names when a batch
is read, so the file is ingested as it is.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import polars as pl

from shipyard.config import DatasetConfig
from shipyard.errors import DataError

MAX_LENGTH = 64
_VALID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_OTHER = re.compile(r"[^A-Za-z0-9_.-]+")


def is_valid_name(name: str) -> bool:
    """Whether the project file accepts ``name`` as a column name."""
    return bool(_VALID.match(name))


def sanitise(headers: Sequence[str]) -> dict[str, str]:
    """A valid, distinct column name for each of ``headers`` (distinct strings), in order.

    Valid headers keep their name; any other becomes its letters and digits joined
    by ``_`` (accents dropped), with ``_2``, ``_3``… when that name is taken.
    """
    taken = {h for h in headers if is_valid_name(h)}
    names: dict[str, str] = {}
    for position, header in enumerate(headers, start=1):
        if header in taken:
            names[header] = header
            continue
        base = _clean(header) or f"column_{position}"
        name, n = base, 1
        while name in taken:
            n += 1
            suffix = f"_{n}"
            name = base[: MAX_LENGTH - len(suffix)] + suffix
        taken.add(name)
        names[header] = name
    return names


def _clean(header: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", header).encode("ascii", "ignore").decode("ascii")
    text = _OTHER.sub("_", ascii_text)
    text = re.sub(r"_{2,}", "_", text).strip("_.-")
    return text[:MAX_LENGTH].rstrip("_.-")


def to_column_names(frame: pl.DataFrame, dataset: DatasetConfig, where: str) -> pl.DataFrame:
    """``frame`` with each column's ``source`` header renamed to the column's name.

    A source header that is absent is left for validation to report as a missing
    column (unless the column's own name is there: a file already renamed reads too).
    """
    renames = {
        spec.source: name
        for name, spec in dataset.columns.items()
        if spec.source is not None and spec.source != name and spec.source in frame.columns
    }
    if not renames:
        return frame
    for source, name in renames.items():
        if name in frame.columns:
            raise DataError(
                f"{where}: has both the header '{source}' (the source of column '{name}') "
                f"and a column named '{name}'; which one is '{name}' is ambiguous",
                hint=f"drop or rename one of them, or remove 'source' from columns.{name}",
            )
    return frame.rename(renames)
