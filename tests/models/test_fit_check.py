"""The fit check on its own: what it refuses, and what it must not refuse."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from shipyard.models.fit_check import (
    SAMPLE_ROWS,
    Expected,
    ModelMismatchError,
    check_fit,
    sample_parquet,
)

RNG = np.random.default_rng(0)
X = pd.DataFrame({"a": RNG.normal(size=300), "b": RNG.normal(size=300)})
Y = (X["a"] > 0).astype(int)


def expected(sample: pd.DataFrame | None = X, task: str = "binary_classification") -> Expected:
    return Expected(
        model="m",
        task=task,
        features=["a", "b"],
        features_from="models.m.features",
        target="y",
        target_values=[0, 1],
        sample=sample,
        data="d@1",
    )


def test_rows_with_missing_values_do_not_refuse_a_model_that_answers_the_others() -> None:
    with_gaps = X.copy()
    with_gaps.loc[::7, "a"] = np.nan  # the dataset allows nulls; LogisticRegression does not
    model = LogisticRegression().fit(X, Y)
    assert check_fit(model, expected(with_gaps), classes=[0, 1]) == ["a", "b"]


def test_answers_that_are_not_target_values_or_not_numbers_are_refused() -> None:
    class Rounder:
        """No scikit-learn tags: only its answers tell what it is."""

        n_features_in_ = 2

        def predict(self, rows: object) -> np.ndarray:
            return np.full(len(rows), 0.37)  # type: ignore[arg-type]

    with pytest.raises(ModelMismatchError, match=r"predicts 0\.37 on rows of d@1, which are not"):
        check_fit(Rounder(), expected())

    class Words(Rounder):
        def predict(self, rows: object) -> np.ndarray:
            return np.array(["high"] * len(rows))  # type: ignore[arg-type]

    with pytest.raises(ModelMismatchError, match="predicts 'high' on rows of d@1, not numbers"):
        check_fit(Words(), expected(task="regression"))
    assert check_fit(LinearRegression().fit(X, Y), expected(task="regression")) == ["a", "b"]


def test_the_sample_decodes_few_rows_and_keeps_the_whole_target() -> None:
    import io

    frame = pl.DataFrame({"a": range(5000), "b": [1.0] * 5000, "y": [i % 3 for i in range(5000)]})
    buffer = io.BytesIO()
    frame.write_parquet(buffer, row_group_size=1000)
    rows, target = sample_parquet(buffer.getvalue(), ["a", "b", "y", "missing"], "y")
    assert rows.columns == ["a", "b", "y"] and rows.height == SAMPLE_ROWS
    assert rows["a"].is_sorted() and rows["a"].n_unique() == SAMPLE_ROWS
    assert target is not None and target.len() == 5000
