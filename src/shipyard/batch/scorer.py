"""What scores a chunk: a loaded model and the schema its rows are validated against.

A :class:`Scorer` is built once per run (and once per worker process or Ray actor: it
pickles with its model) from the model version and the columns of the dataset the model
is declared on; only the model's features are checked, with ingest's rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shipyard.config import ColumnConfig, DatasetConfig

if TYPE_CHECKING:
    from shipyard.models import Predictor


@dataclass(frozen=True)
class Scorer:
    """A loaded model (``predictor``), its features' schema (``dataset``: only the
    features, no key, no batch-level checks) and the dataset's timestamp column."""

    predictor: Predictor
    features: tuple[str, ...]
    dataset: DatasetConfig
    task: str
    event_time: str | None = None

    @classmethod
    def build(
        cls,
        predictor: Predictor,
        features: list[str],
        columns: Mapping[str, ColumnConfig],
        event_time: str | None = None,
    ) -> Scorer:
        """A scorer of ``features``, each checked as ``columns`` declares it (a feature the
        dataset does not declare must be a number). ``event_time``: the dataset's timestamp
        column, logged with each row that brings it (its passthrough field), so a run of a
        file is timed by when its rows happened, as a run of a dataset version is."""
        schema = {
            # uniqueness is a dataset's property, not a chunk's: a feature is not checked for it
            f: (c.model_copy(update={"unique": False}) if c else ColumnConfig(type="float"))
            for f in features
            for c in [columns.get(f)]
        }
        schema_only = DatasetConfig(columns=schema)
        return cls(predictor, tuple(features), schema_only, predictor.task, event_time)

    @property
    def classes(self) -> list[Any] | None:
        return self.predictor.classes if self.task != "regression" else None

    @property
    def numeric(self) -> bool:
        """Whether every feature is a number (the rows go to the model as one matrix)."""
        return all(self.dataset.columns[f].type in ("int", "float") for f in self.features)

    def column(self, name: str) -> ColumnConfig:
        return self.dataset.columns[name]
