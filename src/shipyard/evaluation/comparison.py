"""Versions of one model side by side: params, metrics, data and evaluation verdict.

MLflow's run comparison for the registry: one column per version, one row per
thing that can differ, each row marked when its values are not all the same. A
pure function of records (model versions, aliases, their newest evaluations); the
champion/challenger comparison on live traffic is another thing
(:mod:`shipyard.maintenance.compare`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from shipyard.config.schema import LOWER_IS_BETTER
from shipyard.models import ModelVersion

from .records import EvaluationSummary

# version: what it is; param, metric: as registered; evaluation: its newest evaluation's
# verdict; evaluated: the figures that evaluation measured
SECTIONS = ("version", "param", "metric", "evaluation", "evaluated")


@dataclass(frozen=True)
class ComparisonRow:
    """One compared thing: its section, its name, a value per version, and whether they differ."""

    section: str  # one of SECTIONS
    name: str
    values: tuple[Any, ...]
    differs: bool
    best: int | None = None  # a metric's best version (by its direction), when they differ

    def as_dict(self, versions: list[int]) -> dict[str, Any]:
        return {
            "section": self.section,
            "name": self.name,
            "values": {str(v): value for v, value in zip(versions, self.values, strict=True)},
            "differs": self.differs,
            "best": self.best,
        }


@dataclass(frozen=True)
class VersionComparison:
    """Versions of one model, oldest first, and every row of what they are."""

    model: str
    versions: list[int]
    aliases: dict[int, list[str]]  # version -> the aliases pointing at it
    rows: list[ComparisonRow]

    def section(self, name: str) -> list[ComparisonRow]:
        return [r for r in self.rows if r.section == name]

    @property
    def differing(self) -> list[ComparisonRow]:
        return [r for r in self.rows if r.differs]

    def row(self, section: str, name: str) -> ComparisonRow | None:
        return next((r for r in self.rows if r.section == section and r.name == name), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "versions": self.versions,
            "aliases": {str(v): a for v, a in self.aliases.items()},
            "rows": [r.as_dict(self.versions) for r in self.rows],
            "differing": [f"{r.section}.{r.name}" for r in self.differing],
        }


def compare_versions(
    versions: list[ModelVersion],
    aliases: dict[str, int],
    evaluations: dict[int, EvaluationSummary | None],
) -> VersionComparison:
    """The comparison of ``versions`` (of one model) with their ``aliases`` and newest
    ``evaluations`` (by version number; None: never evaluated)."""
    ordered = sorted(versions, key=lambda v: v.version)
    numbers = [v.version for v in ordered]
    pointing = {n: sorted(a for a, p in aliases.items() if p == n) for n in numbers}
    rows: list[ComparisonRow] = []

    def add(section: str, name: str, values: list[Any], *, metric: bool = False) -> None:
        differs = len({_key(v) for v in values}) > 1
        best = _best(name, numbers, values) if metric and differs else None
        rows.append(ComparisonRow(section, name, tuple(values), differs, best))

    add("version", "aliases", [", ".join(pointing[n]) or None for n in numbers])
    add("version", "created", [v.created_at.strftime("%Y-%m-%d %H:%M") for v in ordered])
    add("version", "source", [v.source for v in ordered])
    add("version", "format", [v.format for v in ordered])
    add("version", "dataset", [v.dataset for v in ordered])
    add("version", "features", [", ".join(v.features) for v in ordered])
    for name in _names(v.params for v in ordered):
        add("param", name, [v.params.get(name) for v in ordered])
    for name in _names(v.metrics for v in ordered):
        add("metric", name, [v.metrics.get(name) for v in ordered], metric=True)
    found = [evaluations.get(n) for n in numbers]
    add("evaluation", "verdict", [_verdict(e) for e in found])
    add("evaluation", "failed", [", ".join(e.failed) if e and e.failed else None for e in found])
    add("evaluation", "data", [e.dataset if e else None for e in found])
    add("evaluation", "report", [f"eval-{e.id}" if e else None for e in found])
    for name in _names(e.metrics for e in found if e is not None):
        add("evaluated", name, [e.metrics.get(name) if e else None for e in found], metric=True)
    return VersionComparison(ordered[0].model, numbers, pointing, rows)


def _names(dicts: Any) -> list[str]:
    """Every key of ``dicts``, in the order first seen."""
    return list(dict.fromkeys(k for d in dicts for k in d))


def _key(value: Any) -> Any:
    """What equality is judged on: a float's value (NaN equal to NaN), lists by content."""
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, list | dict):
        return repr(value)
    if isinstance(value, bool):  # True == 1, but a param of True is not one of 1
        return ("bool", value)
    return value


def _best(name: str, numbers: list[int], values: list[Any]) -> int | None:
    scored = [
        (value, n)
        for n, value in zip(numbers, values, strict=True)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    ]
    if not scored:
        return None
    pick = min if name in LOWER_IS_BETTER else max
    return pick(scored, key=lambda s: s[0])[1]


def _verdict(evaluation: EvaluationSummary | None) -> str:
    if evaluation is None:
        return "not evaluated"
    return "passed" if evaluation.passed else "failed"
