"""Which requests a canary sends to the challenger: a deterministic share, sticky by a feature.

A request goes to the challenger when ``sha256(str(value)) mod 10000 < percent * 100``
(the digest read as a big-endian integer), where ``value`` is the request's first row's
value of ``sticky_by`` (so one customer, say, always sees one version), or, without
``sticky_by``, the request's first prediction id. A whole number is written without a
decimal point (an ``int`` feature travels as a float: ``30``, not ``30.0``). The same value gives the same answer in every worker and every replica,
and across restarts.
"""

from __future__ import annotations

import hashlib
from typing import Any

from shipyard.config.schema import CanaryConfig

from .validation import Rows

BUCKETS = 10_000
"""The hash is read modulo this: a percent is honoured to two decimals."""


def bucket(value: str) -> int:
    """Where ``value`` falls in ``[0, BUCKETS)``: its sha256 as an integer, modulo ``BUCKETS``."""
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def text(value: Any) -> str:
    """The text a value hashes as: ``30`` for 30.0, ``DE``, ``True``, ``None``."""
    item = getattr(value, "item", None)
    if callable(item):  # a NumPy scalar: the Python value it holds
        value = item()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class Canary:
    """A share of requests answered by the challenger (``models.NAME.retrain.canary``)."""

    def __init__(self, percent: float, sticky_by: str | None = None) -> None:
        self.percent = percent
        self.sticky_by = sticky_by
        self.limit = round(percent * BUCKETS / 100)

    @classmethod
    def from_config(cls, config: CanaryConfig) -> Canary:
        return cls(config.percent, config.sticky_by)

    def key(self, rows: Rows, first_id: str) -> str:
        """What the choice hashes: the first row's ``sticky_by`` value, else ``first_id``."""
        name = self.sticky_by
        if name is None:
            return first_id
        if rows.whole is not None and name in rows.names:
            return text(rows.whole[0, rows.names.index(name)])
        column = rows.columns.get(name)
        if column is None or not len(column):
            return first_id
        return text(column[0])

    def chooses(self, rows: Rows, first_id: str) -> bool:
        """Whether the challenger answers this request."""
        return bucket(self.key(rows, first_id)) < self.limit

    def describe(self) -> dict[str, Any]:
        return {"percent": self.percent, "sticky_by": self.sticky_by}
