"""``shipyard score`` and ``project.score`` on SQLite and a local artifact store.

One project for the file (two registered models); each test scores small inputs with
the embedded engine's thread pool or in the parent (a process pool is a slow test).
"""

from __future__ import annotations

import importlib.util
import io
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from batch_support import frame, make_project
from click.testing import CliRunner

from shipyard.cli import cli
from shipyard.predlog import FEEDBACK, SegmentLog, list_segments, unfinished_segments
from shipyard.predlog.writer import Chunk
from shipyard.project import Project
from shipyard.storage import history

ROWS = 2_000


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    made = make_project(tmp_path_factory.mktemp("batch") / "proj")
    yield made
    made.close()


@pytest.fixture(scope="module")
def inputs(project: Project) -> dict[str, Path]:
    """The same rows as Parquet, CSV and JSON lines; one row in ten breaks the schema."""
    rows = frame(ROWS, bad=1)
    folder = project.root / "in"
    folder.mkdir()
    rows.to_parquet(folder / "rows.parquet")
    rows.to_csv(folder / "rows.csv", index=False)
    rows.to_json(folder / "rows.jsonl", orient="records", lines=True)
    return {"frame": folder / "rows.parquet", "csv": folder / "rows.csv",
            "jsonl": folder / "rows.jsonl"}  # fmt: skip


def _score(args: list[str], project: Project) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["-C", str(project.root), "score", *args])
    return result.exit_code, result.output


def test_answers_are_the_models_own_and_counts_add_up(
    project: Project, inputs: dict[str, Path]
) -> None:
    out = project.root / "answers.parquet"
    run = project.score(
        "risk", files=[inputs["frame"]], out=out, id_column="loan_id", chunk_rows=300,
        workers=2,
    )  # fmt: skip
    rows = frame(ROWS, bad=1)
    good = (rows["amount"] >= 0) & (rows["age"] >= 18)
    assert (run.rows_in, run.rows_scored, run.rows_quarantined) == (ROWS, good.sum(), (~good).sum())
    assert run.status == "succeeded" and run.output == str(out)
    answers = pd.read_parquet(out)
    assert answers.columns.tolist() == [
        "loan_id", "prediction_id", "prediction", "probability_False", "probability_True"
    ]  # fmt: skip
    assert answers["loan_id"].tolist() == rows.loc[good, "loan_id"].tolist()
    own = project.models.load("risk@champion")
    labels, proba = own.answer(rows.loc[good, ["amount", "age"]].to_numpy(dtype=float))
    assert answers["prediction"].tolist() == labels.tolist()
    # to the last bits: BLAS picks its kernel by the matrix's size (chunks of 300 rows here)
    np.testing.assert_allclose(answers["probability_True"].to_numpy(), proba[:, 1], rtol=1e-12)
    numbers = np.flatnonzero(good.to_numpy()) + 1
    assert answers["prediction_id"].tolist() == [f"{run.run_id}-{n}" for n in numbers]

    quarantined = pq.read_table(project.artifacts.link(run.quarantine_key)).to_pandas()
    assert sorted(quarantined["_row"]) == sorted(np.flatnonzero(~good.to_numpy()) + 1)
    assert quarantined["loan_id"].tolist() == [str(i) for i in rows.loc[~good, "loan_id"]]
    assert all(len(r) >= 1 for r in quarantined["_reasons"])
    assert any("age" in r[0] for r in quarantined["_reasons"])

    logged = project.predictions("risk", source="batch", run=run.run_id)
    assert logged.height == run.rows_scored
    assert set(logged["prediction_id"]) == set(answers["prediction_id"])
    assert set(logged["source"]) == {"batch"} and set(logged["run_id"]) == {run.run_id}
    scored = [e for e in history(project.metadata, subject="risk") if e.action == "scored"]
    assert scored[0].detail["run"] == run.run_id
    assert scored[0].detail["rows"] == {"in": ROWS, "scored": run.rows_scored,
                                        "quarantined": run.rows_quarantined}  # fmt: skip


def test_the_cli_scores_csv_and_json_lines_alike(project: Project, inputs: dict[str, Path]) -> None:
    outs = {}
    for kind in ("csv", "jsonl"):
        out = project.root / f"from-{kind}.csv"
        code, said = _score(
            ["mixed@champion", str(inputs[kind]), "--out", str(out), "--id", "loan_id",
             "--chunk-rows", "700", "--workers", "1", "--json"], project,
        )  # fmt: skip
        assert code == 0, said
        shown = json.loads(said)
        assert shown["status"] == "succeeded"
        assert shown["rows"]["in"] == ROWS
        assert shown["rows"]["in"] == shown["rows"]["scored"] + shown["rows"]["quarantined"]
        assert Path(shown["quarantine_path"]).is_file()
        outs[kind] = pd.read_csv(out)
    pd.testing.assert_frame_equal(
        outs["csv"].drop(columns="prediction_id"), outs["jsonl"].drop(columns="prediction_id")
    )


def test_a_dataset_version_is_scored_and_named_in_the_run(project: Project) -> None:
    source = project.root / "loans.csv"
    rows = frame(300, seed=3)
    rows.assign(defaulted=rows["age"] > 50).to_csv(source, index=False)
    version = project.ingest("loans", source).version
    assert version is not None
    code, said = _score(["risk", "--data", version.ref, "--json"], project)
    assert code == 0, said
    shown = json.loads(said)
    assert shown["source"] == [version.ref]
    assert shown["rows"] == {"in": 300, "scored": 300, "quarantined": 0}
    answers = pq.read_table(project.artifacts.link(shown["output"]))
    assert answers.num_rows == 300 and answers.column_names[0] == "_row"


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda f: f.drop(columns="age"), "missing age"),
        (lambda f: f.assign(amount=f["amount"].astype(str)), "mistyped amount (large_string"),
    ],
)
def test_columns_that_do_not_fit_are_one_line_and_nothing_is_written(
    project: Project, change: object, said: str
) -> None:
    wrong = project.root / "wrong.parquet"
    change(frame(50)).to_parquet(wrong)  # type: ignore[operator]
    out = project.root / "never.parquet"
    runs = len(project.batch.list())
    code, output = _score(["risk", str(wrong), "--out", str(out)], project)
    assert code == 1
    assert said in output and "the columns do not fit risk@1" in output
    assert "Traceback" not in output
    assert not out.exists() and not list(project.root.glob(".never*"))
    assert len(project.batch.list()) == runs


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        (["risk", "--engine", "spark", "X"], 2, "unknown engine 'spark'"),
        (["risk"], 2, "name what to score"),
        (["risk", "--data", "loans@1", "X"], 2, "not both"),
        (["risk", "nowhere.parquet"], 2, "no such file"),
        (["risk", "X", "--out", "answers.xlsx"], 2, "cannot write answers as '.xlsx'"),
        (["risk", "X", "--id", "nope"], 2, "no column 'nope'"),
        (["nobody", "X"], 2, "nobody"),
    ],
)
def test_bad_input_is_one_clear_line(
    project: Project, inputs: dict[str, Path], args: list[str], code: int, said: str
) -> None:
    args = [str(inputs["frame"]) if a == "X" else a for a in args]
    got, output = _score(args, project)
    assert got == code, output
    assert said in output
    assert "Traceback" not in output and "internal error" not in output


def test_an_engine_not_installed_names_the_install_command(
    project: Project, inputs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where Ray is installed, the ray entry is pointed at a module that is not."""
    from dataclasses import replace

    from shipyard.batch import ENGINES

    if importlib.util.find_spec("ray") is not None:
        monkeypatch.setitem(ENGINES, "ray", replace(ENGINES["ray"], requires="no_ray_here"))
    out = project.root / "ray.parquet"
    code, said = _score(["risk", "--engine", "ray", str(inputs["frame"]), "--out", str(out)],
                        project)  # fmt: skip
    assert code == 2
    assert "--engine ray needs the" in said and "pip install 'shipyard[ray]'" in said
    assert not out.exists()


def test_feedback_joins_batch_rows_by_prediction_id(
    project: Project, inputs: dict[str, Path]
) -> None:
    run = project.score("risk", files=[inputs["frame"]], workers=1)
    ids = project.predictions("risk", run=run.run_id, limit=3)["prediction_id"].to_list()
    feedback = SegmentLog(FEEDBACK, project.artifacts, worker="test", spool=project.root / "spool")
    import time

    feedback.append(
        Chunk(
            "risk",
            3,
            ((("time", time.time()),)),
            (("prediction_id", ids), ("label", [True, False, True])),
        )
    )
    assert not feedback.write(feedback.take())
    joined = project.predictions("risk", run=run.run_id, with_feedback=True)
    labelled = joined.filter(pl.col("label").is_not_null())
    assert sorted(labelled["prediction_id"]) == sorted(ids)


def test_a_run_without_its_marker_is_not_read(project: Project, inputs: dict[str, Path]) -> None:
    """Segments of a run that did not finish (here: its marker removed) are skipped."""
    run = project.score("risk", files=[inputs["frame"]], workers=1)
    day = run.started_at
    marker = [
        k
        for k in project.artifacts.list(f"predictions/risk/{day:%Y-%m-%d}/batch-{run.run_id}")
        if k.endswith(".done")
    ]
    assert len(marker) == 1
    assert project.predictions("risk", run=run.run_id).height == run.rows_scored
    project.artifacts.delete(marker[0])
    assert project.predictions("risk", run=run.run_id).height == 0
    assert set(run.segments) <= set(
        unfinished_segments(project.artifacts, "predictions", "risk", day)
    )
    assert not set(run.segments) & set(list_segments(project.artifacts, "predictions", "risk", day))


def test_a_running_run_whose_heartbeat_stopped_shows_abandoned(project: Project) -> None:
    run = project.batch.list()[0]
    from dataclasses import replace

    running = replace(run, status="running")
    assert running.status_at(run.heartbeat_at + timedelta(minutes=1)) == "running"
    assert running.status_at(run.heartbeat_at + timedelta(minutes=6)) == "abandoned"


def test_served_segments_read_as_serve(project: Project) -> None:
    """A segment written before the source column existed holds served rows."""
    import io
    from datetime import UTC, datetime

    from shipyard.predlog import PREDICTIONS, segment_prefix
    from shipyard.predlog.schema import time_type

    now = datetime.now(UTC)
    table = pa.table({
        "prediction_id": ["old-1"], "prediction": [True],
        "time": pa.array([int(now.timestamp() * 1e6)]).cast(time_type()),
        "version": [1], "path": ["model"], "degraded": [False],
    })  # fmt: skip
    sink = io.BytesIO()
    pq.write_table(table, sink)
    project.artifacts.put(
        sink.getvalue(), prefix=segment_prefix(PREDICTIONS, "risk", now, "old"), suffix=".parquet"
    )
    served = project.predictions("risk", source="serve")
    assert served["prediction_id"].to_list() == ["old-1"]
    assert "old-1" not in project.predictions("risk", source="batch")["prediction_id"].to_list()


def test_answers_kept_in_the_store_hold_every_row_after_a_chunk_with_none(
    project: Project,
) -> None:
    """The first chunk all quarantined (no answer rows), the later ones scored: the
    answers put in the artifact store (no --out) hold every scored row, not the empty
    first chunk's schema alone."""
    rows = frame(30)
    rows.loc[:9, "age"] = 7  # rows 1-10: the whole first chunk of 10 refused
    source = project.root / "first_chunk_refused.csv"
    rows.to_csv(source, index=False)
    run = project.score("risk@1", files=[source], chunk_rows=10, workers=1)
    assert (run.rows_scored, run.rows_quarantined) == (20, 10)
    stored = pd.read_parquet(io.BytesIO(project.artifacts.get(run.output)))
    assert stored["_row"].tolist() == list(range(11, 31))
