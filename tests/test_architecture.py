"""A stage reaches another stage only through its facade, never into its insides.

A stage's facade is its package (what ``__init__`` exports), its ``api`` module and
its records modules (frozen records that do no I/O). How a stage computes drift or
reads a CSV can then change without another stage noticing. The layers and the
independent stages are import-linter contracts (pyproject.toml); this one needs the
table below, so it is a test over grimp's import graph (grimp comes with import-linter).
"""

from __future__ import annotations

import pkgutil

import grimp
import pytest

import shipyard

# stage -> the modules other stages may import from it
FACADES: dict[str, frozenset[str]] = {
    "shipyard.data": frozenset({"shipyard.data", "shipyard.data.api", "shipyard.data.versions"}),
    "shipyard.models": frozenset(
        {"shipyard.models", "shipyard.models.api", "shipyard.models.registry"}
    ),
    "shipyard.training": frozenset({"shipyard.training"}),
    "shipyard.evaluation": frozenset(
        {
            "shipyard.evaluation",
            "shipyard.evaluation.api",
            "shipyard.evaluation.records",
            "shipyard.evaluation.report",
        }
    ),
    "shipyard.monitoring": frozenset(
        {
            "shipyard.monitoring",
            "shipyard.monitoring.api",
            "shipyard.monitoring.records",
            "shipyard.monitoring.report",
        }
    ),
    "shipyard.serving": frozenset({"shipyard.serving"}),
    "shipyard.batch": frozenset({"shipyard.batch", "shipyard.batch.api", "shipyard.batch.records"}),
    "shipyard.deploy": frozenset(
        {"shipyard.deploy", "shipyard.deploy.api", "shipyard.deploy.records"}
    ),
    "shipyard.maintenance": frozenset(
        {"shipyard.maintenance", "shipyard.maintenance.api", "shipyard.maintenance.records"}
    ),
}
# subpackages that are not stages: an entry point and shared plumbing, free to be imported
NOT_STAGES = frozenset(
    {"shipyard.cli", "shipyard.config", "shipyard.storage", "shipyard.predlog", "shipyard.charts"}
)
# reaches into another stage that exist today (issue #14), each with the edit that ends it;
# an entry that no longer exists fails test_a_pending_reach_still_exists: delete it then
PENDING: dict[tuple[str, str], str] = {
    ("shipyard.models.api", "shipyard.data.ingest"): (
        "schema_hash: export it from shipyard.data (or move it to data.versions)"
    ),
    ("shipyard.evaluation.api", "shipyard.training.run"): (
        "split: export it from shipyard.training and import it from there"
    ),
}


def _stage(module: str) -> str | None:
    package = ".".join(module.split(".")[:2])
    return package if package in FACADES else None


def reaches(graph: grimp.ImportGraph) -> set[tuple[str, str]]:
    """Every (importer, imported) pair where a stage imports a non-facade module of another."""
    found = set()
    for importer in graph.modules:
        source = _stage(importer)
        if source is None:
            continue
        for imported in graph.find_modules_directly_imported_by(importer):
            target = _stage(imported)
            if target not in (None, source) and imported not in FACADES[target]:
                found.add((importer, imported))
    return found


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("shipyard", cache_dir=None)


def test_every_subpackage_is_a_stage_or_named_as_not_one() -> None:
    packages = {f"shipyard.{m.name}" for m in pkgutil.iter_modules(shipyard.__path__) if m.ispkg}
    unknown = packages - FACADES.keys() - NOT_STAGES
    assert not unknown, f"add {sorted(unknown)} to FACADES (a stage) or NOT_STAGES"


@pytest.mark.parametrize("stage", sorted(FACADES))
def test_every_facade_module_exists(stage: str, graph: grimp.ImportGraph) -> None:
    assert FACADES[stage] <= graph.modules, sorted(FACADES[stage] - graph.modules)


@pytest.mark.parametrize("stage", sorted(FACADES))
def test_other_stages_use_only_the_facade_of(stage: str, graph: grimp.ImportGraph) -> None:
    found = {pair for pair in reaches(graph) - PENDING.keys() if _stage(pair[1]) == stage}
    lines = [
        f"{detail['importer']}:{detail['line_number']}: {detail['line_contents']}"
        for importer, imported in sorted(found)
        for detail in graph.get_import_details(importer=importer, imported=imported)
    ]
    allowed = ", ".join(sorted(FACADES[stage]))
    assert not found, f"reaches into {stage} (use {allowed}):\n" + "\n".join(lines)


@pytest.mark.parametrize("pair", sorted(PENDING))
def test_a_pending_reach_still_exists(pair: tuple[str, str], graph: grimp.ImportGraph) -> None:
    assert pair in reaches(graph), f"{pair[0]} -> {pair[1]} is gone: delete it from PENDING"


def test_a_reach_into_another_stage_is_found() -> None:
    graph = grimp.build_graph("shipyard", cache_dir=None)
    graph.add_import(importer="shipyard.evaluation.run", imported="shipyard.monitoring.drift")
    graph.add_import(importer="shipyard.evaluation.run", imported="shipyard.monitoring.report")
    graph.add_import(importer="shipyard.evaluation.run", imported="shipyard.evaluation.html")
    assert reaches(graph) - PENDING.keys() == {
        ("shipyard.evaluation.run", "shipyard.monitoring.drift")
    }
