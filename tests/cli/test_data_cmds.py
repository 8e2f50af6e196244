"""`shipyard data …` through the CLI: JSON for scripts, messages and exit codes for people."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from shipyard.cli import cli
from shipyard.demo import write_loans_batch


@pytest.fixture
def loans(project_dir: Path) -> Path:
    write_loans_batch(project_dir / "b1.csv", rows=300, seed=1)
    write_loans_batch(project_dir / "b2.csv", rows=200, seed=2, first_id=301)
    return project_dir


def run(folder: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["-C", str(folder), *args], catch_exceptions=False)


def test_ingest_json_counts_add_up(loans: Path) -> None:
    result = run(loans, "data", "ingest", "loans", str(loans / "b1.csv"), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    report = data["report"]
    assert data["version"]["ref"] == "loans@1"
    assert report["received"] == 300
    assert report["accepted"] + report["quarantined"] == 300
    assert report["quarantined"] > 0


def test_ingest_prints_the_version_and_counts(loans: Path) -> None:
    result = run(loans, "data", "ingest", "loans", str(loans / "b1.csv"))
    assert result.exit_code == 0
    assert "loans@1  received 300  accepted" in result.output
    assert "shipyard data quarantine loans@1" in result.output


def test_the_listing_commands(loans: Path) -> None:
    run(loans, "data", "ingest", "loans", str(loans / "b1.csv"))
    run(loans, "data", "ingest", "loans", str(loans / "b2.csv"))
    [summary] = json.loads(run(loans, "data", "list", "--json").output)
    assert (summary["name"], summary["versions"], summary["latest"]["ref"]) == (
        "loans",
        2,
        "loans@2",
    )
    shown = json.loads(run(loans, "data", "show", "loans@1", "--json").output)
    assert shown["content_hash"] and shown["report"]["received"] == 300
    assert [
        v["version"] for v in json.loads(run(loans, "data", "log", "loans", "--json").output)
    ] == [2, 1]
    diff = json.loads(run(loans, "data", "diff", "loans@1", "loans@2", "--json").output)
    assert (
        diff["added"]
        == json.loads(run(loans, "data", "show", "loans@2", "--json").output)["rows_accepted"]
    )
    rows = json.loads(run(loans, "data", "quarantine", "loans@1", "--json", "--limit", "3").output)
    assert len(rows) == 3 and all(r["_reasons"] for r in rows)
    for args in (
        ["list"],
        ["show", "loans@2"],
        ["log", "loans"],
        ["diff", "loans@1", "loans@2"],
        ["quarantine", "loans@1"],
    ):
        assert run(loans, "data", *args).exit_code == 0
    out = loans / "v2.parquet"
    assert run(loans, "data", "export", "loans@2", str(out)).exit_code == 0
    assert out.exists()


def test_sql_ingest(loans: Path, tmp_path: Path) -> None:
    db = tmp_path / "crm.db"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TABLE loans (loan_id INT, amount REAL, age INT, country TEXT, applied_at TEXT, defaulted INT)"
        )
        conn.execute("INSERT INTO loans VALUES (1, 10.5, 30, 'DE', '2026-01-01T00:00:00Z', 0)")
    result = run(
        loans,
        "data",
        "ingest",
        "loans",
        "--sql",
        "SELECT * FROM loans",
        "--url",
        f"sqlite:///{db}",
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["report"]["accepted"] == 1


def test_watch_once(loans: Path) -> None:
    inbox = loans / "inbox"
    inbox.mkdir()
    (loans / "b1.csv").rename(inbox / "b1.csv")
    os.utime(inbox / "b1.csv", (1_700_000_000, 1_700_000_000))  # settled long ago
    result = run(loans, "data", "ingest", "loans", "--watch", str(inbox), "--once", "--json")
    assert result.exit_code == 0, result.output
    [event] = json.loads(result.stdout)
    assert event["outcome"] == "ingested"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["data", "ingest", "loans"], "nothing to ingest into 'loans'"),
        (["data", "ingest", "lons", "b1.csv"], "did you mean 'loans'"),
        (["data", "ingest", "loans", "missing.csv"], "no such file"),
        (["data", "ingest", "loans", "--sql", "SELECT 1"], "--sql and --url go together"),
        (["data", "show", "loans@9"], "dataset 'loans' has no versions yet"),
        (["data", "diff", "loans@1"], "Missing argument"),
        (["data", "export", "loans@1", "x.xlsx"], "no versions yet"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    loans: Path, args: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(loans)
    result = run(loans, *args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_rejected_batch_exits_2_and_prints_the_report_as_json(loans: Path) -> None:
    bad = loans / "drift.csv"
    bad.write_text("loan_id,amount\n1,2\n")
    result = run(loans, "data", "ingest", "loans", str(bad), "--json")
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert report["rejected"] is True
    assert "schema_drift" in result.output


def test_infer_writes_into_the_project_file(loans: Path) -> None:
    result = run(loans, "data", "infer", str(loans / "b1.csv"), "--dataset", "loans_v2")
    assert result.exit_code == 0, result.output
    assert "loans_v2:" in (loans / "shipyard.yaml").read_text()
    again = run(loans, "data", "infer", str(loans / "b1.csv"), "--dataset", "loans_v2")
    assert again.exit_code == 2 and "already declared" in again.output
    dry = run(loans, "data", "infer", str(loans / "b1.csv"), "--dataset", "other", "--dry-run")
    assert dry.exit_code == 0 and "other:" not in (loans / "shipyard.yaml").read_text()


def test_five_messy_batches_from_every_kind_of_source(loans: Path, tmp_path: Path) -> None:
    """The issue's "done when": CSV, Parquet, SQL and a watched folder, then look around."""
    import polars as pl

    write_loans_batch(tmp_path / "b3.csv", rows=250, seed=3, first_id=501)
    pl.read_csv(tmp_path / "b3.csv", infer_schema=False).write_parquet(tmp_path / "b3.parquet")
    db = tmp_path / "crm.db"
    write_loans_batch(tmp_path / "b4.csv", rows=150, seed=4, first_id=751)
    with sqlite3.connect(db) as conn:
        rows = [line.split(",") for line in (tmp_path / "b4.csv").read_text().splitlines()[1:]]
        conn.execute(
            "CREATE TABLE loans (loan_id TEXT, amount TEXT, age TEXT, country TEXT, applied_at TEXT, defaulted TEXT)"
        )
        conn.executemany("INSERT INTO loans VALUES (?, ?, ?, ?, ?, ?)", rows)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_loans_batch(inbox / "b5.csv", rows=100, seed=5, first_id=901)
    os.utime(inbox / "b5.csv", (1_700_000_000, 1_700_000_000))

    steps = [
        ["data", "ingest", "loans", str(loans / "b1.csv")],
        ["data", "ingest", "loans", str(loans / "b2.csv")],
        ["data", "ingest", "loans", str(tmp_path / "b3.parquet")],
        ["data", "ingest", "loans", "--sql", "SELECT * FROM loans", "--url", f"sqlite:///{db}"],
        ["data", "ingest", "loans", "--watch", str(inbox), "--once"],
    ]
    for args in steps:
        result = run(loans, *args)
        assert result.exit_code == 0, result.output
    log = json.loads(run(loans, "data", "log", "loans", "--json").stdout)
    assert [v["version"] for v in log] == [5, 4, 3, 2, 1]
    assert [v["sources"][0]["kind"] for v in reversed(log)] == [
        "csv",
        "csv",
        "parquet",
        "sql",
        "csv",
    ]
    for version in log:
        assert version["rows_accepted"] + version["rows_quarantined"] == version["rows_received"]
        assert version["rows_quarantined"] > 0  # every batch is messy
    assert log[0]["rows"] == sum(v["rows_accepted"] for v in log)  # appended, nothing dropped
    quarantined = json.loads(run(loans, "data", "quarantine", "loans@4", "--json").stdout)
    assert quarantined and all(row["_reasons"] for row in quarantined)
    assert (
        json.loads(run(loans, "data", "diff", "loans@2", "loans@5", "--json").stdout)["removed"]
        == 0
    )
    first = tmp_path / "one.parquet"
    second = tmp_path / "two.parquet"
    run(loans, "data", "export", "loans@3", str(first))
    run(loans, "data", "export", "loans@3", str(second))
    assert first.read_bytes() == second.read_bytes()
