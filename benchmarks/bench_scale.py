"""Throughput through a load balancer: 1, 2 and 3 `shipyard serve` replicas behind nginx, and
one replica without nginx, in one run.

The serving workload of ../shared/WORKLOADS.md as ``bench_serve.py`` builds it
(``make_classification(50_000, 20 features)``, HistGradientBoosting, class probabilities
in every answer, the same project: validation, the prediction log and the access log on,
``latency_budget_ms: 50``) and its load: wrk, 1 thread, keep-alive, a Lua script that
POSTs one row; per cell a 5 s warm-up, then 20 s measured, at concurrency 8 and 64.
Each replica is one ``shipyard serve`` process of one worker on its own loopback port;
nginx (one worker process, keep-alive to the replicas, the config of
``scripts/scale_out.py``) spreads the requests. The replicas share one SQLite database
and one artifact folder (the request path touches neither; a moto S3 server would
compete for the cores). wrk, nginx and every replica share the machine's cores: the
CPU seconds each used in the measured 20 s are reported beside the figures.

    python benchmarks/bench_scale.py [--quick] [--model hgb|lr]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE), str(HERE.parent / "scripts")]

from bench_serve import FEATURES, PINNED, answered_paths, models, shipyard_project  # noqa: E402
from scale_cluster import Replica, cluster  # noqa: E402

CACHE = HERE / ".cache" / "scale"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (from /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def wrk(url: str, body: bytes, connections: int, seconds: float) -> dict[str, Any]:
    """bench_serve's wrk run, with wrk's own CPU seconds (from its rusage)."""
    script, payload = CACHE / "post.lua", CACHE / "body.json"
    payload.write_bytes(body)
    script.write_text(
        'wrk.method = "POST"\n'
        f'local f = io.open("{payload}", "rb")\n'
        'wrk.body = f:read("*a")\nf:close()\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    out_file = CACHE / "wrk.out"
    with out_file.open("w") as out:
        process = subprocess.Popen(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "--timeout", "10s",
             "-s", str(script), url],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    text = out_file.read_text()
    if process.returncode != 0 or "Requests/sec" not in text:
        raise RuntimeError(f"wrk failed: {text.strip()}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    sent = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    assert sent is not None
    took = float(sent.group(2)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[sent.group(3)]
    percentiles = {p: _ms(v) for p, v in re.findall(r"^\s+(50|99)%\s+(\S+)", text, re.M)}
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    failed = (int(non_2xx.group(1)) if non_2xx else 0) + (
        sum(int(x) for x in sockets.groups()) if sockets else 0
    )
    return {
        "rps": rate,
        "ok_rps": (int(sent.group(1)) - failed) / took,
        "p50_ms": percentiles.get("50"),
        "p99_ms": percentiles.get("99"),
        "errors": failed,
        "wrk_cpu_s": usage.ru_utime + usage.ru_stime,
    }


def _ms(text: str) -> float:
    value = float(re.match(r"[\d.]+", text).group(0))  # type: ignore[union-attr]
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[re.sub(r"[\d.]", "", text)]


def paths(nodes: list[Replica]) -> dict[str, int]:
    """Rows answered so far by each path (model, fallback links), every replica together."""
    total: dict[str, int] = {}
    for node in nodes:
        for path, n in answered_paths(node.port).items():
            total[path] = total.get(path, 0) + n
    return total


def cell(
    url: str, body: bytes, connections: int, warmup: float, seconds: float, nodes: list[Replica],
    nginx_pid: int | None,
) -> dict[str, Any]:  # fmt: skip
    wrk(url, body, connections, warmup)
    before = paths(nodes)
    pids = {f"replica {n.index}": n.process.pid for n in nodes if n.process is not None}
    if nginx_pid is not None:
        pids["nginx"] = nginx_worker(nginx_pid)
    cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
    result = wrk(url, body, connections, seconds)
    result["cpu_s"] = {name: cpu_seconds(pid) - cpu[name] for name, pid in pids.items()}
    result["cpu_s"]["wrk"] = result.pop("wrk_cpu_s")
    after = paths(nodes)
    result["answered_by"] = {
        k: after[k] - before.get(k, 0) for k in after if after[k] > before.get(k, 0)
    }
    # CPU per request sent (answered or shed): what bounds throughput when the cores are full
    sent = result["rps"] * seconds
    replicas = sum(v for k, v in result["cpu_s"].items() if k.startswith("replica"))
    result["cpu_ms_per_request"] = {
        "replicas": 1000 * replicas / sent,
        "nginx": 1000 * result["cpu_s"].get("nginx", 0.0) / sent,
        "wrk": 1000 * result["cpu_s"]["wrk"] / sent,
    }
    return result


def nginx_worker(master: int) -> int:
    """The pid of nginx's one worker process (the master only supervises)."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return int(children[0]) if children else master


def main() -> None:
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 s warm-up, 5 s measured")
    parser.add_argument("--model", default="hgb", choices=["hgb", "lr"])
    parser.add_argument("--connections", default="8,64")
    args = parser.parse_args()
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            sys.exit(f"the scale benchmark needs {tool}: apt-get install {tool}")
    warmup, seconds = (1.0, 5.0) if args.quick else (5.0, 20.0)
    concurrency = [int(c) for c in args.connections.split(",")]
    os.environ.update(PINNED)
    trained, rows = models()
    source = shipyard_project(trained)  # bench_serve's project: SQLite + a local folder
    CACHE.mkdir(parents=True, exist_ok=True)
    folder = CACHE / "cluster"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    shutil.copy(source / "shipyard.yaml", folder / "shipyard.yaml")
    os.environ["SHIPYARD_DATABASE_URL"] = f"sqlite:///{source / '.shipyard' / 'shipyard.db'}"
    os.environ["SHIPYARD_ARTIFACTS_URL"] = str(source / ".shipyard" / "artifacts")
    body = json.dumps(dict(zip(FEATURES, rows[0].tolist(), strict=True))).encode()
    path = f"/v1/models/{args.model}/predict"
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (wrk, nginx, replicas share them)",
        "load_average_before": os.getloadavg(),
        "model": args.model, "warmup_s": warmup, "seconds": seconds, "setups": {},
    }  # fmt: skip
    print(f"load average before: {report['load_average_before']}", flush=True)
    for replicas in (1, 2, 3):
        with cluster(folder, replicas, model=args.model) as (nodes, balancer):
            assert balancer.process is not None
            setups = [(f"nginx, {replicas} replica{'s' if replicas > 1 else ''}", balancer.url)]
            if replicas == 1:
                setups.insert(0, ("1 replica, no nginx", nodes[0].url))
            for label, url in setups:
                direct = "no nginx" in label
                for c in concurrency:
                    result = cell(
                        url + path, body, c, warmup, seconds, nodes,
                        None if direct else balancer.process.pid,
                    )  # fmt: skip
                    report["setups"].setdefault(label, {})[f"c{c}"] = result
                    cpu = ", ".join(f"{k} {v:.1f}" for k, v in result["cpu_s"].items())
                    cpu += "; CPU ms a request: " + ", ".join(
                        f"{k} {v:.2f}" for k, v in result["cpu_ms_per_request"].items()
                    )
                    print(
                        f"{label:22} c{c:<3} {result['ok_rps']:8.1f} answered/s ({result['rps']:.1f} req/s)  p50 {result['p50_ms']:7.2f} ms"
                        f"  p99 {result['p99_ms']:7.2f} ms  errors {result['errors']}  "
                        f"answered by {result['answered_by']}  CPU s in {seconds:g} s: {cpu}",
                        flush=True,
                    )
    report["load_average_after"] = os.getloadavg()
    out = CACHE / "results.json"
    out.write_text(json.dumps(report, indent=1))
    print(f"load average after: {report['load_average_after']}\nall figures: {out}")


if __name__ == "__main__":
    main()
