"""The Python API says what it takes: no ``**options`` in a public signature, every
parameter typed; results carry the obvious fields."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import shipyard
from shipyard.data import Datasets
from shipyard.evaluation import Evaluation, Evaluations
from shipyard.maintenance import Maintenance
from shipyard.models import Models
from shipyard.monitoring import Monitoring, MonitorRun
from shipyard.project import Project


def _public(owner: type) -> list[tuple[str, Callable[..., Any]]]:
    return [
        (f"{owner.__name__}.{name}", member)
        for name, member in inspect.getmembers(owner, inspect.isfunction)
        if not name.startswith("_")
    ]


PUBLIC = [
    *_public(Project),
    *_public(Datasets),
    *_public(Models),
    *_public(Evaluations),
    *_public(Monitoring),
    *_public(Maintenance),
    ("shipyard.register", shipyard.register),
    ("shipyard.open", shipyard.open),
    ("shipyard.init_project", shipyard.init_project),
]


@pytest.mark.parametrize(("name", "function"), PUBLIC, ids=[n for n, _ in PUBLIC])
def test_public_signatures_are_explicit_and_typed(name: str, function: Callable[..., Any]) -> None:
    signature = inspect.signature(function)
    for parameter in signature.parameters.values():
        assert parameter.kind is not inspect.Parameter.VAR_KEYWORD, (
            f"{name} takes **{parameter.name}: name each keyword with its type"
        )
        if parameter.name not in ("self", "cls"):
            assert parameter.annotation is not inspect.Parameter.empty, (
                f"{name}: parameter {parameter.name} has no type"
            )
    assert signature.return_annotation is not inspect.Signature.empty, f"{name} has no return type"


def test_register_names_the_keywords_of_project_register() -> None:
    module_level = inspect.signature(shipyard.register).parameters
    method = inspect.signature(Project.register).parameters
    assert set(method) - {"self"} <= set(module_level)
    assert "holdout" in module_level and "dataset" in module_level


def test_an_evaluation_has_the_obvious_fields() -> None:
    fields = {name for name, _ in inspect.getmembers(Evaluation)}
    assert {"passed", "failed_checks", "checks", "metrics", "ref"} <= fields
    assert "drifted" in {name for name, _ in inspect.getmembers(MonitorRun)}


def test_the_obvious_fields_say_what_the_report_says(tmp_path: Path) -> None:
    from shipyard.evaluation.report import CheckOutcome, EvaluationReport

    report = EvaluationReport(
        model="m",
        version=2,
        dataset="d@1",
        rows=10,
        metrics={"roc_auc": 0.7},
        checks=[
            CheckOutcome("gate roc_auc", "gate", False, 0.7, ">= 0.75"),
            CheckOutcome("holdout", "holdout", True),
        ],
    )
    evaluation = Evaluation(1, report, "k.json", "k.html", "file:///k.html")
    assert evaluation.passed is False and evaluation.ref == "m@2"
    assert [c.name for c in evaluation.failed_checks] == ["gate roc_auc"]
    assert evaluation.metrics == {"roc_auc": 0.7} and len(evaluation.checks) == 2
