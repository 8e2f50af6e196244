"""Behavioural checks, one implementation: invariance, directional expectation, minimum functionality.

Both the evaluation report (:mod:`shipyard.evaluation.run`) and the pytest plugin
(:mod:`shipyard.testing`) run these and only word the outcome their own way. Each
check works on whole columns: one ``predict_proba`` per perturbation, not per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shipyard.metrics import positive_score
from shipyard.models import Predictor


def scores(predictor: Predictor, rows: Any) -> np.ndarray:
    """One number per row to compare under perturbation: P(positive), the prediction, or P(predicted class)."""
    if predictor.task == "regression":
        return np.asarray(predictor.predict(rows), dtype=float)
    proba = predictor.predict_proba(rows)
    if predictor.task == "binary_classification":
        classes = predictor.classes or [0, 1]
        return positive_score(proba, list(classes), True if True in classes else classes[-1])
    return np.asarray(proba.max(axis=1))


@dataclass(frozen=True)
class Invariance:
    """How far each row's score moved when ``column`` changed: per value set, and at most."""

    moves: list[tuple[Any, np.ndarray]]  # (the value set, or None for a random shift; |change|)
    moved: np.ndarray  # per row, the largest move of all
    bad: np.ndarray  # rows that moved more than eps (indices)


def invariance(
    predictor: Predictor,
    rows: Any,
    column: str,
    *,
    eps: float,
    values: Sequence[Any] | None = None,
    shift: float | None = None,
) -> Invariance:
    """Set ``column`` to each of ``values`` (or move it by a seeded uniform ±``shift``) and
    measure how far each row's score moves; a row moved more than ``eps`` is bad."""
    base = scores(predictor, rows)
    moves: list[tuple[Any, np.ndarray]] = []
    if values is not None:
        for value in values:
            moves.append((value, np.abs(scores(predictor, rows.assign(**{column: value})) - base)))
    else:
        assert shift is not None, "give values or a shift"
        rng = np.random.default_rng(0)
        shifted = rows[column] + rng.uniform(-shift, shift, len(rows))
        moves.append((None, np.abs(scores(predictor, rows.assign(**{column: shifted})) - base)))
    moved = np.zeros(len(rows))
    for _, each in moves:
        moved = np.maximum(moved, each)
    return Invariance(moves, moved, np.flatnonzero(moved > eps))


@dataclass(frozen=True)
class Directional:
    """Each row's score change when ``column`` rose, and the rows that went the wrong way."""

    change: np.ndarray
    bad: np.ndarray  # indices


def directional(
    predictor: Predictor,
    rows: Any,
    column: str,
    *,
    increase: float,
    expect: str,
    tolerance: float,
) -> Directional:
    """Raise ``column`` by ``increase``: every score should move ``expect`` (``"up"`` or
    ``"down"``) or stay within ``tolerance``."""
    if expect not in ("up", "down"):
        raise ValueError(f"expect must be 'up' or 'down', got {expect!r}")
    change = scores(predictor, rows.assign(**{column: rows[column] + increase})) - scores(
        predictor, rows
    )
    bad = np.flatnonzero(change < -tolerance if expect == "up" else change > tolerance)
    return Directional(change, bad)


def minimum(
    predictor: Predictor, cases: Any, expected: Sequence[Any]
) -> list[tuple[int, Any, Any]]:
    """Minimum functionality: the cases (a frame, one row each) whose label is not the
    expected one, as (index, expected, predicted as the model gave it)."""
    predicted = predictor.predict(cases)
    return [
        (i, want, have)
        for i, (want, have) in enumerate(zip(expected, predicted, strict=True))
        if plain(have) != want
    ]


def plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (anything else as it is)."""
    return value.item() if hasattr(value, "item") else value
