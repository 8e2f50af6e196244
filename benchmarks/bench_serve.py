"""Serving throughput and latency: shipyard beside MLflow, BentoML, FastAPI and raw ASGI, in one run.

The workload of ../shared/WORKLOADS.md: ``make_classification(50_000, 20 features)``,
HistGradientBoosting and LogisticRegression, class probabilities in every answer.
Each server runs on 127.0.0.1 in its own process tree with native thread pools
pinned to one thread per worker; wrk (1 thread, keep-alive, a Lua script that
POSTs the body) drives it: per cell a warm-up, then the measured run; single rows
at concurrency 1, 8 and 64, and 100-row batches at concurrency 8. Server and wrk
share the machine's cores. shipyard runs with validation, the prediction log
(flushed to the artifact store) and the access log on.

Each server's start is measured too: cold start (process start to the first 200 to
a prediction) and memory, as RSS and as PSS (proportional set size: a page shared by
n processes counts 1/n in each, so copy-on-write sharing between forked workers
shows) summed over the whole process tree, supervisor included, divided by the
workers. ``--startup-only`` measures just that, for shipyard and the raw ASGI
endpoint at 1 and 2 workers, ``--starts`` times each (median), in a few minutes.

    .bench-serve-venv/bin/python benchmarks/bench_serve.py [--quick] [--only 'shipyard;mlflow (2 workers, instances)'] [--cells c64,batch100_c8]
    .bench-serve-venv/bin/python benchmarks/bench_serve.py --startup-only [--starts 5] [--models lr]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np

HERE = Path(__file__).parent
CACHE = HERE / ".cache" / "serve"
APPS = HERE / "serve_apps"
BIN = Path(sys.executable).parent
FEATURES = [f"f{i}" for i in range(20)]
PINNED = dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), "1")


# -- the models ------------------------------------------------------------------------
def models() -> tuple[dict[str, Path], np.ndarray]:
    from sklearn.datasets import make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    X, y = make_classification(
        n_samples=50_000, n_features=20, n_informative=10, n_redundant=4, random_state=0
    )
    CACHE.mkdir(parents=True, exist_ok=True)
    paths = {"hgb": CACHE / "hgb.joblib", "lr": CACHE / "lr.joblib"}
    if not all(p.exists() for p in paths.values()):
        joblib.dump(HistGradientBoostingClassifier(random_state=0).fit(X, y), paths["hgb"])
        joblib.dump(LogisticRegression(max_iter=1000, random_state=0).fit(X, y), paths["lr"])
    return paths, X[:100]


def shipyard_project(paths: dict[str, Path]) -> Path:
    import shipyard

    folder = CACHE / "project"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    columns = "\n".join(f"      {f}: {{type: float, nullable: false}}" for f in FEATURES)
    model = """    owner: {{name: bench, email: bench@example.com}}
    task: binary_classification
    dataset: bench
    features: [{features}]
    latency_budget_ms: 50
    fallback: {{default: {{prediction: 0, probabilities: [0.5, 0.5]}}}}
"""
    text = f"""project: bench
datasets:
  bench:
    target: y
    columns:
{columns}
      y: {{type: int}}
models:
  hgb:
{model.format(features=", ".join(FEATURES))}  lr:
{model.format(features=", ".join(FEATURES))}"""
    (folder / "shipyard.yaml").write_text(text)
    with shipyard.open(folder) as project:
        for name, path in paths.items():
            version = project.register(joblib.load(path), name)
            project.models.alias(version.ref, "champion")
    return folder


def mlflow_model(name: str, path: Path) -> Path:
    import mlflow.sklearn

    target = CACHE / f"mlflow-{name}-proba"
    if not target.exists():
        # MLflow 3 saves with skops by default, which refuses HistGradientBoosting's tree type;
        # predict_proba, so that MLflow's answers carry probabilities like everyone else's
        mlflow.sklearn.save_model(
            joblib.load(path),
            str(target),
            serialization_format="cloudpickle",
            pyfunc_predict_fn="predict_proba",
        )
    return target


# -- the servers -----------------------------------------------------------------------
@dataclass
class Server:
    name: str
    workers: int
    path: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    variant: str = ""
    cpu_s: float = 0.0  # CPU time of its processes at its last start's first 200

    def body(self, rows: np.ndarray) -> bytes:
        data = rows.tolist()
        if self.name == "shipyard":
            records = [dict(zip(FEATURES, row, strict=True)) for row in data]
            return json.dumps(records[0] if len(records) == 1 else records).encode()
        if self.name == "mlflow" and self.variant == "instances":
            return json.dumps({"instances": data}).encode()
        if self.name == "mlflow":
            return json.dumps({"dataframe_split": {"columns": FEATURES, "data": data}}).encode()
        return json.dumps({"rows": data}).encode()

    @property
    def label(self) -> str:
        variant = f", {self.variant}" if self.variant else ""
        return f"{self.name} ({self.workers} worker{'s' if self.workers > 1 else ''}{variant})"


def servers(
    model: str, paths: dict[str, Path], project: Path, port: int, only: set[str]
) -> list[Server]:
    joblib_path = str(paths[model])
    uvicorn = [str(BIN / "uvicorn"), "--host", "127.0.0.1", "--port", str(port),
               "--no-access-log", "--log-level", "warning", "--loop", "uvloop", "--http", "httptools"]  # fmt: skip
    found: list[Server] = []

    def wanted(name: str) -> bool:
        return not only or any(o == name or o.startswith(name + " (") for o in only)

    for workers in (1, 2) if wanted("shipyard") else ():
        found.append(Server("shipyard", workers, f"/v1/models/{model}/predict", [
            str(BIN / "shipyard"), "-C", str(project), "serve", model, "--port", str(port),
            "--workers", str(workers)]))  # fmt: skip
    # MLflow with its documented DataFrame input at 1 and 2 workers, and with a plain
    # tensor ("instances"), its fastest input, at 2
    for variant, workers in (
        (("split", 1), ("split", 2), ("instances", 2)) if wanted("mlflow") else ()
    ):
        found.append(Server("mlflow", workers, "/invocations", [
            str(BIN / "mlflow"), "models", "serve", "-m", str(mlflow_model(model, paths[model])),
            "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", str(workers)],
            variant=variant))  # fmt: skip
    found.append(Server("bentoml", 1, "/predict", [
        str(BIN / "bentoml"), "serve", "bento_service:Classifier", "--host", "127.0.0.1",
        "--port", str(port)], {"SHIPYARD_BENCH_MODEL": joblib_path, "SHIPYARD_BENCH_WORKERS": "1"},
        APPS))  # fmt: skip
    found.append(Server("fastapi", 1, "/predict", [*uvicorn, "fastapi_app:app"],
                        {"SHIPYARD_BENCH_MODEL": joblib_path}, APPS))  # fmt: skip
    for workers in (1, 2) if wanted("raw-asgi") else ():
        found.append(Server("raw-asgi", workers, "/predict", [*uvicorn, "--workers", str(workers), "raw_asgi:app"],
                            {"SHIPYARD_BENCH_MODEL": joblib_path}, APPS))  # fmt: skip
    return [s for s in found if not only or s.name in only or s.label in only]


def tree_pids(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def _kb(path: str, field: str) -> int:
    """A ``field:  N kB`` line of a /proc file (0 when the process is gone)."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants, in MB."""
    return sum(_kb(f"/proc/{p}/status", "VmRSS") for p in tree_pids(pid)) / 1024


def tree_pss_mb(pid: int) -> float:
    """Proportional memory of ``pid`` and all its descendants, in MB (smaps_rollup's Pss):
    pages shared between them are counted once in the sum."""
    return sum(_kb(f"/proc/{p}/smaps_rollup", "Pss") for p in tree_pids(pid)) / 1024


def tree_cpu_s(pid: int) -> float:
    """CPU time (user + system, children reaped included) of ``pid`` and its descendants: a
    busy machine stretches a start's wall time far more than the work it does."""
    ticks = 0
    for p in tree_pids(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def post(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def wrk(url: str, body: bytes, connections: int, seconds: float) -> dict[str, Any]:
    script = CACHE / "post.lua"
    (CACHE / "body.json").write_bytes(body)
    script.write_text(
        'wrk.method = "POST"\n'
        f'local f = io.open("{CACHE / "body.json"}", "rb")\n'
        'wrk.body = f:read("*a")\nf:close()\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    run = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "--timeout", "10s",
         "-s", str(script), url],
        capture_output=True, text=True,
    )  # fmt: skip
    out = run.stdout
    if run.returncode != 0 or "Requests/sec" not in out:
        print(f"    wrk failed: {run.stderr.strip() or out.strip()}", flush=True)
        return {"rps": 0.0, "p50_ms": float("nan"), "p99_ms": float("nan"), "errors": -1}
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    percentiles = {p: _ms(v) for p, v in re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    return {
        "rps": rate,
        "p50_ms": percentiles.get("50"),
        "p99_ms": percentiles.get("99"),
        "errors": (int(errors.group(1)) if errors else 0)
        + (sum(int(x) for x in sockets.groups()) if sockets else 0),
    }


def _ms(text: str) -> float:
    value = float(re.match(r"[\d.]+", text).group(0))  # type: ignore[union-attr]
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[re.sub(r"[\d.]", "", text)]


def start(server: Server, port: int, one: bytes) -> tuple[subprocess.Popen[bytes], float, Any]:
    """Start ``server``; its process and cold start (process start to the first 200); the
    CPU time its processes took until then is in ``server.cpu_s``."""
    url = f"http://127.0.0.1:{port}{server.path}"
    if post(url, one) != 0:
        raise RuntimeError(
            f"port {port} still answers before {server.label} starts; stop what holds it"
        )
    log = (CACHE / f"{server.name}-{server.workers}{server.variant}.log").open("w")
    started = time.perf_counter()
    process = subprocess.Popen(
        server.command, cwd=server.cwd,
        env={**os.environ, **PINNED, **server.env, "PATH": f"{BIN}:{os.environ['PATH']}"},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if post(url, one) == 200:
            cold = time.perf_counter() - started
            server.cpu_s = tree_cpu_s(process.pid)
            return process, cold, log
        time.sleep(0.01)
    stop_group(process)
    log.close()
    raise RuntimeError(f"{server.label} did not answer; see {log.name}")


def settled_memory(
    server: Server, process: subprocess.Popen[bytes], port: int, one: bytes
) -> dict[str, float]:
    """Memory once every worker is up and has answered: 2 s of single rows at c8, then
    the tree's PSS sampled until it holds still (within 1% over 1 s, at most 20 s)."""
    wrk(f"http://127.0.0.1:{port}{server.path}", one, 8, 2)
    previous, deadline = tree_pss_mb(process.pid), time.monotonic() + 20
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = tree_pss_mb(process.pid)
        if abs(now - previous) <= 0.01 * previous:
            break
        previous = now
    pss, rss = tree_pss_mb(process.pid), tree_rss_mb(process.pid)
    return {
        "pss_mb": pss, "pss_mb_per_worker": pss / server.workers,
        "rss_mb": rss, "rss_mb_per_worker": rss / server.workers,
        "processes": len(tree_pids(process.pid)),
    }  # fmt: skip


CELLS = ("c1", "c8", "c64", "batch100_c8")


def measure(
    server: Server, port: int, rows: np.ndarray, warmup: float, seconds: float,
    cells_wanted: tuple[str, ...] = CELLS,
) -> dict[str, Any]:  # fmt: skip
    url = f"http://127.0.0.1:{port}{server.path}"
    one, batch = server.body(rows[:1]), server.body(rows[:100])
    process, cold, log = start(server, port, one)
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.25):
            peak[0] = max(peak[0], tree_rss_mb(process.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    try:
        memory = settled_memory(server, process, port, one)
        print(f"    {server.label:24} cold start {cold:.2f} s, PSS {memory['pss_mb_per_worker']:.0f} MB/worker "
              f"(RSS {memory['rss_mb_per_worker']:.0f})", flush=True)  # fmt: skip
        sampler.start()
        cells = {}
        for cell, body, connections in (
            ("c1", one, 1),
            ("c8", one, 8),
            ("c64", one, 64),
            ("batch100_c8", batch, 8),
        ):
            if cell not in cells_wanted:
                continue
            wrk(url, body, connections, warmup)
            before = answered_paths(port) if server.name == "shipyard" else {}
            result = wrk(url, body, connections, seconds)
            if server.name == "shipyard":  # who answered the rows of this cell: model or fallback
                after = answered_paths(port)
                result["answered_by"] = {
                    k: after[k] - before.get(k, 0) for k in after if after[k] > before.get(k, 0)
                }
            if cell.startswith("batch"):
                result["rows_per_s"] = result["rps"] * 100
            cells[cell] = result
            by = f"  answered by {result['answered_by']}" if "answered_by" in result else ""
            print(f"    {server.label:24} {cell:12} {result['rps']:9.1f} req/s  p50 {result['p50_ms']:8.2f} ms  "
                  f"p99 {result['p99_ms']:8.2f} ms  errors {result['errors']}{by}", flush=True)  # fmt: skip
        return {"cold_start_s": cold, "cpu_s": server.cpu_s, "peak_mb": peak[0], "mb_per_worker": peak[0] / server.workers,
                **memory, "cells": cells}  # fmt: skip
    finally:
        done.set()
        stop_group(process)
        log.close()


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's whole process group and wait until every process in it is gone."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        process.poll()
        try:
            os.killpg(process.pid, 0)  # anyone left in the group?
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def answered_paths(port: int) -> dict[str, int]:
    """Rows answered so far by each path, from shipyard's /metrics (every worker's, ~1 s late)."""
    time.sleep(1.5)  # workers publish their figures about once a second
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    counts: dict[str, int] = {}
    for path, value in re.findall(
        r'^shipyard_predictions_total\{[^}]*path="(\w+)"\} (\S+)$', text, re.M
    ):
        counts[path] = counts.get(path, 0) + int(float(value))
    return counts


def answered_by(project: Path, model: str) -> dict[str, int]:
    """Who answered the rows shipyard logged (the model, or a fallback link), then clear the log."""
    import polars as pl

    folder = project / ".shipyard" / "artifacts" / "predictions" / model
    files = list(folder.rglob("*.parquet"))
    if not files:
        return {}
    counts = pl.concat([pl.read_parquet(f, columns=["path"]) for f in files])["path"].value_counts()
    shutil.rmtree(folder)
    return dict(zip(counts["path"].to_list(), counts["count"].to_list(), strict=True))


def in_process_p50_ms(path: Path, row: np.ndarray) -> float:
    from threadpoolctl import threadpool_limits

    model = joblib.load(path)
    with threadpool_limits(1):
        for _ in range(200):
            model.predict_proba(row)
        times = []
        for _ in range(2000):
            start = time.perf_counter()
            model.predict_proba(row)
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def best(results: dict[str, Any], name: str, cell: str, key: str = "rps") -> tuple[float, str]:
    """The best figure of ``name``'s configurations; shipyard's only where its model answered."""
    found = []
    for label, result in results.items():
        if not label.startswith(name + " "):
            continue
        figures = result["cells"][cell]
        by = figures.get("answered_by")
        if by is not None and by.get("model", 0) < 0.99 * sum(by.values()):
            continue  # the fallback chain answered too much of it: not a figure of the model
        found.append((figures[key], label))
    return max(found) if found else (float("nan"), "-")


def main() -> None:
    # a stopped benchmark stops its servers too (their process groups are killed in `measure`)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="1 s warm-up, 5 s measured (not the workload)"
    )
    parser.add_argument(
        "--only", default="", help="servers to run, by name or label, separated by ';'"
    )
    parser.add_argument(
        "--cells",
        default=",".join(CELLS),
        help=f"throughput cells to run, separated by ',' (of {', '.join(CELLS)})",
    )
    parser.add_argument(
        "--startup-only",
        action="store_true",
        help="only cold start and memory (PSS) of shipyard and raw-asgi at 1 and 2 workers",
    )
    parser.add_argument(
        "--starts", type=int, default=3, help="starts per server with --startup-only (median)"
    )
    parser.add_argument("--models", default="hgb,lr")
    parser.add_argument("--port", type=int, default=18080)
    args = parser.parse_args()
    warmup, seconds = (1.0, 5.0) if args.quick else (5.0, 20.0)
    only = {s for s in args.only.split(";") if s}
    cells = tuple(c for c in args.cells.split(",") if c)
    if unknown := set(cells) - set(CELLS):
        parser.error(
            f"--cells: unknown {', '.join(sorted(unknown))}; choose from {', '.join(CELLS)}"
        )
    paths, rows = models()
    project = shipyard_project(paths)
    if args.startup_only:
        startup_only(args.models.split(","), paths, project, args.port, rows, args.starts, only)
        return
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (server and wrk share them)",
        "warmup_s": warmup, "seconds": seconds, "models": {},
    }  # fmt: skip
    for model in args.models.split(","):
        floor = in_process_p50_ms(paths[model], rows[:1])
        print(f"{model}: in-process predict_proba, one row, p50 {floor:.3f} ms", flush=True)
        results = {}
        for server in servers(model, paths, project, args.port, only):
            results[server.label] = measure(server, args.port, rows, warmup, seconds, cells)
            if server.name == "shipyard":
                results[server.label]["answered_by"] = answered_by(project, model)
                print(f"    {server.label}: answered by {results[server.label]['answered_by']}")
        report["models"][model] = {"in_process_p50_ms": floor, "servers": results}
        if cells == CELLS:
            summarize(model, floor, results)
        summarize_startup(model, {k: [v] for k, v in results.items()})
    out = CACHE / "results.json"
    out.write_text(json.dumps(report, indent=1))
    print(f"\nall figures: {out}")


def summarize(model: str, floor: float, results: dict[str, Any]) -> None:
    print(f"\n{model}: " + ", ".join(
        f"{label}: c64 {r['cells']['c64']['rps']:.0f} req/s (p99 {r['cells']['c64']['p99_ms']:.1f} ms), "
        f"cold {r['cold_start_s']:.2f} s, {r['mb_per_worker']:.0f} MB/worker"
        for label, r in results.items()))  # fmt: skip
    ours, _ = best(results, "shipyard", "c64")
    if ours != ours:
        return
    for rival in ("mlflow", "fastapi", "raw-asgi", "bentoml"):
        theirs, label = best(results, rival, "c64")
        if theirs == theirs:
            print(
                f"  c64 single row: shipyard {ours:.0f} vs {label} {theirs:.0f} req/s = {ours / theirs:.2f}x"
            )
    batch, _ = best(results, "shipyard", "batch100_c8", "rows_per_s")
    mlflow_batch, _ = best(results, "mlflow", "batch100_c8", "rows_per_s")
    if mlflow_batch == mlflow_batch:
        print(
            f"  100-row batches: shipyard {batch:.0f} vs mlflow {mlflow_batch:.0f} rows/s = {batch / mlflow_batch:.2f}x"
        )
    c1 = min(
        r["cells"]["c1"]["p50_ms"] for label, r in results.items() if label.startswith("shipyard ")
    )
    print(f"  c1 p50: shipyard {c1:.3f} ms vs in-process {floor:.3f} ms (+{c1 - floor:.3f} ms)")
    theirs, label = best(results, "raw-asgi", "batch100_c8", "rows_per_s")
    print(
        f"  100-row batches: shipyard {batch:.0f} vs {label} {theirs:.0f} rows/s = {batch / theirs:.2f}x"
    )
    raw, label = best(results, "raw-asgi", "c64")
    print(
        f"  c64 single row: shipyard {ours:.0f} vs {label} {raw:.0f} req/s = {ours / raw:.2f}x (target for lr: >= 0.5x)"
    )


# -- start and memory alone --------------------------------------------------------------
COLD_START_RATIO = 1.2  # cold start <= 1.2x the raw endpoint's ...
COLD_START_S = 2.0  # ... and under 2 s
PSS_RATIO = 1.2  # PSS per worker at 2 workers <= 1.2x the raw endpoint's


def as_installed() -> None:
    """Start shipyard as an installed copy (a wheel, the image ``shipyard build`` writes)
    starts: its modules compiled to bytecode, and skops's trusted types kept (the image
    computes them at build). The editable install of this venv, under
    ``PYTHONDONTWRITEBYTECODE``, would otherwise compile every module at every start, while
    the raw endpoint's packages are all compiled."""
    import compileall

    package = Path(__file__).resolve().parents[1] / "src" / "shipyard"
    compileall.compile_dir(str(package), quiet=1)
    subprocess.run(
        [sys.executable, "-c", "from shipyard.models.skops_io import import_skops_io as i; i()"],
        check=True,
    )


def startup_only(
    names: list[str],
    paths: dict[str, Path],
    project: Path,
    port: int,
    rows: np.ndarray,
    starts: int,
    only: set[str],
) -> None:
    """Start shipyard and the raw endpoint ``starts`` times each, interleaved (a busy
    machine slows each server alike), and report the medians against the targets."""
    only = only or {"shipyard", "raw-asgi"}
    as_installed()
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_before": os.getloadavg(),
        "starts": starts,
        "models": {},
    }  # fmt: skip
    for model in names:
        chosen = [s for s in servers(model, paths, project, port, only) if s.name in only]
        chosen.sort(key=lambda s: (s.workers, s.name != "shipyard"))
        results: dict[str, list[dict[str, Any]]] = {s.label: [] for s in chosen}
        for round_ in range(starts):
            for server in chosen:
                one = server.body(rows[:1])
                process, cold, log = start(server, port, one)
                try:
                    memory = settled_memory(server, process, port, one)
                finally:
                    stop_group(process)
                    log.close()
                results[server.label].append(
                    {"cold_start_s": cold, "cpu_s": server.cpu_s, **memory}
                )
                print(f"  {model} round {round_ + 1}: {server.label:24} cold start {cold:.2f} s "
                      f"(CPU {server.cpu_s:.2f} s), "
                      f"PSS {memory['pss_mb_per_worker']:.0f} MB/worker, RSS "
                      f"{memory['rss_mb_per_worker']:.0f} MB/worker, {memory['processes']} processes",
                      flush=True)  # fmt: skip
        report["models"][model] = results
        summarize_startup(model, results)
    report["load_after"] = os.getloadavg()
    out = CACHE / "startup.json"
    out.write_text(json.dumps(report, indent=1))
    print(f"\nall figures: {out}")


def summarize_startup(model: str, results: dict[str, list[dict[str, Any]]]) -> None:
    """Medians per server, and shipyard's against the raw endpoint's at the same workers."""

    def median(label: str, key: str) -> float:
        return statistics.median(r[key] for r in results[label])

    print(f"\n{model}: start and memory (median of {max(map(len, results.values()))})")
    for label in results:
        print(f"  {label:24} cold start {median(label, 'cold_start_s'):5.2f} s   PSS/worker "
              f"{median(label, 'pss_mb_per_worker'):4.0f} MB   RSS/worker "
              f"{median(label, 'rss_mb_per_worker'):4.0f} MB")  # fmt: skip
    for workers in (1, 2):
        ours = f"shipyard ({workers} worker{'s' if workers > 1 else ''})"
        raw = f"raw-asgi ({workers} worker{'s' if workers > 1 else ''})"
        if ours not in results or raw not in results:
            continue
        cold, raw_cold = median(ours, "cold_start_s"), median(raw, "cold_start_s")
        cpu, raw_cpu = median(ours, "cpu_s"), median(raw, "cpu_s")
        pss, raw_pss = median(ours, "pss_mb_per_worker"), median(raw, "pss_mb_per_worker")
        met = cold <= COLD_START_RATIO * raw_cold and cold < COLD_START_S
        print(f"  {workers} worker(s): cold start {cold:.2f} s = {cold / raw_cold:.2f}x raw "
              f"(target <= {COLD_START_RATIO}x and < {COLD_START_S:g} s: {'met' if met else 'MISSED'}),"
              f" CPU until then {cpu:.2f} s = {cpu / raw_cpu:.2f}x raw;"
              f" PSS/worker {pss:.0f} MB = {pss / raw_pss:.2f}x raw"
              + (f" (target at 2 workers <= {PSS_RATIO}x: "
                 f"{'met' if pss <= PSS_RATIO * raw_pss else 'MISSED'})" if workers == 2 else ""))  # fmt: skip


if __name__ == "__main__":
    main()
