"""The fallback chain: what answers when the model cannot.

In order: the declared rules (a list in the project file, or your
``module:function``), then the cached answer the model gave for the same row
(a bounded LRU), then the declared default. Each row is answered by the first
link that can; a row none can answer is reported, never invented.
"""

from __future__ import annotations

import itertools
import logging
import operator
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.config import FallbackAnswer, FallbackConfig, FallbackRule
from shipyard.entrypoints import load_entry_point

from .validation import Rows

logger = logging.getLogger(__name__)

MODEL, RULES, CACHE, DEFAULT = "model", "rules", "cache", "default"
_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
    "eq": operator.eq,
    "ne": operator.ne,
}


@dataclass
class Answers:
    """One answer per row: the label or value, the class probabilities, who answered and which version."""

    predictions: list[Any]
    probabilities: list[list[float] | None] | None
    paths: list[str | None]
    versions: list[int | None]

    @classmethod
    def empty(cls, n: int, with_proba: bool) -> Answers:
        return cls([None] * n, [None] * n if with_proba else None, [None] * n, [None] * n)

    @property
    def unanswered(self) -> list[int]:
        return [i for i, path in enumerate(self.paths) if path is None]

    def set(self, index: int, path: str, prediction: Any, proba: Any, version: int | None) -> None:
        self.predictions[index] = prediction
        if self.probabilities is not None:
            self.probabilities[index] = None if proba is None else list(proba)
        self.paths[index] = path
        self.versions[index] = version


def row_keys(rows: Rows) -> list[Hashable]:
    """A hashable key per row (its feature values), for the answer cache."""
    if rows.whole is not None:
        data = rows.whole.tobytes()
        width = rows.whole.shape[1] * rows.whole.itemsize
        return [data[i : i + width] for i in range(0, len(data), width)]
    if rows.numeric:
        return [tuple(r) for r in rows.matrix().tolist()]
    return list(zip(*(rows.columns[name].tolist() for name in rows.names), strict=True))


class AnswerCache:
    """The model's latest answers by row, at most ``size`` of them.

    A plain dict in insertion order: a row answered again moves to the end, the
    oldest entries leave first. Answers are kept as (version, labels, probabilities,
    index) so that storing a batch costs no conversion on the request path.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: dict[Hashable, tuple[int | None, Any, Any, int]] = {}

    def __len__(self) -> int:
        return len(self._items)

    def put_many(
        self, keys: list[Hashable], version: int | None, predictions: Any, probabilities: Any
    ) -> None:
        if not self.size:
            return
        items = self._items
        pop = items.pop
        for index, key in enumerate(keys):
            pop(key, None)
            items[key] = (version, predictions, probabilities, index)
        excess = len(items) - self.size
        if excess > 0:
            for key in list(itertools.islice(items, excess)):
                del items[key]

    def get(self, key: Hashable) -> tuple[int | None, Any, Any] | None:
        found = self._items.pop(key, None)
        if found is None:
            return None
        self._items[key] = found  # recently used: to the end
        version, predictions, probabilities, index = found
        proba = None if probabilities is None else probabilities[index]
        return version, _plain(predictions[index]), None if proba is None else _plain_list(proba)

    def clear(self) -> None:
        self._items.clear()


class FallbackChain:
    """Rules → cache → default, over rows the model could not answer."""

    def __init__(
        self, config: FallbackConfig | None, root: Path, with_proba: bool, *, model: str = ""
    ) -> None:
        config = config or FallbackConfig(cache_size=10_000)
        self.with_proba = with_proba
        self.cache = AnswerCache(config.cache_size)
        self.default: FallbackAnswer | None = config.default
        self._rules: list[FallbackRule] = config.rules if isinstance(config.rules, list) else []
        self._function: Callable[..., Any] | None = None
        if isinstance(config.rules, str):
            self._function = load_entry_point(
                config.rules, root=root, where=f"models.{model}.fallback.rules"
            )

    @property
    def declared(self) -> list[str]:
        links = []
        if self._rules or self._function:
            links.append(RULES)
        if self.cache.size:
            links.append(CACHE)
        if self.default is not None:
            links.append(DEFAULT)
        return links

    def answer(self, rows: Rows, keys: list[Hashable] | None, answers: Answers) -> None:
        """Fill every unanswered row the chain can answer (rows it cannot keep path None)."""
        if self._function is not None:
            self._call_function(rows, answers)
        elif self._rules:
            self._apply_rules(rows, answers)
        if self.cache.size and keys is not None:
            for index in answers.unanswered:
                hit = self.cache.get(keys[index])
                if hit is not None:
                    answers.set(index, CACHE, hit[1], hit[2], hit[0])
        if self.default is not None:
            for index in answers.unanswered:
                answers.set(
                    index, DEFAULT, self.default.prediction, self.default.probabilities, None
                )

    def _apply_rules(self, rows: Rows, answers: Answers) -> None:
        open_rows = np.zeros(rows.n, dtype=bool)
        open_rows[answers.unanswered] = True
        for rule in self._rules:
            match = open_rows.copy()
            for column, conditions in rule.when.items():
                values = rows.columns[column]
                for op, operand in conditions.items():
                    try:
                        if op == "in":
                            hit = np.isin(values, np.array(operand, dtype=values.dtype))
                        else:
                            hit = np.asarray(_OPERATORS[op](values, operand), dtype=bool)
                    except TypeError:  # a comparison that cannot hold for these values
                        hit = np.zeros(rows.n, dtype=bool)
                    match &= hit
            for index in np.flatnonzero(match):
                answers.set(int(index), RULES, rule.prediction, rule.probabilities, None)
            open_rows &= ~match

    def _call_function(self, rows: Rows, answers: Answers) -> None:
        import pandas as pd

        assert self._function is not None
        todo = answers.unanswered
        frame = pd.DataFrame({name: column[todo] for name, column in rows.columns.items()})
        try:
            result = self._function(frame)
            if isinstance(result, dict):
                predictions = list(result["predictions"])
                probabilities = result.get("probabilities")
            else:
                predictions, probabilities = list(result), None
            if len(predictions) != len(todo):
                raise ValueError(f"returned {len(predictions)} answers for {len(todo)} rows")
        except Exception:
            logger.exception("the fallback rules function failed; trying the cache and the default")
            return
        for position, index in enumerate(todo):
            prediction = predictions[position]
            if prediction is None:
                continue
            proba = None if probabilities is None else probabilities[position]
            answers.set(index, RULES, _plain(prediction), proba, None)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _plain_list(values: Any) -> list[Any]:
    return values.tolist() if hasattr(values, "tolist") else list(values)
