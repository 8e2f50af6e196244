"""``shipyard score`` as a stranger ran it on scikit-learn's breast_cancer: a bare model
name, header-only input, headers the dataset reads from ``source:``, a file with a
timestamp column, an ``--id`` the file lacks, ``inf`` and missing values.

One small project: ``tumours`` reads ``mean_radius`` from the header ``mean radius`` (as
``shipyard data ingest`` accepted the stranger's file); ``tumour`` has two versions, the
first the champion; ``untried`` has one version and no champion.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression

import shipyard
from shipyard.cli import cli
from shipyard.project import Project

PROJECT = """\
project: tumour-test
datasets:
  tumours:
    target: malignant
    timestamp: seen_at
    columns:
      case_id: {type: int}
      mean_radius: {type: float, source: "mean radius", min: 6.98, max: 30.22}
      mean_texture: {type: float, source: "mean texture"}
      seen_at: {type: datetime}
      malignant: {type: bool}
models:
  tumour:
    owner: {name: onco, email: onco@example.com}
    task: binary_classification
    dataset: tumours
    features: [mean_radius, mean_texture]
  untried:
    owner: {name: onco, email: onco@example.com}
    task: binary_classification
    dataset: tumours
    features: [mean_radius, mean_texture]
"""
FEATURES = ["mean_radius", "mean_texture"]
HEADERS = {"mean_radius": "mean radius", "mean_texture": "mean texture"}


def rows(n: int, *, seed: int = 0, headers: bool = False) -> pd.DataFrame:
    """``n`` cases seen in January and February 2024; with ``headers``, the features under
    the stranger's headers (``mean radius``), else under their column names."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "case_id": np.arange(1, n + 1),
            "mean_radius": rng.uniform(8, 25, n).round(2),
            "mean_texture": rng.uniform(10, 35, n).round(2),
            "seen_at": [datetime(2024, 1 + i % 2, 1 + i % 28, tzinfo=UTC) for i in range(n)],
        }
    )
    return frame.rename(columns=HEADERS) if headers else frame


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    folder = tmp_path_factory.mktemp("stranger") / "proj"
    folder.mkdir()
    (folder / "shipyard.yaml").write_text(PROJECT)
    made = shipyard.open(folder)
    train = rows(200, seed=1)
    x = train[FEATURES].to_numpy()
    y = x[:, 0] > 15
    first = made.register(LogisticRegression().fit(x, y), "tumour")
    made.register(LogisticRegression(C=0.01).fit(x, y), "tumour")  # the newest: tumour@2
    made.models.alias(first.ref, "champion")
    made.register(LogisticRegression().fit(x, y), "untried")
    yield made
    made.close()


def _score(project: Project, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["-C", str(project.root), "score", *args])
    return result.exit_code, " ".join(result.output.split())


def _file(project: Project, name: str, frame: pd.DataFrame) -> Path:
    path = project.root / name
    if name.endswith(".csv"):
        frame.to_csv(path, index=False)
    elif name.endswith(".parquet"):
        frame.to_parquet(path)
    else:
        frame.to_json(path, orient="records", lines=True, date_format="iso")
    return path


def test_a_bare_name_scores_with_the_champion_not_the_newest(project: Project) -> None:
    source = _file(project, "bare.csv", rows(20))
    code, said = _score(project, "tumour", str(source))
    assert code == 0, said
    assert "of 20 rows with tumour@1" in said
    assert project.score("tumour", files=[source]).version == 1


def test_a_bare_name_without_a_champion_is_refused_with_the_fix(project: Project) -> None:
    source = _file(project, "untried.csv", rows(5))
    runs = len(project.batch.list())
    code, said = _score(project, "untried", str(source))
    assert code == 2, said
    assert "model 'untried' has no champion" in said
    assert "name a version (untried@1) or promote one: shipyard promote untried@1" in said
    assert "Traceback" not in said and len(project.batch.list()) == runs
    code, said = _score(project, "untried@1", str(source))
    assert code == 0, said


@pytest.mark.parametrize("name", ["headers.csv", "headers.parquet", "headers.jsonl"])
def test_source_headers_are_read_as_ingest_reads_them(project: Project, name: str) -> None:
    source = _file(project, name, rows(30, headers=True))
    out = project.root / f"{name}.answers.csv"
    code, said = _score(project, "tumour", str(source), "--out", str(out), "--id", "case_id")
    assert code == 0, said
    assert "scored 30 of 30 rows" in said
    assert pd.read_csv(out)["case_id"].tolist() == list(range(1, 31))


def test_a_missing_source_header_is_named_as_ingest_names_it(project: Project) -> None:
    source = _file(project, "no_radius.csv", rows(5, headers=True).drop(columns="mean radius"))
    code, said = _score(project, "tumour", str(source))
    assert code == 1, said
    assert "missing mean_radius (header 'mean radius')" in said


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_an_empty_input_gives_the_answers_of_a_run_in_the_asked_format(
    project: Project, suffix: str
) -> None:
    full = _file(project, "some.parquet", rows(10))
    empty = project.root / "header_only.csv"
    empty.write_text("case_id,mean_radius,mean_texture,seen_at\n")
    tables = {}
    for kind, source in (("some", full), ("none", empty)):
        out = project.root / f"{kind}-answers{suffix}"
        code, said = _score(project, "tumour", str(source), "--out", str(out))
        assert code == 0, said
        if suffix == ".csv":
            assert out.read_bytes()[:1] != b"P"  # not Parquet under a .csv name
            import pyarrow.csv as pcsv

            tables[kind] = pcsv.read_csv(out)
        else:
            tables[kind] = pq.read_table(out)
    assert tables["none"].num_rows == 0
    assert tables["none"].column_names == [
        "_row", "prediction_id", "prediction", "probability_False", "probability_True"
    ]  # fmt: skip
    if suffix == ".parquet":
        assert tables["none"].schema == tables["some"].schema


def test_a_file_run_is_timed_by_its_timestamp_column(project: Project) -> None:
    source = _file(project, "timed.parquet", rows(80))
    code, said = _score(project, "tumour", str(source), "--json")
    assert code == 0, said
    run = json.loads(said)["run_id"]
    result = CliRunner().invoke(
        cli, ["-C", str(project.root), "monitor", "tumour", "--run", run, "--every", "1mo",
              "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert found["window"]["timed_by"] == "seen_at"
    assert [(p["period"], p["rows"]) for p in found["periods"]] == [
        ("2024-01", 40),
        ("2024-02", 40),
    ]


def test_an_id_the_file_lacks_is_a_user_error_naming_how_many_columns_are_not_shown(
    project: Project,
) -> None:
    wide = rows(3).assign(**{f"extra_{i}": i for i in range(25)})
    source = _file(project, "wide.parquet", wide)
    code, said = _score(project, "tumour", str(source), "--id", "nope")
    assert code == 2, said
    assert "no column 'nope'" in said and "extra_15 and 9 more" in said


def test_refused_values_are_said_for_what_they_are(project: Project) -> None:
    frame = rows(4)
    frame["mean_radius"] = frame["mean_radius"].astype(object)
    frame.loc[1, "mean_radius"] = "inf"
    frame.loc[2, "mean_texture"] = None
    source = _file(project, "refused.csv", frame)
    run = project.score("tumour", files=[source])
    assert (run.rows_scored, run.rows_quarantined) == (2, 2)
    quarantined = pq.read_table(project.artifacts.link(run.quarantine_key)).to_pylist()
    reasons = {r["_row"]: r["_reasons"] for r in quarantined}
    assert reasons == {
        2: ["mean_radius: expected a finite number, got 'inf'"],
        3: ["mean_texture: missing, and the model takes no missing value"],
    }


@pytest.mark.parametrize("name", ["ids.csv", "ids.parquet", "ids.jsonl"])
def test_an_int_id_keeps_its_type(project: Project, name: str) -> None:
    source = _file(project, name, rows(5))
    out = project.root / f"{name}-answers.parquet"
    code, said = _score(project, "tumour", str(source), "--out", str(out), "--id", "case_id")
    assert code == 0, said
    assert pq.read_schema(out).field("case_id").type == pa.int64()


def test_a_malformed_csv_line_is_quarantined_in_its_place(project: Project) -> None:
    """Lines 3 and 7 of the data (4 of 6 fields, then 5) are quarantined with why; the
    other rows are scored under their own row numbers, in a chunk of 3 rows as in one."""
    lines = ["case_id,mean_radius,mean_texture,seen_at"]
    lines += [f"{i},{10 + i},{20 + i},2024-01-0{i}" for i in range(1, 9)]
    lines[3] = "3,13"
    lines[7] = "7,17,27,2024-01-07,extra"
    source = project.root / "ragged.csv"
    source.write_text("\n".join(lines) + "\n")
    for chunk_rows in ("3", "100"):
        out = project.root / f"ragged-{chunk_rows}.csv"
        code, said = _score(project, "tumour", str(source), "--out", str(out), "--id",
                            "case_id", "--chunk-rows", chunk_rows, "--json")  # fmt: skip
        assert code == 0, said
        run = json.loads(said)
        assert run["rows"] == {"in": 8, "scored": 6, "quarantined": 2}
        answers = pd.read_csv(out)
        assert answers["case_id"].tolist() == [1, 2, 4, 5, 6, 8]
        expected = [f"{run['run_id']}-{n}" for n in (1, 2, 4, 5, 6, 8)]
        assert answers["prediction_id"].tolist() == expected
        quarantined = pq.read_table(run["quarantine_path"]).to_pylist()
        assert [(r["_row"], r["_reasons"]) for r in quarantined] == [
            (3, ["a malformed line: 2 fields where the header has 4 ('3,13')"]),
            (7, ["a malformed line: 5 fields where the header has 4 "
                 "('7,17,27,2024-01-07,extra')"]),
        ]  # fmt: skip


def test_a_json_column_of_two_types_is_named_with_the_fix(project: Project) -> None:
    source = project.root / "quoted.jsonl"
    source.write_text(
        '{"mean_radius": 15.1, "mean_texture": 20.0}\n{"mean_radius": "15.2", "mean_texture": 21}\n'
    )
    code, said = _score(project, "tumour", str(source))
    assert code == 2, said
    assert "the column 'mean_radius' holds a number and then a string" in said
    assert 'a number unquoted: 15.2, not "15.2"' in said


def test_monitor_data_says_a_missing_champion_as_score_does(project: Project) -> None:
    labelled = rows(40, headers=True)
    labelled["malignant"] = labelled["mean radius"] > 15
    source = _file(project, "to_ingest.csv", labelled)
    version = project.ingest("tumours", source).version
    result = CliRunner().invoke(
        cli, ["-C", str(project.root), "monitor", "untried", "--data", version.ref]
    )
    said = " ".join(result.output.split())
    assert result.exit_code == 2, said
    assert "model 'untried' has no champion, which a bare name is monitored with" in said
    assert "name a version (untried@1) or promote one: shipyard promote untried@1" in said


def test_a_broken_json_line_is_named_by_its_line_from_1(project: Project) -> None:
    # Arrow said "in row 5" (from 0, and blank lines not counted) for the file's 7th line
    good = '{"mean_radius": 15.1, "mean_texture": 20.0}\n'
    source = project.root / "broken.jsonl"
    source.write_text(good * 3 + "\n" + good * 2 + '{"mean_radius": 15.2,, "mean_texture": 21}\n')
    code, said = _score(project, "tumour", str(source))
    assert code == 2, said
    assert "on line 7" in said and "row" not in said.split("cannot read it as", 1)[1]


def test_a_batch_rows_id_and_event_time_show_in_predictions(project: Project) -> None:
    # the log row's passthrough {"case_id": ..., "seen_at": ...} never showed: tumour
    # declares no passthrough fields
    source = _file(project, "shown.csv", rows(6))
    result = CliRunner().invoke(
        cli, ["-C", str(project.root), "score", "tumour", str(source), "--id", "case_id", "--json"]
    )
    assert result.exit_code == 0, result.output
    run = str(json.loads(result.output)["run_id"])
    asked = ["-C", str(project.root), "predictions", "tumour", "--source", "batch", "--run", run]
    shown = CliRunner().invoke(cli, [*asked, "--json"])
    assert shown.exit_code == 0, shown.output
    found = json.loads(shown.output)
    assert sorted(str(r["case_id"]) for r in found) == [str(i) for i in range(1, 7)]
    assert {r["seen_at"][:10] for r in found} <= {
        f"2024-0{m}-0{d}" for m in (1, 2) for d in range(1, 7)
    }
    table = CliRunner().invoke(cli, [*asked, "--csv"])
    assert table.exit_code == 0, table.output
    header = table.output.splitlines()[0].split(",")
    assert "case_id" in header and "seen_at" in header
    table = CliRunner().invoke(cli, [*asked, "--where", "version = 1"])
    assert table.exit_code == 0, table.output
    assert "case_id" in table.output and "seen_at" in table.output
