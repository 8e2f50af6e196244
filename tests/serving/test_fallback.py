"""The fallback chain: rules from the project file or a function, the LRU cache, the default."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shipyard.config import FallbackConfig
from shipyard.serving.fallback import AnswerCache, Answers, FallbackChain, row_keys
from shipyard.serving.validation import FieldSpec, RowValidator

VALIDATOR = RowValidator([FieldSpec("amount"), FieldSpec("country", "category")])
ROWS = VALIDATOR.records(
    [
        {"amount": 10.0, "country": "DE"},
        {"amount": 900.0, "country": "PL"},
        {"amount": 5.0, "country": "FR"},
    ]
)


def chain(tmp_path: Path, **config: object) -> FallbackChain:
    return FallbackChain(FallbackConfig.model_validate(config), tmp_path, with_proba=True)


def run(fallback: FallbackChain) -> Answers:
    answers = Answers.empty(ROWS.n, True)
    fallback.answer(ROWS, row_keys(ROWS), answers)
    return answers


def test_rules_in_order_then_the_default(tmp_path: Path) -> None:
    fallback = chain(
        tmp_path,
        rules=[
            {"when": {"amount": {"gt": 100}}, "prediction": True, "probabilities": [0.2, 0.8]},
            {"when": {"country": {"in": ["DE", "PL"]}}, "prediction": False},
        ],
        default={"prediction": False, "probabilities": [0.5, 0.5]},
    )
    answers = run(fallback)
    assert answers.paths == ["rules", "rules", "default"]
    assert answers.predictions == [False, True, False]
    assert answers.probabilities == [None, [0.2, 0.8], [0.5, 0.5]]


def test_a_rules_function(tmp_path: Path) -> None:
    (tmp_path / "my_rules.py").write_text(
        "def rules(frame):\n    return [True if a > 100 else None for a in frame['amount']]\n"
    )
    answers = run(chain(tmp_path, rules="my_rules:rules"))
    assert answers.paths == [None, "rules", None]


def test_a_failing_rules_function_falls_through(tmp_path: Path) -> None:
    (tmp_path / "bad_rules.py").write_text("def rules(frame):\n    raise ValueError('no')\n")
    answers = run(chain(tmp_path, rules="bad_rules:rules", default={"prediction": True}))
    assert answers.paths == ["default"] * 3


def test_the_cache_answers_what_the_model_answered(tmp_path: Path) -> None:
    fallback = chain(tmp_path)
    keys = row_keys(ROWS)
    fallback.cache.put_many(keys[:2], 4, [True, False], [[0.3, 0.7], [0.9, 0.1]])
    answers = run(fallback)
    assert answers.paths == ["cache", "cache", None]
    assert answers.versions == [4, 4, None]
    assert answers.probabilities == [[0.3, 0.7], [0.9, 0.1], None]


def test_the_cache_is_bounded_least_recently_used_first() -> None:
    cache = AnswerCache(2)
    cache.put_many([("a",), ("b",)], 1, [1, 2], None)
    assert cache.get(("a",)) is not None  # now "b" is the least recently used
    cache.put_many([("c",)], 1, [3], None)
    assert len(cache) == 2 and cache.get(("b",)) is None and cache.get(("a",)) is not None


def test_numeric_row_keys_are_the_values() -> None:
    rows = RowValidator([FieldSpec("a"), FieldSpec("b")]).matrix([[1.0, 2.0], [1.0, 2.0]])
    keys = row_keys(rows)
    assert keys[0] == keys[1] == np.array([1.0, 2.0]).tobytes()
    other = RowValidator([FieldSpec("a"), FieldSpec("b")]).matrix([[1.0, 2.5]])
    assert row_keys(other)[0] != keys[0]
