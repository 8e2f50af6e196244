"""The fallback chain: what answers when the model cannot.

In order: the declared rules (a list in the project file, or your
``module:function``), then the cached answer the model gave for the same row
(an LRU bounded in entries and in bytes), then the declared default. Each row is answered by the first
link that can; a row none can answer is reported, never invented.
"""

from __future__ import annotations

import itertools
import logging
import operator
import sys
from collections import OrderedDict
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


DEFAULT_CACHE_BYTES = 32_000_000
_ENTRY_BYTES = 150
"""An entry's own memory: its dict slot, its tuple, its index."""
_PIN_BYTES = 150
"""A batch's bookkeeping, beyond its arrays and keys."""


class AnswerCache:
    """The model's latest answers by row: at most ``size`` entries and ``max_bytes`` bytes.

    An ordered dict: a row answered again moves to the end, the oldest entries
    leave first, each in constant time (a plain dict slows down as its front
    empties: every eviction scanned the holes the earlier ones left). Answers are kept as references into the arrays the
    model returned (no conversion on the request path), so an entry keeps its
    whole batch's arrays alive. The bytes counted are therefore per batch: its
    answer arrays (the root array when they are views into a larger micro-batch)
    and its keys at their real size (a row of long strings costs what it holds),
    until the batch's last entry leaves; plus a fixed cost per entry. That counts
    a batch that has lost some entries in full, never less than it holds. A batch
    that alone would take more than half the bound keeps a copy of only its last
    rows that fit.
    """

    def __init__(self, size: int, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self._pinned = 0  # bytes of the batches some entry keeps alive
        self._items: OrderedDict[Hashable, tuple[int | None, Any, Any, int, _Pin]] = OrderedDict()
        self._pins: dict[tuple[int, int], _Pin] = {}

    def __len__(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        """What the cache holds, as counted: batches kept alive plus the entries."""
        return self._pinned + len(self._items) * _ENTRY_BYTES

    def put_many(
        self, keys: list[Hashable], version: int | None, predictions: Any, probabilities: Any
    ) -> None:
        if not self.size or not keys:
            return
        if not isinstance(predictions, np.ndarray):
            predictions = np.asarray(predictions)
        if probabilities is not None and not isinstance(probabilities, np.ndarray):
            probabilities = np.asarray(probabilities)
        roots = (_root(predictions), _root(probabilities))
        pin = self._pins.get((id(roots[0]), id(roots[1])))
        held = _keys_bytes(keys) + (0 if pin else _arrays_bytes(roots))
        if held + len(keys) * _ENTRY_BYTES > self.max_bytes // 2:  # keep the last rows that fit
            fit = min(
                len(keys), int(self.max_bytes // 2 * len(keys) // (held + len(keys) * _ENTRY_BYTES))
            )
            if fit == 0:
                return
            keys = keys[-fit:]
            predictions = predictions[-fit:].copy()
            probabilities = None if probabilities is None else probabilities[-fit:].copy()
            roots, pin = (predictions, probabilities), None
            held = _keys_bytes(keys) + _arrays_bytes(roots)
        if pin is None:
            pin = _Pin((id(roots[0]), id(roots[1])))
            self._pins[pin.key] = pin
            self._pinned += pin.bytes
        pin.bytes += held
        self._pinned += held
        pin.live += len(keys)
        items = self._items
        pop = items.pop
        for index, key in enumerate(keys):
            old = pop(key, None)
            if old is not None:
                self._release(old[4])
            items[key] = (version, predictions, probabilities, index, pin)
        if len(items) > self.size or self.bytes > self.max_bytes:
            self._evict()

    def _evict(self) -> None:
        items = self._items
        while items and (len(items) > self.size or self.bytes > self.max_bytes):
            self._release(items.popitem(last=False)[1][4])

    def _release(self, pin: _Pin) -> None:
        pin.live -= 1
        if pin.live == 0:
            del self._pins[pin.key]
            self._pinned -= pin.bytes

    def get(self, key: Hashable) -> tuple[int | None, Any, Any] | None:
        found = self._items.get(key)
        if found is None:
            return None
        self._items.move_to_end(key)  # recently used
        version, predictions, probabilities, index, _pin = found
        proba = None if probabilities is None else probabilities[index]
        return version, _plain(predictions[index]), None if proba is None else _plain_list(proba)

    def clear(self) -> None:
        self._items.clear()
        self._pins.clear()
        self._pinned = 0


@dataclass(slots=True)
class _Pin:
    """One model call's answer arrays and keys, kept alive by ``live`` entries."""

    key: tuple[int, int]
    bytes: int = _PIN_BYTES
    live: int = 0


def _root(array: np.ndarray | None) -> np.ndarray | None:
    """The array that owns the memory ``array`` is a view of."""
    while array is not None and array.base is not None and isinstance(array.base, np.ndarray):
        array = array.base
    return array


def _arrays_bytes(arrays: tuple[np.ndarray | None, ...]) -> int:
    total = 0
    for array in arrays:
        if array is None:
            continue
        total += array.nbytes
        if array.dtype.kind == "O":  # labels as objects: each distinct object too
            distinct = {id(v): v for v in array.ravel().tolist()}
            total += sum(map(sys.getsizeof, distinct.values()))
    return total


def _keys_bytes(keys: list[Hashable]) -> int:
    """What the keys hold: each bytes row, or each tuple and every value in it (C loops)."""
    if isinstance(keys[0], bytes):
        return sys.getsizeof(keys[0]) * len(keys)  # one batch: rows of one width
    return sum(map(sys.getsizeof, keys)) + sum(
        map(sys.getsizeof, itertools.chain.from_iterable(keys))  # type: ignore[arg-type]
    )


class FallbackChain:
    """Rules → cache → default, over rows the model could not answer."""

    def __init__(
        self, config: FallbackConfig | None, root: Path, with_proba: bool, *, model: str = ""
    ) -> None:
        config = config or FallbackConfig(cache_size=10_000)
        self.with_proba = with_proba
        self.cache = AnswerCache(config.cache_size, int(config.cache_max_mb * 1_000_000))
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
