"""The one implementation of the behavioural checks (the report and the pytest plugin use it)."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pandas as pd
import pytest

from shipyard.evaluation import behaviour
from shipyard.models import Predictor


class Doubler:
    """A regression 'model' whose score is twice ``x``; ``noise`` plays no part."""

    task = "regression"
    classes = None
    has_proba = False

    def predict(self, rows: Any) -> np.ndarray:
        return np.asarray(rows["x"], dtype=float) * 2


MODEL = cast(Predictor, Doubler())
ROWS = pd.DataFrame({"x": [1.0, 2.0, 3.0], "noise": [0, 1, 0]})


def test_invariance_names_the_rows_each_value_moved() -> None:
    quiet = behaviour.invariance(MODEL, ROWS, "noise", eps=0.01, values=[5, 7])
    assert [v for v, _ in quiet.moves] == [5, 7] and len(quiet.bad) == 0
    loud = behaviour.invariance(MODEL, ROWS, "x", eps=0.5, values=[2.0])
    assert loud.moved.tolist() == [2.0, 0.0, 2.0] and loud.bad.tolist() == [0, 2]
    shifted = behaviour.invariance(MODEL, ROWS, "x", eps=10.0, shift=1.0)
    assert [v for v, _ in shifted.moves] == [None] and shifted.moved.max() <= 2.0


def test_directional_finds_the_rows_that_went_the_wrong_way() -> None:
    up = behaviour.directional(MODEL, ROWS, "x", increase=1.0, expect="up", tolerance=1e-9)
    assert up.change.tolist() == [2.0, 2.0, 2.0] and len(up.bad) == 0
    down = behaviour.directional(MODEL, ROWS, "x", increase=1.0, expect="down", tolerance=1e-9)
    assert down.bad.tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="expect must be 'up' or 'down', got 'sideways'"):
        behaviour.directional(MODEL, ROWS, "x", increase=1.0, expect="sideways", tolerance=0)


def test_minimum_gives_the_wrong_cases_with_what_the_model_said() -> None:
    wrong = behaviour.minimum(MODEL, ROWS, [2.0, 5.0, 6.0])
    assert wrong == [(1, 5.0, 4.0)]
    assert behaviour.plain(np.int64(3)) == 3 and type(behaviour.plain(np.int64(3))) is int
