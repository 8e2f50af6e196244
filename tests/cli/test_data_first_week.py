"""`data infer` and `data ingest` as a stranger meets them, with scikit-learn's datasets.

A schema proposed today holds tomorrow (no ranges unless asked, none on ids or
times), headers the project file refuses are read through `source:`, a batch
mostly quarantined fails, and ingesting a file again makes no empty version.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from pathlib import Path

import polars as pl
import pytest
import yaml
from click.testing import CliRunner, Result

from shipyard.cli import cli
from shipyard.config import load_config


def run(folder: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["-C", str(folder), *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def sklearn_csvs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

    folder = tmp_path_factory.mktemp("sklearn")
    for name, load in (
        ("cancer", load_breast_cancer),
        ("wine", load_wine),
        ("diabetes", load_diabetes),
    ):
        load(as_frame=True).frame.to_csv(folder / f"{name}.csv", index=False)
    frame = pl.read_csv(folder / "cancer.csv").sort("mean radius")
    frame.head(200).write_csv(folder / "cancer-small.csv")
    frame.slice(200).write_csv(folder / "cancer-large.csv")
    return folder


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    ("name", "rows", "renamed"),
    [
        ("cancer", 569, {"mean_radius": "mean radius", "worst_concave_points": "worst concave points"}),
        ("wine", 178, {"od280_od315_of_diluted_wines": "od280/od315_of_diluted_wines"}),
        ("diabetes", 442, {}),
    ],
)  # fmt: skip
def test_infer_ingest_and_ingest_again(
    project_dir: Path, sklearn_csvs: Path, name: str, rows: int, renamed: dict[str, str]
) -> None:
    csv = str(sklearn_csvs / f"{name}.csv")
    inferred = run(project_dir, "data", "infer", csv, "--dataset", name)
    assert inferred.exit_code == 0, inferred.output
    dataset = load_config(project_dir / "shipyard.yaml").datasets[name]
    for column, header in renamed.items():
        assert dataset.columns[column].source == header
    assert all(c.min is None and c.max is None for c in dataset.columns.values())

    first = run(project_dir, "data", "ingest", name, csv)
    assert first.exit_code == 0, first.output
    assert f"{name}@1  received {rows}  accepted {rows}  quarantined 0" in first.output
    again = run(project_dir, "data", "ingest", name, csv)
    assert again.exit_code == 0, again.output
    assert f"nothing new: already in {name}@1: {name}.csv; no version written" in again.output
    log = json.loads(run(project_dir, "data", "log", name, "--json").stdout)
    assert [v["version"] for v in log] == [1]
    stored = json.loads(run(project_dir, "data", "show", f"{name}@1", "--json").stdout)
    assert stored["rows"] == rows


def test_dry_run_prints_the_proposal_and_writes_nothing(
    project_dir: Path, sklearn_csvs: Path
) -> None:
    before = files_of(project_dir)
    result = run(
        project_dir, "data", "infer", str(sklearn_csvs / "cancer.csv"), "--dataset", "c",
        "--dry-run", "--ranges",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "mean_radius: {source: mean radius, type: float, nullable: false, min: " in result.output
    assert "# observed 6.981 to 28.11, widened 10%" in result.output
    assert "dry run: nothing written" in result.output
    assert files_of(project_dir) == before
    proposed = yaml.safe_load(result.stdout)  # saved output is the YAML itself, never wrapped
    assert proposed["datasets"]["c"]["columns"]["mean_radius"]["source"] == "mean radius"


def test_ranges_only_when_asked_and_stated_in_the_file(
    project_dir: Path, sklearn_csvs: Path
) -> None:
    csv = str(sklearn_csvs / "wine.csv")
    assert run(project_dir, "data", "infer", csv, "--dataset", "wine", "--ranges").exit_code == 0
    text = (project_dir / "shipyard.yaml").read_text()
    assert "# observed 278 to 1680, widened 10%" in text  # proline
    proline = load_config(project_dir / "shipyard.yaml").datasets["wine"].columns["proline"]
    assert (proline.min, proline.max) == (137.8, 1820.0)
    target = load_config(project_dir / "shipyard.yaml").datasets["wine"].columns["target"]
    assert (target.min, target.max) == (0, 2)  # a label: a class 3 is not tomorrow's growth
    assert "# only 0, 1, 2 seen: a label or code? not widened" in text


def test_infer_errors_name_shipyard_yaml_not_a_temporary_file(
    project_dir: Path, sklearn_csvs: Path
) -> None:
    """Replacing the example's 'loans' drops the columns its model's features name."""
    before = (project_dir / "shipyard.yaml").read_bytes()
    result = run(
        project_dir, "data", "infer", str(sklearn_csvs / "wine.csv"), "--dataset", "loans",
        "--force",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "not written: with datasets.loans as proposed" in result.output
    assert f"{project_dir / 'shipyard.yaml'}:" in result.output
    assert ".infer." not in result.output and "Traceback" not in result.output
    assert (project_dir / "shipyard.yaml").read_bytes() == before


def test_source_headers_read_from_parquet_sql_and_a_watched_folder(
    project_dir: Path, sklearn_csvs: Path, tmp_path: Path
) -> None:
    csv = sklearn_csvs / "cancer.csv"
    assert run(project_dir, "data", "infer", str(csv), "--dataset", "cancer").exit_code == 0
    frame = pl.read_csv(csv)
    frame.head(100).write_parquet(tmp_path / "part1.parquet")
    db = tmp_path / "lab.db"
    with sqlite3.connect(db) as conn:
        frame.slice(100, 100).to_pandas().to_sql("cancer", conn, index=False)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    frame.slice(200, 100).write_csv(inbox / "part3.csv")
    os.utime(inbox / "part3.csv", (1_700_000_000, 1_700_000_000))
    steps = [
        ["data", "ingest", "cancer", str(tmp_path / "part1.parquet")],
        ["data", "ingest", "cancer", "--sql", "SELECT * FROM cancer", "--url", f"sqlite:///{db}"],
        ["data", "ingest", "cancer", "--watch", str(inbox), "--once"],
    ]
    for args in steps:
        result = run(project_dir, *args)
        assert result.exit_code == 0, result.output
        assert "rejected" not in result.output
    latest = json.loads(run(project_dir, "data", "show", "cancer@3", "--json").stdout)
    assert latest["rows"] == 300 and latest["rows_quarantined"] == 0


def test_a_missing_source_header_is_reported_like_a_missing_column(
    project_dir: Path, sklearn_csvs: Path, tmp_path: Path
) -> None:
    csv = sklearn_csvs / "cancer.csv"
    assert run(project_dir, "data", "infer", str(csv), "--dataset", "cancer").exit_code == 0
    pl.read_csv(csv).drop("mean radius").write_csv(tmp_path / "short.csv")
    result = run(project_dir, "data", "ingest", "cancer", str(tmp_path / "short.csv"))
    assert result.exit_code == 2
    assert "schema_drift: missing column(s) mean_radius (header 'mean radius')" in result.output


def test_the_same_file_after_a_schema_fix_says_how_to_validate_it_again(
    project_dir: Path, sklearn_csvs: Path
) -> None:
    """Its quarantined rows are not looked at again in append mode: the answer says so,
    and --mode replace validates the file under the new schema."""
    csv = str(sklearn_csvs / "wine.csv")
    assert run(project_dir, "data", "infer", csv, "--dataset", "wine").exit_code == 0
    file = project_dir / "shipyard.yaml"
    text = file.read_text()
    wrong = text.replace("magnesium: {type: float", "magnesium: {type: float, max: 100", 1)
    assert wrong != text
    file.write_text(wrong)
    assert run(project_dir, "data", "ingest", "wine", csv, "--json").exit_code in (0, 1)
    file.write_text(text)  # the fix
    again = run(project_dir, "data", "ingest", "wine", csv)
    assert again.exit_code == 0, again.output
    said = " ".join(again.output.split())
    assert "nothing new: already in wine@1: wine.csv; the schema changed since wine@1" in said
    assert "ingest with --mode replace" in said
    replaced = run(project_dir, "data", "ingest", "wine", csv, "--mode", "replace", "--json")
    assert json.loads(replaced.stdout)["report"]["quarantined"] == 0


def test_a_batch_mostly_quarantined_fails_naming_the_check(
    project_dir: Path, sklearn_csvs: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Written, so that its quarantine can be inspected; but exit 1, and why."""
    small, large = str(sklearn_csvs / "cancer-small.csv"), str(sklearn_csvs / "cancer-large.csv")
    run(project_dir, "data", "infer", small, "--dataset", "cancer", "--ranges")
    assert run(project_dir, "data", "ingest", "cancer", small).exit_code == 0
    result = run(project_dir, "data", "ingest", "cancer", large)
    assert result.exit_code == 1, result.output
    out = " ".join(result.output.split())
    assert "cancer@2 received 369 accepted 39 quarantined 330" in out
    assert (
        "cancer@2 is written, but 330 of 369 rows (89%) quarantined, more than "
        "datasets.cancer.checks.max_quarantined allows (50%); most by range:mean_area (325 rows), "
        "e.g. cancer-large.csv row 41: mean_area: 514.5 is above the maximum 510.8"
    ) in out
    assert "shipyard data quarantine cancer@2" in out and "Traceback" not in out
    assert out.count("330 of 369 rows (89%) quarantined") == 1
    said = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not said, "said once, as the error, not logged as a warning as well"
    rows = json.loads(run(project_dir, "data", "quarantine", "cancer@2", "--json").stdout)
    assert rows and all(r["_reasons"] for r in rows)

    pl.read_csv(large).write_parquet(tmp_path / "large.parquet")
    as_json = run(project_dir, "data", "ingest", "cancer", str(tmp_path / "large.parquet"), "--json")  # fmt: skip
    assert as_json.exit_code == 1
    data = json.loads(as_json.stdout)
    assert data["version"]["ref"] == "cancer@3" and data["report"]["quarantined"] == 330
    assert data["too_many_quarantined"].startswith("330 of 369 rows (89%) quarantined")


def test_max_quarantined_raised_accepts_such_a_batch(project_dir: Path, sklearn_csvs: Path) -> None:
    small, large = str(sklearn_csvs / "cancer-small.csv"), str(sklearn_csvs / "cancer-large.csv")
    run(project_dir, "data", "infer", small, "--dataset", "cancer", "--ranges")
    text = (project_dir / "shipyard.yaml").read_text()
    (project_dir / "shipyard.yaml").write_text(
        text.replace("  cancer:\n", "  cancer:\n    checks: {max_quarantined: 0.9}\n", 1)
    )
    assert run(project_dir, "data", "ingest", "cancer", small).exit_code == 0
    accepted = run(project_dir, "data", "ingest", "cancer", large)
    assert accepted.exit_code == 0, accepted.output
    assert "cancer@2  received 369  accepted 39  quarantined 330" in accepted.output


def test_nothing_new_by_key_and_by_whole_rows(
    project_dir: Path, sklearn_csvs: Path, tmp_path: Path
) -> None:
    from shipyard.demo import write_loans_batch

    batch = project_dir / "b1.csv"
    write_loans_batch(batch, rows=300, seed=1)
    assert run(project_dir, "data", "ingest", "loans", str(batch)).exit_code == 0
    # the accepted rows again, in other bytes: every key is already in loans@1
    accepted = tmp_path / "again.parquet"
    assert run(project_dir, "data", "export", "loans@1", str(accepted)).exit_code == 0
    result = run(project_dir, "data", "ingest", "loans", str(accepted))
    assert result.exit_code == 0, result.output
    assert "nothing new: all" in result.output and "already in loans@1" in result.output

    # no key: the same rows as Parquet are recognised as whole rows
    csv = sklearn_csvs / "diabetes.csv"
    assert run(project_dir, "data", "infer", str(csv), "--dataset", "diabetes").exit_code == 0
    assert run(project_dir, "data", "ingest", "diabetes", str(csv)).exit_code == 0
    pl.read_csv(csv).write_parquet(tmp_path / "diabetes.parquet")
    again = run(project_dir, "data", "ingest", "diabetes", str(tmp_path / "diabetes.parquet"), "--json")  # fmt: skip
    assert again.exit_code == 0, again.output
    data = json.loads(again.stdout)
    assert (
        data["nothing_new"] == "all 442 rows of the batch are already in diabetes@1 as whole rows"
    )
    assert data["version"]["ref"] == "diabetes@1"
    assert [e.action for e in _audit(project_dir, "diabetes")][:1] == ["data.batch.unchanged"]


def test_a_file_already_in_is_skipped_beside_a_new_one(
    project_dir: Path, sklearn_csvs: Path
) -> None:
    small, large = str(sklearn_csvs / "cancer-small.csv"), str(sklearn_csvs / "cancer-large.csv")
    run(project_dir, "data", "infer", small, "--dataset", "cancer")
    assert run(project_dir, "data", "ingest", "cancer", small).exit_code == 0
    both = run(project_dir, "data", "ingest", "cancer", large, small)
    assert both.exit_code == 0, both.output
    assert f"skipped {small} (already in cancer@1)" in " ".join(both.output.split())
    assert "cancer@2  received 369  accepted 369" in both.output


def test_a_watched_copy_of_ingested_rows_is_unchanged_and_not_retried(
    project_dir: Path, sklearn_csvs: Path, tmp_path: Path
) -> None:
    csv = sklearn_csvs / "wine.csv"
    run(project_dir, "data", "infer", str(csv), "--dataset", "wine")
    assert run(project_dir, "data", "ingest", "wine", str(csv)).exit_code == 0
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    pl.read_csv(csv).write_parquet(inbox / "wine.parquet")
    os.utime(inbox / "wine.parquet", (1_700_000_000, 1_700_000_000))
    args = ["data", "ingest", "wine", "--watch", str(inbox), "--once", "--json"]
    [event] = json.loads(run(project_dir, *args).stdout)
    assert event["outcome"] == "unchanged" and "already in wine@1" in event["detail"]
    assert json.loads(run(project_dir, *args).stdout) == []  # remembered, not retried


def _audit(folder: Path, subject: str) -> list:  # type: ignore[type-arg]
    import shipyard

    with shipyard.open(folder) as project:
        return project.audit(subject=subject)


def test_an_invalid_dataset_name_is_refused_before_anything_is_read(
    project_dir: Path, sklearn_csvs: Path
) -> None:
    before = files_of(project_dir)
    result = run(project_dir, "data", "infer", str(sklearn_csvs / "wine.csv"), "--dataset", "my wine")  # fmt: skip
    assert result.exit_code == 2
    assert "'my wine' is not a dataset name" in result.output and "'my_wine'" in result.output
    assert files_of(project_dir) == before
