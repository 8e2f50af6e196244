"""Shadow cost: the champion's latency with a challenger in shadow beside it, and without.

The serving workload of ../shared/WORKLOADS.md (HistGradientBoosting on
``make_classification(50_000, 20 features)``, one row per request, class
probabilities in every answer), served by ``shipyard serve`` on 127.0.0.1 with the
prediction log and the access log on. The challenger is a second HistGradientBoosting
(another seed) that the ``challenger`` alias names; with it, every answered request
sends a copy off the request path (shed when the champion is busy or the queue full).

One server, one run: the two configurations alternate (without, with, without, with…)
by moving the alias, each cell a warm-up then the measured wrk run at c=8. Then c=64
(overload) with the challenger: the share of copies shed. Every cell counts the rows
the fallback chain answered (must be 0) from the server's /metrics. Server and wrk
share the machine's cores, and other work on a shared machine moves the figures:
compare the configurations of one run, not figures of different runs.

    .bench-serve-venv/bin/python benchmarks/bench_shadow.py [--quick] [--rounds 2]
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
import time
import urllib.request
from pathlib import Path
from typing import Any

import joblib

sys.path.insert(0, str(Path(__file__).parent))
from bench_serve import BIN, CACHE, FEATURES, PINNED, models, post, stop_group, wrk

MODEL = "hgb"


def challenger_model() -> Path:
    """A second HistGradientBoosting on the same data (another seed), cached."""
    from sklearn.datasets import make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier

    path = CACHE / "hgb-challenger.joblib"
    if not path.exists():
        X, y = make_classification(
            n_samples=50_000, n_features=20, n_informative=10, n_redundant=4, random_state=0
        )
        model = HistGradientBoostingClassifier(random_state=1, learning_rate=0.08).fit(X, y)
        joblib.dump(model, path)
    return path


def project(champion: Path, challenger: Path) -> Path:
    """The project: ``hgb`` version 1 (champion) and 2 (the challenger, no alias yet)."""
    import shipyard

    folder = CACHE / "shadow-project"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    columns = "\n".join(f"      {f}: {{type: float, nullable: false}}" for f in FEATURES)
    (folder / "shipyard.yaml").write_text(f"""project: bench-shadow
server: {{alias_poll_s: 0.5}}
datasets:
  bench:
    target: y
    columns:
{columns}
      y: {{type: int}}
models:
  {MODEL}:
    owner: {{name: bench, email: bench@example.com}}
    task: binary_classification
    dataset: bench
    features: [{", ".join(FEATURES)}]
    latency_budget_ms: 50
    fallback: {{default: {{prediction: 0, probabilities: [0.5, 0.5]}}}}
""")
    with shipyard.open(folder) as opened:
        first = opened.register(joblib.load(champion), MODEL)
        opened.models.alias(first.ref, "champion")
        opened.register(joblib.load(challenger), MODEL)
    return folder


def set_challenger(folder: Path, port: int, version: int | None) -> None:
    """Point the ``challenger`` alias at ``version`` (or remove it); wait until the server follows."""
    import shipyard

    with shipyard.open(folder) as opened:
        if version is None:
            if "challenger" in opened.models.registry.aliases(MODEL):
                opened.models.delete_alias(MODEL, "challenger", reason="bench: without")
        else:
            opened.models.alias(f"{MODEL}@{version}", "challenger", reason="bench: with")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        described = describe(port)
        shown = (described.get("challenger") or {}).get("version")
        if shown == version:
            return
        time.sleep(0.1)
    raise RuntimeError(f"the server did not follow the challenger alias to {version}")


def describe(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models/{MODEL}", timeout=10) as r:
        found: dict[str, Any] = json.loads(r.read())
        return found


def counters(port: int) -> dict[str, float]:
    """Rows answered by each path, and copies by outcome, from /metrics (~1 s late)."""
    time.sleep(1.5)  # workers publish their figures about once a second
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    found: dict[str, float] = {}
    for path, value in re.findall(
        r'^shipyard_predictions_total\{[^}]*path="(\w+)"\} (\S+)$', text, re.M
    ):
        found[f"path:{path}"] = found.get(f"path:{path}", 0.0) + float(value)
    for outcome, value in re.findall(
        r'^shipyard_shadow_total\{[^}]*outcome="(\w+)"\} (\S+)$', text, re.M
    ):
        found[f"shadow:{outcome}"] = found.get(f"shadow:{outcome}", 0.0) + float(value)
    for reason, value in re.findall(
        r'^shipyard_degraded_total\{[^}]*reason="(\w+)"\} (\S+)$', text, re.M
    ):
        found[f"degraded:{reason}"] = found.get(f"degraded:{reason}", 0.0) + float(value)
    return found


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user and system) used so far by ``pid`` and all its descendants."""
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = fields
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        todo += children.get(current, [])
        fields = stats.get(current)
        if fields is not None:  # utime and stime, fields 14 and 15 of /proc/PID/stat
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def cell(
    url: str,
    port: int,
    body: bytes,
    connections: int,
    warmup: float,
    seconds: float,
    server: int,
) -> dict[str, Any]:
    """One wrk run after a warm-up, with what answered its rows, what became of the copies,
    and the server's CPU time per request."""
    wrk(url, body, connections, warmup)
    before = counters(port)
    cpu = tree_cpu_s(server)
    result = wrk(url, body, connections, seconds)
    cpu = tree_cpu_s(server) - cpu
    after = counters(port)
    delta = {k: int(after[k] - before.get(k, 0.0)) for k in after}
    result["fallback_rows"] = sum(
        v for k, v in delta.items() if k.startswith("path:") and k != "path:model"
    )
    result["model_rows"] = delta.get("path:model", 0)
    result["fallback_why"] = {
        k.split(":")[1]: v for k, v in delta.items() if k.startswith("degraded:") and v
    }
    requests = result["rps"] * seconds
    result["server_cpu_ms_per_request"] = 1000 * cpu / requests if requests else None
    copies = {k.split(":")[1]: v for k, v in delta.items() if k.startswith("shadow:")}
    result["copies"] = copies
    total = sum(copies.values())
    result["shed_share"] = copies.get("shed", 0) / total if total else None
    return result


def show(label: str, result: dict[str, Any]) -> None:
    shed = result["shed_share"]
    print(
        f"  {label:28} {result['rps']:8.1f} req/s  p50 {result['p50_ms']:7.2f} ms  "
        f"p99 {result['p99_ms']:7.2f} ms  errors {result['errors']}  "
        f"server CPU {result['server_cpu_ms_per_request'] or 0:.3f} ms/req  "
        f"fallback rows {result['fallback_rows']} {result['fallback_why'] or ''}  "
        f"copies {result['copies'] or '-'}"
        + (f"  shed {100 * shed:.1f}%" if shed is not None else ""),
        flush=True,
    )


def main() -> None:
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 s warm-up, 5 s measured")
    parser.add_argument("--rounds", type=int, default=2, help="times each configuration runs")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--port", type=int, default=18090)
    args = parser.parse_args()
    warmup, seconds = (1.0, 5.0) if args.quick else (5.0, 20.0)
    paths, rows = models()
    folder = project(paths[MODEL], challenger_model())
    url = f"http://127.0.0.1:{args.port}/v1/models/{MODEL}/predict"
    body = json.dumps(dict(zip(FEATURES, rows[0].tolist(), strict=True))).encode()
    if post(url, body) != 0:
        raise SystemExit(f"port {args.port} answers already; stop what holds it or pass --port")
    log = (CACHE / "shadow-server.log").open("w")
    process = subprocess.Popen(
        [str(BIN / "shipyard"), "-C", str(folder), "serve", MODEL, "--port", str(args.port),
         "--workers", str(args.workers)],
        env={**os.environ, **PINNED, "PATH": f"{BIN}:{os.environ['PATH']}"},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, shared: server, wrk and "
        "other work on the machine compete for them",
        "warmup_s": warmup,
        "seconds": seconds,
        "workers": args.workers,
        "c8": {"without": [], "with": []},
    }
    try:
        deadline = time.monotonic() + 120
        while post(url, body) != 200:
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit(f"the server did not answer; see {log.name}")
            time.sleep(0.05)
        print(f"{MODEL}, one row per request, {args.workers} worker(s); {report['machine']}")
        for round_ in range(args.rounds):
            for label, version in (("without", None), ("with", 2)):
                set_challenger(folder, args.port, version)
                result = cell(url, args.port, body, 8, warmup, seconds, process.pid)
                report["c8"][label].append(result)
                show(f"c8 {label} challenger, round {round_ + 1}", result)
        set_challenger(folder, args.port, 2)
        overload = cell(url, args.port, body, 64, warmup, seconds, process.pid)
        report["c64_with"] = overload
        show("c64 with challenger", overload)
    finally:
        stop_group(process)
        log.close()
    summarize(report)
    out = CACHE / "shadow-results.json"
    out.write_text(json.dumps(report, indent=1))
    print(f"\nall figures: {out}")


def summarize(report: dict[str, Any]) -> None:
    c8 = report["c8"]
    figures = {}
    for label in ("without", "with"):
        runs = c8[label]
        figures[label] = {
            key: statistics.median(r[key] for r in runs)
            for key in ("p50_ms", "p99_ms", "rps", "server_cpu_ms_per_request")
        }
    without, with_ = figures["without"], figures["with"]
    fallback = sum(r["fallback_rows"] for runs in c8.values() for r in runs)
    fallback += report["c64_with"]["fallback_rows"]
    print(f"\nc8, median of {len(c8['with'])} runs each:")
    for key in ("p50_ms", "p99_ms", "rps", "server_cpu_ms_per_request"):
        print(
            f"  {key:26} without {without[key]:8.3f}  with {with_[key]:8.3f}  "
            f"ratio {with_[key] / without[key]:.3f}"
        )
    shed = [r["shed_share"] for r in c8["with"] if r["shed_share"] is not None]
    if shed:
        print(f"  copies shed at c8: {100 * statistics.median(shed):.1f}% (median)")
    print(f"champion rows answered by the fallback, every cell: {fallback} (must be 0)")
    c64 = report["c64_with"]["shed_share"]
    print(f"c64 with challenger: {100 * c64:.1f}% of copies shed" if c64 is not None else "")
    print(f"target: p99 with/without <= 1.10: {with_['p99_ms'] / without['p99_ms']:.3f}")
    report["summary"] = {
        "c8_without": without,
        "c8_with": with_,
        "p99_ratio": with_["p99_ms"] / without["p99_ms"],
        "p50_ratio": with_["p50_ms"] / without["p50_ms"],
        "fallback_rows": fallback,
        "c64_shed_share": c64,
    }


if __name__ == "__main__":
    main()
