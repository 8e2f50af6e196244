"""Schema inference, and writing the proposal into the project file."""

from __future__ import annotations

from pathlib import Path

import pytest

import shipyard
from shipyard.data.infer import infer_schema, write_into_project
from shipyard.demo import write_loans_batch
from shipyard.errors import ConfigError
from shipyard.project import init_project


def test_infer_a_messy_batch(tmp_path: Path) -> None:
    path = tmp_path / "loans.csv"
    write_loans_batch(path, rows=2000, seed=3)
    entry = infer_schema(path)
    columns = entry["columns"]
    assert entry["key"] == "loan_id"
    assert entry["timestamp"] == "applied_at"
    assert columns["loan_id"] == {
        "type": "int",
        "nullable": False,
        "min": 0,
        "max": 2200,
        "unique": True,
    }
    assert columns["amount"]["type"] == "float"  # despite a few '12,5' values
    assert columns["age"]["type"] == "int"
    assert columns["country"]["type"] == "category"
    assert {"DE", "FR", "PL", "US"} <= set(columns["country"]["categories"])
    assert columns["applied_at"]["type"] == "datetime"
    assert columns["defaulted"]["type"] == "bool"


def test_the_proposal_is_written_keeping_comments_and_still_loads(tmp_path: Path) -> None:
    file = init_project(tmp_path / "p", name="p")
    data = tmp_path / "loans.csv"
    write_loans_batch(data, rows=500, seed=3)
    write_into_project(file, "applications", infer_schema(data), force=False)
    text = file.read_text()
    assert "# Models: every model has an owner" in text  # comments kept
    assert "proposed by 'shipyard data infer'" in text
    with shipyard.open(file.parent) as project:
        assert project.config.datasets["applications"].key == "loan_id"
        result = project.ingest("applications", data)
        assert result.report.accepted > 0
    with pytest.raises(ConfigError, match="already declared"):
        write_into_project(file, "applications", infer_schema(data), force=False)
