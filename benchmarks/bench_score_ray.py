"""The Ray engine beside the embedded one: ``shipyard score`` of the same Parquet file.

The serving workload's HistGradientBoosting model (../shared/WORKLOADS.md "Serving":
``make_classification(50_000, 20 features)``), 1 M rows of 20 features drawn the same
way, as one Parquet file; the answers to a Parquet file, every row logged. Three runs:
the embedded engine on every core, the Ray engine starting its own local Ray instance
(what ``--engine ray`` costs on one machine, start included), and the Ray engine on an
instance started before (what it costs once a cluster is there). The ratio to the
embedded engine is the Ray engine's overhead on this machine: on 2 cores Ray is not
faster; the point is that the same command runs on a cluster.

    .venv/bin/python benchmarks/bench_score_ray.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).parent
CACHE = HERE / ".cache" / "score-ray"
FEATURES = [f"f{i}" for i in range(20)]


def project_folder() -> Path:
    """A project with the serving workload's HGB model as ``hgb@champion`` (bench_score's)."""
    from bench_score import model_path, project

    return project(model_path(), CACHE / "project")


def input_file(rows: int) -> Path:
    from sklearn.datasets import make_classification

    path = CACHE / f"rows-{rows}.parquet"
    if not path.exists():
        X, _ = make_classification(
            n_samples=rows, n_features=20, n_informative=10, n_redundant=4, random_state=1
        )
        table = pa.table({f: X[:, i] for i, f in enumerate(FEATURES)})
        pq.write_table(table, path)
    return path


def timed(folder: Path, path: Path, engine: str, out: Path) -> tuple[float, int]:
    import shipyard

    with shipyard.open(folder) as project:
        start = time.perf_counter()
        record = project.score("hgb@champion", files=[path], out=out, engine=engine)
        took = time.perf_counter() - start
    assert record.rows_scored == pq.ParquetFile(path).metadata.num_rows
    return took, record.rows_scored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    folder = project_folder()
    path = input_file(args.rows)
    results: dict[str, float] = {}
    load = os.getloadavg()[0]
    results["local"], rows = timed(folder, path, "local", CACHE / "local.parquet")
    results["ray (own instance, start included)"], _ = timed(
        folder, path, "ray", CACHE / "ray.parquet"
    )
    import ray

    start = time.perf_counter()
    ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    started = time.perf_counter() - start
    results["ray (instance already up)"], _ = timed(folder, path, "ray", CACHE / "ray.parquet")
    ray.shutdown()
    same = (
        pq.read_table(CACHE / "local.parquet")
        .drop_columns(["prediction_id"])
        .equals(pq.read_table(CACHE / "ray.parquet").drop_columns(["prediction_id"]))
    )
    report = {
        "rows": rows,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_1m_at_start": round(load, 1),
        "load_average_1m_at_end": round(os.getloadavg()[0], 1),
        "ray_init_s": round(started, 1),
        "answers_identical": same,
        "seconds": {k: round(v, 1) for k, v in results.items()},
        "rows_per_s": {k: round(rows / v) for k, v in results.items()},
        "ratio_to_local": {k: round(results["local"] / v, 2) for k, v in results.items()},
    }
    json.dump(report, sys.stdout, indent=2)
    print()
    assert np.isfinite(list(results.values())).all()


if __name__ == "__main__":
    main()
