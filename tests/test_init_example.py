"""``shipyard init --example credit`` writes the example with its sample data; bare
``shipyard init`` writes no data."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from shipyard.cli import cli
from shipyard.config.example_data import SAMPLE_ROWS
from shipyard.errors import ConfigError
from shipyard.project import init_project, open_project


def test_the_example_comes_with_sample_data_the_same_every_time(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "a"), "--example", "credit"])
    assert result.exit_code == 0, result.output
    assert "shipyard data ingest loans data/loans.csv" in result.output
    init_project(tmp_path / "b", example="credit")
    sample = (tmp_path / "a" / "data" / "loans.csv").read_bytes()
    assert sample == (tmp_path / "b" / "data" / "loans.csv").read_bytes()
    assert sample.count(b"\n") == SAMPLE_ROWS + 1  # a header and the rows
    with open_project(tmp_path / "a") as project:
        ingested = project.ingest("loans", tmp_path / "a" / "data" / "loans.csv")
    report = ingested.report
    assert report.received == SAMPLE_ROWS
    assert report.accepted + report.quarantined == SAMPLE_ROWS
    assert 0 < report.quarantined < SAMPLE_ROWS * 0.05  # a few broken rows, each with why


def test_bare_init_writes_no_data_and_an_unknown_example_is_refused(tmp_path: Path) -> None:
    assert CliRunner().invoke(cli, ["init", str(tmp_path / "bare")]).exit_code == 0
    assert sorted(p.name for p in (tmp_path / "bare").iterdir()) == [
        ".gitignore",
        "credit_model.py",
        "shipyard.yaml",
    ]
    refused = CliRunner().invoke(cli, ["init", str(tmp_path / "x"), "--example", "fraud"])
    assert refused.exit_code == 2 and "'fraud' is not 'credit'" in refused.output
    with pytest.raises(ConfigError, match="no example named 'fraud'"):
        init_project(tmp_path / "y", example="fraud")
    assert not (tmp_path / "y").exists()


def test_an_existing_sample_file_is_kept(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "loans.csv").write_text("mine\n")
    init_project(tmp_path, example="credit")
    assert (tmp_path / "data" / "loans.csv").read_text() == "mine\n"
