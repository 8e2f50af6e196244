"""The embedded engine's process pool, and a run killed with SIGKILL (real processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from batch_support import frame, make_project

from shipyard.predlog import list_segments, unfinished_segments

pytestmark = pytest.mark.slow  # starts worker processes


def test_a_process_pool_scores_like_the_parent(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj")
    try:
        source = tmp_path / "rows.parquet"
        frame(3_000, bad=1).to_parquet(source)
        runs = {}
        for workers in (1, 2):
            out = tmp_path / f"w{workers}.parquet"
            runs[workers] = project.score(
                "risk", files=[source], out=out, id_column="loan_id", chunk_rows=400,
                workers=workers, options={"pool": "process"},
            )  # fmt: skip
        answers = {w: pd.read_parquet(tmp_path / f"w{w}.parquet") for w in runs}
        for w, run in runs.items():
            answers[w]["prediction_id"] = answers[w]["prediction_id"].str.removeprefix(run.run_id)
        pd.testing.assert_frame_equal(answers[1], answers[2])
        logs = {
            w: project.predictions("risk", run=run.run_id)
            .drop("run_id", "prediction_id", "time")
            .sort("amount")
            for w, run in runs.items()
        }
        assert logs[1].equals(logs[2])
    finally:
        project.close()


SCRIPT = """
import sys
import shipyard
import shipyard.batch.log

shipyard.batch.log.SEGMENT_ROWS = 2_000  # segments land while the run goes on
with shipyard.open(sys.argv[1]) as project:
    project.score("risk", files=[sys.argv[2]], out=sys.argv[3], chunk_rows=500, workers=1)
"""


def test_a_run_killed_mid_way_leaves_nothing_that_looks_finished(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj")
    source = tmp_path / "rows.parquet"
    frame(400_000).to_parquet(source)
    out = tmp_path / "answers.csv"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(SCRIPT), str(project.root), str(source), str(out)],
        env=env,
    )
    try:
        day = None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and child.poll() is None:
            runs = project.batch.list("risk")
            if runs:
                day = runs[0].started_at
                if unfinished_segments(project.artifacts, "predictions", "risk", day):
                    break
            time.sleep(0.05)
        assert child.poll() is None, "the run ended before it could be killed"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert day is not None
    run = project.batch.list("risk")[0]
    assert not out.exists()  # only the hidden partial file, never the answers' name
    assert [p.name for p in tmp_path.glob(".answers.csv.*.partial")]
    assert unfinished_segments(project.artifacts, "predictions", "risk", day)
    assert not list_segments(project.artifacts, "predictions", "risk", day)
    assert project.predictions("risk").height == 0
    assert run.status == "running"
    assert run.status_at(run.heartbeat_at + timedelta(minutes=6)) == "abandoned"
    project.close()
