"""Overload: each server at 1x, 2x and 4x its capacity, open loop, in one run (issue #13).

The serving workload of ../shared/WORKLOADS.md (HistGradientBoosting, one row of 20
floats, class probabilities in every answer), served as ``bench_serve.py`` serves it:
shipyard with 2 workers and ``latency_budget_ms: 50``; "shipyard today", the code
before issue #13 (a ``git archive`` of it, on PYTHONPATH); MLflow, BentoML and FastAPI.

Per server: first its capacity, the closed-loop rate of answers its MODEL gave at
concurrency 64 (shipyard's answers say who answered; its fallback answers do not
count); then an open-loop load (``overload_client.py``, requests due on a fixed
schedule, latency counted from when each was due) at 1x, 2x and 4x that capacity.
Per cell: the offered and achieved send rate, admitted throughput, the share shed
(429/503), answered by the model or by a fallback, errors, client time-outs (2 s),
admitted p50/p99 against the 50 ms budget, and the server's peak memory. The client
runs in its own process and shares the machine's cores with the server.

    make bench-overload    # or: .bench-serve-venv/bin/python benchmarks/bench_overload.py \\
        [--quick] [--only 'shipyard (2 workers);fastapi (1 worker)'] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

import bench_serve as serve  # noqa: E402  (the servers, models and process helpers)

CACHE = serve.CACHE.parent / "overload"
CLIENT = HERE / "overload_client.py"
BUDGET_MS = 50.0
SERVERS = (
    "shipyard (2 workers, today)",
    "shipyard (2 workers)",
    "mlflow (2 workers, instances)",
    "mlflow (2 workers, split)",
    "bentoml (1 worker)",
    "fastapi (1 worker)",
)


# -- the servers -----------------------------------------------------------------------
def project(paths: dict[str, Path], folder: Path, baseline: Path | None) -> Path:
    """``bench_serve``'s shipyard project, made by the shipyard that will serve it."""
    code = (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]);"
        "import bench_serve as b; b.CACHE = Path(sys.argv[2]);"
        "print(b.shipyard_project({'hgb': Path(sys.argv[3]), 'lr': Path(sys.argv[4])}))"
    )
    env = {**os.environ, **({"PYTHONPATH": str(baseline / "src")} if baseline else {})}
    run = subprocess.run(
        [sys.executable, "-c", code, str(HERE), str(folder), str(paths["hgb"]), str(paths["lr"])],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    if run.returncode != 0:
        raise SystemExit(f"could not make the shipyard project in {folder}:\n{run.stderr}")
    return Path(run.stdout.strip().splitlines()[-1])


def servers(
    paths: dict[str, Path], port: int, baseline: Path, wanted: list[str]
) -> list[serve.Server]:
    found: dict[str, serve.Server] = {}
    if "shipyard (2 workers)" in wanted:
        ours = project(paths, CACHE / "new", None)
        (found["shipyard (2 workers)"],) = serve.servers(
            "hgb", paths, ours, port, {"shipyard (2 workers)"}
        )
    if "shipyard (2 workers, today)" in wanted:
        if not (baseline / "src" / "shipyard").is_dir():
            raise SystemExit(
                f"no shipyard source in {baseline}/src; make it with: mkdir -p {baseline} && "
                f"git archive 49a4932 | tar -x -C {baseline}"
            )
        theirs = project(paths, CACHE / "today", baseline)
        (today,) = serve.servers("hgb", paths, theirs, port, {"shipyard (2 workers)"})
        found["shipyard (2 workers, today)"] = dataclasses.replace(
            today, env={"PYTHONPATH": str(baseline / "src")}, variant="today"
        )
    rivals = {w for w in wanted if not w.startswith("shipyard")}
    for server in serve.servers("hgb", paths, CACHE, port, rivals) if rivals else ():
        found[server.label] = server
    missing = [w for w in wanted if w not in found]
    if missing:
        raise SystemExit(f"unknown servers {missing}; known: {'; '.join(SERVERS)}")
    return [found[w] for w in wanted]


class Memory:
    """The peak resident memory of a process tree, sampled every 0.25 s, per cell."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, 0.0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while not self.done.wait(0.25):
            self.peak = max(self.peak, serve.tree_rss_mb(self.pid))

    def take(self) -> float:
        peak, self.peak = max(self.peak, serve.tree_rss_mb(self.pid)), 0.0
        return peak


def tree_cpu_s(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and its live descendants (user + system)."""
    children: dict[int, list[int]] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
            times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        todo += children.get(current, [])
        total += times.get(current, 0.0)
    return total


# -- one server ------------------------------------------------------------------------
def client(
    url: str, body: Path, server_pid: int, args: argparse.Namespace, **load: Any
) -> dict[str, Any]:
    """Run the load generator in its own process; ``load`` is rate=R or closed=N.

    ``server_cores``: the server's CPU time over the run's wall time (2.0 = both cores).
    """
    ((mode, value),) = load.items()
    command = [sys.executable, str(CLIENT), "--url", url, "--body", str(body),
               f"--{mode}", str(value), "--warmup", str(args.warmup), "--seconds", str(args.seconds),
               "--timeout", str(args.timeout), "--max-connections", str(args.max_connections)]  # fmt: skip
    cpu, started = tree_cpu_s(server_pid), time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"the load client failed: {run.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(run.stdout)
    result["server_cores"] = (tree_cpu_s(server_pid) - cpu) / (time.perf_counter() - started)
    return result


def shed_counts(port: int) -> dict[str, int]:
    """shipyard's ``shipyard_shed_total`` by reason (absent before issue #13)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
    except OSError:
        return {}
    counts: dict[str, int] = {}
    for reason, value in re.findall(
        r'^shipyard_shed_total\{[^}]*reason="(\w+)"[^}]*\} (\S+)$', text, re.M
    ):
        counts[reason] = counts.get(reason, 0) + int(float(value))
    return counts


def cell(result: dict[str, Any], capacity: float) -> dict[str, Any]:
    """The figures of one cell, as shares of what was offered in the measured window."""
    seconds, offered = result["seconds"], max(result["offered"], 1)
    status = {int(k): v for k, v in result["by_status"].items()}
    paths = result["by_path"]
    admitted = status.get(200, 0)
    model = paths.get("model", 0) + paths.get("-", 0)  # "-": a server without a fallback
    shed = status.get(429, 0) + status.get(503, 0)
    other = sum(v for k, v in status.items() if k not in (200, 429, 503))
    timeouts = result["timeouts_sent"] + result["timeouts_unsent"]
    return {
        **result,
        "offered_rate": result["offered"] / seconds,
        "admitted_rate": admitted / seconds,
        "model_rate": model / seconds,
        "model_of_capacity": model / seconds / capacity if capacity else float("nan"),
        "shed_share": shed / offered,
        "model_share": model / offered,
        "fallback_share": (admitted - model) / offered,
        "fallback_of_admitted": (admitted - model) / admitted if admitted else 0.0,
        "error_count": result["errors"] + other,
        "timeout_count": timeouts,
        "timeout_share": timeouts / offered,
        "p50_ms": result["ok_ms"]["p50"],
        "p99_ms": result["ok_ms"]["p99"],
    }


def overload(
    server: serve.Server, port: int, body: bytes, args: argparse.Namespace
) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}{server.path}"
    if serve.post(url, body) != 0:
        raise RuntimeError(f"port {port} answers before {server.label} starts; stop what holds it")
    name = f"{server.name}-{server.workers}{server.variant}"
    body_file = CACHE / f"{name}.json"
    body_file.write_bytes(body)
    log = (CACHE / f"{name}.log").open("w")
    process = subprocess.Popen(
        server.command, cwd=server.cwd,
        env={**os.environ, **serve.PINNED, **server.env, "PATH": f"{serve.BIN}:{os.environ['PATH']}"},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    memory = None
    try:
        deadline = time.monotonic() + 120
        while serve.post(url, body) != 200:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"{server.label} did not answer; see {log.name}")
            time.sleep(0.05)
        memory = Memory(process.pid)
        found = client(url, body_file, process.pid, args, closed=args.connections)
        status = found["by_status"]
        model = found["by_path"].get("model", 0) + found["by_path"].get("-", 0)
        capacity = model / found["seconds"]
        found.update(peak_mb=memory.take(), capacity=capacity)
        print(f"  {server.label:30} capacity (closed loop, c{args.connections}): "
              f"{capacity:8.1f} model answers/s  statuses {status} paths {found['by_path']}  "
              f"p99 {found['ok_ms']['p99'] or float('nan'):.1f} ms  server {found['server_cores']:.2f} cores  "
              f"client CPU {found['client_cpu']:.0%}",
              flush=True)  # fmt: skip
        cells: dict[str, Any] = {}
        for multiple in args.multiples:
            time.sleep(args.pause)  # the last cell's queue drains
            before = shed_counts(port) if server.name == "shipyard" else {}
            figures = cell(
                client(url, body_file, process.pid, args, rate=max(multiple * capacity, 1.0)),
                capacity,
            )
            figures["peak_mb"] = memory.take()
            if server.name == "shipyard":
                time.sleep(1.5)  # workers publish their figures about once a second
                after = shed_counts(port)
                figures["shed_by_reason"] = {k: v - before.get(k, 0) for k, v in after.items()}
            cells[f"{multiple:g}x"] = figures
            print(f"  {server.label:30} {multiple:g}x: {line(figures)}", flush=True)
        return {"capacity": found, "cells": cells}
    finally:
        if memory is not None:
            memory.done.set()
        serve.stop_group(process)
        log.close()


def line(f: dict[str, Any]) -> str:
    return (
        f"offered {f['offered_rate']:7.0f}/s sent {f['send_rate']:7.0f}/s admitted "
        f"{f['admitted_rate']:7.0f}/s (model {f['model_rate']:7.0f}/s = {f['model_of_capacity']:.0%} "
        f"of capacity)  shed {f['shed_share']:.1%}  fallback {f['fallback_share']:.1%}  "
        f"errors {f['error_count']}  time-outs {f['timeout_count']}  p50 {_ms(f['p50_ms'])} "
        f"p99 {_ms(f['p99_ms'])}  shed p99 {_ms(f['shed_ms']['p99'])}  in flight {f['peak_in_flight']}  "
        f"connections opened {f['connections_opened']}  {f['peak_mb']:.0f} MB  "
        f"server {f['server_cores']:.2f} cores  client CPU {f['client_cpu']:.0%}"
        + (f"  fallback because {f['fallback_reasons']}" if f.get("fallback_reasons") else "")
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f} ms"


# -- the report ------------------------------------------------------------------------
def table(results: dict[str, Any]) -> str:
    """One row per server and load; the shares are of the requests offered, and add up to 100%."""
    rows = [
        "| server | load (capacity) | offered/s | sent/s | answered/s | by the model/s "
        "(of capacity) | model | fallback | shed 429/503 | time-outs | errors | answered p50 "
        "| answered p99 | peak in flight | peak MB | server CPU | client CPU |",
        "| --- | --- |" + " ---: |" * 15,
    ]
    for label, result in results.items():
        capacity = result["capacity"]["capacity"]
        for load, f in result["cells"].items():
            rows.append(
                f"| {label} | {load} ({capacity:,.0f}/s) | {f['offered_rate']:,.0f} | "
                f"{f['send_rate']:,.0f} | {f['admitted_rate']:,.0f} | {f['model_rate']:,.0f} "
                f"({f['model_of_capacity']:.0%}) | {f['model_share']:.1%} | "
                f"{f['fallback_share']:.1%} | {f['shed_share']:.1%} | {f['timeout_share']:.1%} | "
                f"{f['error_count']:,} | {_ms(f['p50_ms'])} | {_ms(f['p99_ms'])} | "
                f"{f['peak_in_flight']:,} | {f['peak_mb']:,.0f} | {f['server_cores']:.2f} cores | "
                f"{f['client_cpu']:.0%} |"
            )
    return "\n".join(rows)


def verdict(results: dict[str, Any]) -> list[str]:
    """Issue #13's targets, for shipyard at 2x its capacity."""
    figures = results.get("shipyard (2 workers)", {}).get("cells", {}).get("2x")
    if figures is None:
        return ["targets: shipyard (2 workers) at 2x was not run"]
    p99 = figures["p99_ms"]
    return [
        f"target: at 2x the model answers >= 95% of its capacity: "
        f"{figures['model_of_capacity']:.1%} -> {'met' if figures['model_of_capacity'] >= 0.95 else 'NOT met'}",
        "target: 0% of admitted answers from the fallback: nothing admitted -> NOT met"
        if not figures["admitted_rate"]
        else f"target: 0% of admitted answers from the fallback: {figures['fallback_of_admitted']:.2%}"
        f" -> {'met' if figures['fallback_of_admitted'] == 0 else 'NOT met'}",
        f"target: admitted p99 <= {BUDGET_MS:g} ms budget: {_ms(p99)} -> "
        f"{'met' if p99 is not None and p99 <= BUDGET_MS else 'NOT met'}",
    ]


def main() -> None:
    # a stopped benchmark stops its servers too (their process groups are killed in `overload`)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="1 s warm-up, 5 s per cell (not the workload)"
    )
    parser.add_argument(
        "--only", default="", help=f"servers to run, separated by ';' ({'; '.join(SERVERS)})"
    )
    parser.add_argument("--baseline", type=Path, default=Path("/tmp/shipyard-49a4932"),
                        help="the code before issue #13: git archive 49a4932 | tar -x -C DIR")  # fmt: skip
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--connections", type=int, default=64, help="closed-loop capacity run")
    parser.add_argument("--multiples", default="1,2,4", help="loads, as multiples of capacity")
    parser.add_argument("--timeout", type=float, default=2.0, help="client time-out, seconds")
    parser.add_argument("--max-connections", type=int, default=2048)
    parser.add_argument("--pause", type=float, default=3.0, help="seconds between cells")
    parser.add_argument("--rows", type=int, default=1, choices=(1, 100),
                        help="rows per request (the workload's two request sizes)")  # fmt: skip
    args = parser.parse_args()
    args.warmup, args.seconds = (1.0, 5.0) if args.quick else (5.0, 20.0)
    args.multiples = [float(m) for m in args.multiples.split(",")]
    wanted = [s for s in args.only.split(";") if s] or list(SERVERS)
    CACHE.mkdir(parents=True, exist_ok=True)
    paths, rows = serve.models()
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (servers and the client share them)",
        "warmup_s": args.warmup, "seconds": args.seconds, "timeout_s": args.timeout,
        "budget_ms": BUDGET_MS, "rows_per_request": args.rows, "servers": {},
    }  # fmt: skip
    print(f"{report['machine']}; per cell {args.warmup:g} s warm-up, {args.seconds:g} s measured",
          flush=True)  # fmt: skip
    for server in servers(paths, args.port, args.baseline, wanted):
        try:
            report["servers"][server.label] = overload(
                server, args.port, server.body(rows[: args.rows]), args
            )
        except RuntimeError as exc:
            print(f"  {server.label}: {exc}", flush=True)
    out = CACHE / ("results.json" if args.rows == 1 else f"results-{args.rows}rows.json")
    out.write_text(json.dumps(report, indent=1))
    print("\n" + table(report["servers"]) + "\n")
    for text in verdict(report["servers"]):
        print(text)
    print(f"\nall figures: {out}")


if __name__ == "__main__":
    main()
