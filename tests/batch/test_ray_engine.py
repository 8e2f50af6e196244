"""The Ray engine (``shipyard score --engine ray``) on a real local Ray instance.

One Ray instance for the module (started on the loopback, no dashboard, a small object
store); the engine joins it. Each test scores the same input with both engines and
compares what they wrote: the answers, the prediction log and the quarantine, row for
row, after the run ids (which differ by design) are taken out.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from batch_support import frame, make_project
from click.testing import CliRunner

import shipyard
from shipyard.batch import ray_engine
from shipyard.batch.records import SUCCEEDED, RunRecord
from shipyard.cli import cli
from shipyard.project import Project
from shipyard.storage import ArtifactStore

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # a cold Ray start on a busy machine

CHUNK = 100


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[Any]:
    """A local Ray instance shared by the module's tests (the engine joins it)."""
    import ray

    with warnings.catch_warnings():  # Ray's own deprecation notices about its own settings
        warnings.simplefilter("ignore", DeprecationWarning)
        ray.init(
            address="local",
            num_cpus=2,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            object_store_memory=128 << 20,
            log_to_driver=False,
            configure_logging=False,
        )
    yield ray
    ray.shutdown()


def write_input(folder: Path, n: int, *, seed: int, bad: int = 1) -> Path:
    """``n`` rows as Parquet in row groups that do not line up with the chunks."""
    rows = frame(n, seed=seed, bad=bad)
    path = folder / f"rows-{seed}.parquet"
    pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), path, row_group_size=70)
    return path


def stored(project: Project, key: str) -> pa.Table:
    return pq.read_table(io.BytesIO(project.artifacts.get(key)))


def without_run(table: pa.Table, record: RunRecord) -> pa.Table:
    """``table`` with its run id replaced in the prediction ids and its run columns dropped
    (two runs differ there by design), sorted by prediction id."""
    ids = pc.replace_substring(table["prediction_id"], record.run_id, "RUN")
    table = table.set_column(table.schema.get_field_index("prediction_id"), "prediction_id", ids)
    return table.drop_columns([c for c in ("run_id", "time") if c in table.column_names]).sort_by(
        "prediction_id"
    )


def answers_of(project: Project, record: RunRecord) -> pa.Table:
    """A run's answers: from its --out file, or from the artifact store."""
    assert record.output is not None
    if Path(record.output).is_absolute():
        return pq.read_table(record.output)
    return stored(project, record.output)


def logged(project: Project, record: RunRecord) -> pa.Table:
    table = pa.concat_tables(stored(project, key) for key in record.segments)
    assert pc.all(pc.equal(table["run_id"], record.run_id)).as_py()
    started = pa.scalar(record.started_at, type=table["time"].type)
    assert pc.all(pc.equal(table["time"], started)).as_py()  # the run's start, not a clock
    return without_run(table, record)


def assert_same(project: Project, local: RunRecord, remote: RunRecord) -> None:
    """Both runs succeeded with the same counts and wrote the same answers, log and
    quarantine (prediction ids unique in each log: no row logged twice)."""
    assert local.status == remote.status == SUCCEEDED
    assert remote.engine == "ray"
    counts = (remote.rows_in, remote.rows_scored, remote.rows_quarantined)
    assert counts == (local.rows_in, local.rows_scored, local.rows_quarantined)
    assert remote.rows_in == remote.rows_scored + remote.rows_quarantined
    answers = [without_run(answers_of(project, r), r) for r in (local, remote)]
    assert answers[0].equals(answers[1])
    logs = [logged(project, r) for r in (local, remote)]
    assert logs[0].num_rows == remote.rows_scored
    assert pc.count_distinct(logs[1]["prediction_id"]).as_py() == logs[1].num_rows
    assert logs[0].equals(logs[1])
    if local.quarantine_key is None:
        assert remote.quarantine_key is None
        return
    assert remote.quarantine_key is not None
    quarantined = [stored(project, r.quarantine_key) for r in (local, remote)]  # type: ignore[arg-type]
    assert quarantined[0].equals(quarantined[1])


@pytest.mark.s3
def test_the_ray_engine_scores_a_dataset_version_on_s3_through_the_cli(
    ray_instance: Any, tmp_path: Path, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The embedded engine copies the dataset version to its scratch folder; the Ray
    engine does not: its pieces name the object on S3 with the endpoint (which the Ray
    workers' environment lacks: it was set after Ray started) and no credential, the
    actors read it there, and both write the same answers and log rows."""
    monkeypatch.setenv("SHIPYARD_ARTIFACTS_URL", f"s3://{s3_bucket}/batch")
    folder = tmp_path / "proj"
    project = make_project(folder)
    rows = frame(900, seed=8).assign(defaulted=False)
    version = project.ingest("loans", rows).version
    assert version.ref == "loans@1"
    downloads: list[tuple[str, str]] = []
    download = ArtifactStore.download

    def recorded(store: ArtifactStore, key: str, dest: Path) -> Path:  # then the real copy
        downloads.append((engine, key))
        return download(store, key, dest)

    pieces: list[ray_engine.Piece] = []
    plan = ray_engine.plan

    def planned(*args: Any) -> list[ray_engine.Piece]:
        pieces.extend(plan(*args))
        return pieces

    monkeypatch.setattr(ArtifactStore, "download", recorded)
    monkeypatch.setattr(ray_engine, "plan", planned)
    records = []
    for engine in ("local", "ray"):
        result = CliRunner().invoke(
            cli,
            ["-C", str(folder), "score", "risk@champion", "--data", "loans@1", "--engine",
             engine, "--chunk-rows", str(CHUNK), "--workers", "1" if engine == "local" else "2",
             "--json"],
            catch_exceptions=False,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        said = json.loads(result.stdout)
        assert said["engine"] == engine and said["output"].startswith("batch/risk/")
        records.append(project.batch.run(said["run_id"]))
    assert_same(project, *records)
    assert downloads == [("local", version.data_key)]  # the Ray engine made no copy
    assert sum(piece.stop - piece.start for piece in pieces) == 900
    endpoint = os.environ["SHIPYARD_S3_ENDPOINT_URL"]
    for piece in pieces:
        assert piece.path == f"s3://{s3_bucket}/batch/{version.data_key}"
        assert json.loads(piece.options) == {"client_kwargs": {"endpoint_url": endpoint}}


def _map_workers() -> list[int]:
    """The process ids of this test process's Ray Data actors (descendants only: a Ray
    instance of another process on this machine is left alone)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            command = Path(entry.path, "cmdline").read_bytes()
        except OSError:
            continue
        if command.startswith(b"ray::MapWorker") and _descends_from(int(entry.name), os.getpid()):
            found.append(int(entry.name))
    return found


def _descends_from(pid: int, ancestor: int) -> bool:
    while pid > 1:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat.rsplit(")", 1)[1].split()[1])
        if pid == ancestor:
            return True
    return False


def test_both_engines_write_the_same_even_with_a_worker_killed_mid_run(
    ray_instance: Any, tmp_path: Path
) -> None:
    """Parquet in row groups that do not line up with the chunks, and a CSV file (read as
    text, converted for Ray); one Ray Data actor SIGKILLed once the first chunk is back:
    Ray restarts it and retries its piece, and the run is still exact, no row logged twice."""
    project = make_project(tmp_path / "proj")
    parquet = write_input(tmp_path, 4_000, seed=5)
    csv = tmp_path / "more.csv"
    frame(330, seed=6, bad=2).to_csv(csv, index=False)
    given = {"files": [parquet, csv], "id_column": "loan_id", "chunk_rows": CHUNK}
    local = project.score("mixed@champion", out=tmp_path / "local.parquet", workers=1, **given)
    started = threading.Event()
    seen: list[str] = []
    outcome: dict[str, Any] = {}

    def step(message: str) -> None:
        seen.append(message)
        started.set()

    def score() -> None:
        try:
            outcome["record"] = project.score(
                "mixed@champion", out=tmp_path / "ray.parquet", engine="ray", progress=step,
                **given,
            )  # fmt: skip
        except BaseException as exc:  # handed to the test's thread
            outcome["error"] = exc

    worker = threading.Thread(target=score)
    worker.start()
    assert started.wait(timeout=300), "no chunk came back from Ray"
    victims = _map_workers()
    assert victims, "no Ray Data actor process found"
    os.kill(victims[0], signal.SIGKILL)
    at_kill = len(seen)
    worker.join(timeout=300)
    assert not worker.is_alive()
    assert "error" not in outcome, outcome.get("error")
    assert at_kill < 44, "the run had ended before the worker was killed"  # 40 + 4 chunks
    assert victims[0] not in _map_workers()
    record = outcome["record"]
    assert record.rows_in == 4_330 and record.rows_quarantined > 0
    assert_same(project, local, record)
    assert not list(tmp_path.glob(".*.partial"))  # nothing left beside the answers


def test_without_ray_installed_the_cli_says_how_to_install_it(tmp_path: Path) -> None:
    folder = tmp_path / "proj"
    make_project(folder)
    path = write_input(tmp_path, 50, seed=1)
    shim = "import sys; sys.modules['ray'] = None; from shipyard.cli import main; main()"
    out = tmp_path / "answers.parquet"
    command = [sys.executable, "-c", shim, "-C", str(folder), "score", "risk@champion",
               str(path), "--engine", "ray", "--out", str(out)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert "pip install 'shipyard[ray]'" in done.stderr
    assert "Traceback" not in done.stderr and len(lines) <= 2, done.stderr  # message + hint
    assert "--engine ray needs the 'ray' package" in lines[0]
    assert not out.exists() and not list(tmp_path.glob(".*.partial"))
    with shipyard.open(folder) as project:
        assert project.batch.list() == []  # refused before a run was recorded


def test_a_remote_cluster_is_refused_a_dataset_version_in_a_local_folder(tmp_path: Path) -> None:
    """Its copy would be in this machine's scratch folder, which the cluster's nodes cannot
    read: one line naming the fix, before a run is recorded (Ray is not started)."""
    folder = tmp_path / "proj"
    project = make_project(folder)
    project.ingest("loans", frame(50, seed=3).assign(defaulted=False))
    result = CliRunner().invoke(
        cli,
        ["-C", str(folder), "score", "risk@champion", "--data", "loans@1", "--engine", "ray",
         "--address", "ray://10.0.0.9:10001"],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "is a local folder, which the Ray cluster at ray://10.0.0.9:10001 cannot read" in (
        result.output
    )
    assert "s3://" in result.output  # the fix: put the artifacts on S3
    assert project.batch.list() == []
