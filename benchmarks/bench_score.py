"""Batch scoring: ``shipyard score`` against the floor and against ``mlflow models predict``.

The serving workload's model (../shared/WORKLOADS.md "Serving": ``make_classification``,
20 features, ``HistGradientBoostingClassifier(random_state=0)``) scores 1 M and 10 M
rows of 20 float features stored as Parquet.

- **shipyard**: ``project.score(...)`` in a child process, the embedded engine on every
  core (``--pools``: a process pool, or threads), with validation, the answers written
  as Parquet, the quarantine and the prediction log; wall time, and the peak RSS of the
  child's whole process tree (sampled every 0.1 s from /proc), beside the RSS of one
  process that has only loaded the model (the part that is "the model").
- **floor**: the model's own ``predict_proba`` on the same chunks already in memory, two
  forked processes (one OpenMP thread each): no reading, no validation, no writing.
- **mlflow**: ``mlflow models predict --env-manager local`` (the MLflow CLI reads CSV
  or JSON, not Parquet: it gets the same rows as CSV), at 1 M rows only.

    make bench-score   # or: python benchmarks/bench_score.py [--rows 1000000,10000000] [--pools process,thread] [--no-mlflow]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
CACHE = HERE / ".cache" / "score"
FEATURES = [f"f{i}" for i in range(20)]
CHUNK = 100_000


def model_path() -> Path:
    import joblib
    from sklearn.datasets import make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / "hgb.joblib"
    if not path.exists():
        X, y = make_classification(
            n_samples=50_000, n_features=20, n_informative=10, n_redundant=4, random_state=0
        )
        joblib.dump(HistGradientBoostingClassifier(random_state=0).fit(X, y), path)
    return path


def rows_file(n: int) -> Path:
    """``n`` rows of 20 float features (Parquet), written 1 M rows at a time."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = CACHE / f"rows-{n}.parquet"
    if path.exists():
        return path
    rng = np.random.default_rng(n)
    schema = pa.schema([(f, pa.float64()) for f in FEATURES])
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for start in range(0, n, 1_000_000):
            size = min(1_000_000, n - start)
            block = rng.normal(0, 2, (size, len(FEATURES)))
            writer.write_table(pa.table({f: block[:, i] for i, f in enumerate(FEATURES)}))
    return path


def project(model: Path, folder: Path = CACHE / "project") -> Path:
    """A project in ``folder`` (made anew) with ``model`` registered as ``hgb@champion``."""
    import joblib

    import shipyard

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    columns = "\n".join(f"      {f}: {{type: float, nullable: false}}" for f in FEATURES)
    (folder / "shipyard.yaml").write_text(
        f"""project: bench-score
datasets:
  bench:
    target: y
    columns:
{columns}
      y: {{type: int}}
models:
  hgb:
    owner: {{name: bench, email: bench@example.com}}
    task: binary_classification
    dataset: bench
    features: [{", ".join(FEATURES)}]
"""
    )
    with shipyard.open(folder) as opened:
        opened.models.alias(opened.register(joblib.load(model), "hgb").ref, "champion")
    return folder


# -- memory of a process tree ----------------------------------------------------------
def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def tree_rss_mb(pid: int) -> float:
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
        todo += _children(current)
    return total / 1024


def run_watched(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak tree RSS (MB) and stdout of ``command``."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    peak = [0.0]

    def watch() -> None:
        while child.poll() is None:
            peak[0] = max(peak[0], tree_rss_mb(child.pid))
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    out, _ = child.communicate()
    elapsed = time.perf_counter() - started
    watcher.join()
    if child.returncode:
        raise SystemExit(f"{command[:3]} failed with exit {child.returncode}")
    return elapsed, peak[0], out


SCORE = """
import json, sys, time
import shipyard
with shipyard.open(sys.argv[1]) as project:
    started = time.perf_counter()
    run = project.score("hgb", files=[sys.argv[2]], out=sys.argv[3], options={"pool": sys.argv[4]})
    print(json.dumps({"seconds": time.perf_counter() - started, "scored": run.rows_scored,
                      "quarantined": run.rows_quarantined}))
"""

MODEL_ONLY = """
import sys, time, shipyard
with shipyard.open(sys.argv[1]) as project:
    project.models.load("hgb@champion")
    import polars, pyarrow.parquet  # what scoring imports besides the model
    time.sleep(1.0)
"""

FLOOR = """
import json, os, sys, time
os.environ["OMP_NUM_THREADS"] = "1"
import joblib, multiprocessing
import pyarrow.parquet as pq
model = joblib.load(sys.argv[1])
chunks = [b.to_pandas().to_numpy() for b in pq.ParquetFile(sys.argv[2]).iter_batches(batch_size=100_000)]

def score(i):
    return model.predict_proba(chunks[i]).shape[0]

if __name__ == "__main__":
    with multiprocessing.get_context("fork").Pool(2) as pool:
        started = time.perf_counter()
        rows = sum(pool.map(score, range(len(chunks)), chunksize=1))
        print(json.dumps({"seconds": time.perf_counter() - started, "rows": rows}))
"""


def shipyard_score(folder: Path, rows: Path, pool: str) -> dict[str, Any]:
    out = Path(tempfile.mkdtemp()) / "answers.parquet"
    python = sys.executable
    wall, peak, said = run_watched([python, "-c", SCORE, str(folder), str(rows), str(out), pool])
    result = json.loads(said.strip().splitlines()[-1])
    shutil.rmtree(out.parent, ignore_errors=True)
    return {**result, "wall": wall, "peak_mb": peak}


def floor(model: Path, rows: Path) -> dict[str, Any]:
    script = CACHE / "floor.py"
    script.write_text(FLOOR)
    _, peak, said = run_watched([sys.executable, str(script), str(model), str(rows)])
    return {**json.loads(said.strip().splitlines()[-1]), "peak_mb": peak}


def mlflow_predict(model: Path, rows: Path, mlflow: str) -> dict[str, Any]:
    import joblib
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    target = CACHE / "mlflow-hgb"
    if not target.exists():
        code = (
            "import joblib, sys, mlflow.sklearn; mlflow.sklearn.save_model(joblib.load(sys.argv[1]),"
            " sys.argv[2], serialization_format='cloudpickle', pyfunc_predict_fn='predict_proba')"
        )
        python = str(Path(mlflow).parent / "python")
        subprocess.run([python, "-c", code, str(model), str(target)], check=True)
    del joblib
    csv = rows.with_suffix(".csv")
    if not csv.exists():
        pcsv.write_csv(pq.read_table(rows), csv)
    out = CACHE / "mlflow-out.json"
    wall, peak, _ = run_watched(
        [mlflow, "models", "predict", "-m", str(target), "-i", str(csv), "-t", "csv",
         "-o", str(out), "--env-manager", "local"]
    )  # fmt: skip
    return {"wall": wall, "peak_mb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1000000,10000000")
    parser.add_argument("--pools", default="process,thread")
    parser.add_argument("--mlflow", default=str(HERE.parent / ".bench-serve-venv/bin/mlflow"))
    parser.add_argument("--no-mlflow", action="store_true")
    args = parser.parse_args()
    model = model_path()
    folder = project(model)
    _, model_mb, _ = run_watched([sys.executable, "-c", MODEL_ONLY, str(folder)])
    print(f"one process with shipyard and the model loaded: {model_mb:.0f} MB RSS")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start")
    for n in (int(r) for r in args.rows.split(",")):
        rows = rows_file(n)
        base = floor(model, rows)
        print(
            f"\n{n:,} rows: floor (predict_proba, 2 processes, in memory) {base['seconds']:.1f} s"
        )
        for pool in args.pools.split(","):
            got = shipyard_score(folder, rows, pool)
            ratio = base["seconds"] / got["seconds"]
            print(
                f"  shipyard score ({pool} pool): {got['seconds']:.1f} s "
                f"({n / got['seconds']:,.0f} rows/s), {ratio:.2f}x the floor; peak RSS of the "
                f"process tree {got['peak_mb']:.0f} MB ({got['peak_mb'] - model_mb:.0f} MB beyond "
                f"one loaded process); scored {got['scored']:,}"
            )
        if not args.no_mlflow and n <= 1_000_000 and Path(args.mlflow).exists():
            got = mlflow_predict(model, rows, args.mlflow)
            print(
                f"  mlflow models predict (CSV, --env-manager local): {got['wall']:.1f} s wall "
                f"(process start included), peak RSS {got['peak_mb']:.0f} MB"
            )
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
