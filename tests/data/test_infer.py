"""Schema inference, and writing the proposal into the project file."""

from __future__ import annotations

from pathlib import Path

import pytest

import shipyard
from shipyard.data.infer import infer_schema, render, write_into_project
from shipyard.demo import write_loans_batch
from shipyard.errors import ConfigError
from shipyard.project import init_project


def test_infer_a_messy_batch(tmp_path: Path) -> None:
    path = tmp_path / "loans.csv"
    write_loans_batch(path, rows=2000, seed=3)
    entry = infer_schema(path).entry
    columns = entry["columns"]
    assert entry["key"] == "loan_id"
    assert entry["timestamp"] == "applied_at"
    # no range on the key: tomorrow's ids are above today's maximum
    assert columns["loan_id"] == {"type": "int", "nullable": False, "unique": True}
    assert not any("min" in c or "max" in c for c in columns.values())  # none unless asked
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


def test_ranges_when_asked_widened_and_saying_so_never_on_ids_or_times(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "event id,user_uuid,created_ts,amount,count,seen\n"
        + "".join(f"{i},u{i},{1_700_000_000 + i},{0.5 + i},{i % 7},2026-01-0{1 + i % 9}\n"
                  for i in range(40))
    )  # fmt: skip
    proposal = infer_schema(path, ranges=True)
    columns = proposal.columns
    assert proposal.entry["key"] == "event_id"
    assert columns["event_id"]["source"] == "event id"
    for name in ("event_id", "user_uuid", "created_ts", "seen"):
        assert "min" not in columns[name] and "max" not in columns[name], name
    assert (columns["amount"]["min"], columns["amount"]["max"]) == (0.0, 43.4)
    assert proposal.notes["amount"] == "observed 0.5 to 39.5, widened 10%, not below 0"
    assert (columns["count"]["min"], columns["count"]["max"]) == (0, 7)
    text = render("events", proposal)
    assert "amount: {type: float, nullable: false, min: 0.0, max: 43.4}" in text
    assert "# observed 0.5 to 39.5, widened 10%, not below 0" in text
    assert set(proposal.notes) == {"amount", "count"}


def test_a_proposal_that_breaks_the_project_file_names_shipyard_yaml(tmp_path: Path) -> None:
    file = init_project(tmp_path / "p", name="p")
    before = file.read_bytes()
    data = tmp_path / "other.csv"
    data.write_text("x,y\n1,2\n3,4\n")
    with pytest.raises(ConfigError) as info:  # the example model's features are not in it
        write_into_project(file, "loans", infer_schema(data), force=True)
    assert f"{file}" in info.value.message and "not written" in info.value.message
    assert ".infer." not in str(info.value)
    assert file.read_bytes() == before
    assert [p.name for p in file.parent.iterdir() if p.name.startswith(".shipyard.yaml")] == []
