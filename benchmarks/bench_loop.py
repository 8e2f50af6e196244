"""The whole retraining loop on the demo's data, end to end, in seconds (issue #15).

The demo's project (``shipyard demo``'s loans, its model and its policy with
``shadow: {requests: 2000}``, ``promote: auto``), a champion served on 127.0.0.1
that has answered 1,000 drifted applications and got their feedback labels; then,
on the clock: ``retrain`` (feedback → a new dataset version, train, evaluate, point
``challenger``), ``shipyard serve`` in its own process (as in production; this
process plays the worker and the client) loading the challenger beside the champion,
2,000 single-row requests from one client shadowed to it (the client keeps sending,
as live traffic does, until the flushed prediction log holds 2,000 compared pairs),
the maintenance tick that compares and promotes, and the server answering from the
new champion (it follows the alias within ``server.alias_poll_s``). Each step's time
is printed, with the run's own step timeline.

Only the setup differs from the demo: the latency budget is 500 ms instead of 50 so
a shared machine's hiccup in the evaluation's latency check does not end the run as
rejected (the loop's speed is measured here, not the gate's verdict).

    .venv/bin/python benchmarks/bench_loop.py [--requests 2000] [--dir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shipyard.demo import write_loans_batch
from shipyard.demo_maintenance import FEATURES, MODEL, Client, Served, prepare_policy
from shipyard.demo_monitoring import send_drifting_traffic
from shipyard.project import init_project, open_project
from shipyard.serving.server import pin_threads

COUNTRIES = ("DE", "FR", "PL", "US")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="shadow requests compared")
    parser.add_argument("--dir", type=Path, default=None, help="a new folder (default: temp)")
    args = parser.parse_args()
    folder = args.dir or Path(tempfile.mkdtemp(prefix="shipyard-bench-loop-"))
    pin_threads(1)  # as the server's worker (and the demo) run models
    print(
        f"bench_loop: {args.requests} shadow requests; {os.cpu_count()} cores, "
        f"python {platform.python_version()}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"load average {os.getloadavg()[0]:.2f}, {folder}"
    )
    setup = time.perf_counter()
    project_file = init_project(folder, name="bench-loop")
    prepare_policy(project_file)
    text = project_file.read_text(encoding="utf-8")
    text = text.replace("shadow: {requests: 300,", f"shadow: {{requests: {args.requests},")
    text = text.replace("latency_budget_ms: 50 ", "latency_budget_ms: 500")
    project_file.write_text(text, encoding="utf-8")
    rows = _clean_rows(folder, 20_000)
    with open_project(folder) as project:
        for number, (size, seed) in enumerate([(2000, 7), (1000, 8)], start=1):
            batch = folder / "data" / f"loans-batch-{number}.csv"
            write_loans_batch(batch, rows=size, seed=seed, first_id=1 + (number - 1) * 2000)
            project.ingest("loans", batch)
        champion = project.train(MODEL)
        passed = project.evaluate(champion.ref).report.passed
        project.promote(champion.ref, force=not passed, reason="bench setup")
        with Served(project) as (_server, client):
            send_drifting_traffic(client.post, rows[:1000], FEATURES, lambda _m: None)
        print(f"setup (data, champion {champion.ref}, 1,000 labelled requests): "
              f"{time.perf_counter() - setup:.1f} s")  # fmt: skip
        _loop(project, rows[1000:], args.requests)


def _loop(project: Any, rows: list[dict[str, Any]], wanted: int) -> None:
    times: list[tuple[str, float]] = []
    start = clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        times.append((name, now - clock))
        print(f"  {name:<52} {now - clock:7.2f} s   (total {now - start:6.2f} s)", flush=True)
        clock = now

    run = project.maintenance.retrain(MODEL, reason="bench")
    lap(f"retrain → run #{run.id} {run.state}, candidate {run.candidate_ref}")
    for before, after in zip(run.steps, run.steps[1:], strict=False):
        took = datetime.fromisoformat(after["at"]) - datetime.fromisoformat(before["at"])
        print(f"      {after['step']:<12} {took.total_seconds():6.2f} s  {after.get('detail', '')}")
    if run.state != "shadowing":
        print(f"the run ended {run.state}: {run.error or run.checks}")
        return
    with _server_process(project.root) as client:
        lap("shipyard serve ready (champion loaded and warm)")
        loaded = client.wait_for_challenger(run.candidate)
        lap(f"challenger {'loaded' if loaded else 'NOT reported loaded'} beside it")
        sent, compared = _shadow(project, client, run.id, rows, wanted, lap)
        decided = project.maintenance.tick()
        run = next((r for r in decided if r.id == run.id), project.maintenance.run(run.id))
        lap(f"tick: compare and decide → {run.state} ({run.decision}, by {run.decided_by})")
        version = None
        deadline = time.monotonic() + 60
        while run.decision == "promoted" and time.monotonic() < deadline:
            version = client.predict(_shifted(rows[0]))[2]
            if version == str(run.candidate):
                break
            time.sleep(0.05)
        lap(f"the server answers from the new champion (version {version})")
    c = run.comparison or {}
    print(
        f"loop total {time.perf_counter() - start:.1f} s; {sent} requests sent, {compared} "
        f"compared; p99 ratio {(c.get('latency_ms') or {}).get('p99_ratio')}, agreement "
        f"{c.get('agreement')}, checks failed: {[k.name for k in run.checks if k.passed is False]}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )


@contextlib.contextmanager
def _server_process(folder: Path) -> Iterator[Client]:
    """``shipyard serve`` in its own process on a free loopback port, as in production
    (SIGTERM at the end: it flushes its log and exits)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    exe = Path(sys.executable).parent / "shipyard"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    process = subprocess.Popen(
        [str(exe), "-C", str(folder), "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = Client(f"http://127.0.0.1:{port}", "")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{client.url}/readyz", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                time.sleep(0.05)
        else:
            raise SystemExit("shipyard serve did not become ready in 120 s")
        yield client
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def _shadow(
    project: Any, client: Client, run_id: int, rows: list[dict[str, Any]], wanted: int, lap: Any
) -> tuple[int, int]:
    """Single-row requests until the log holds ``wanted`` compared pairs; labels in batches."""
    sent = compared = 0
    labels: list[dict[str, Any]] = []
    checked = time.monotonic()
    for row in rows:
        status, body, _version = client.predict(_shifted(row))
        sent += 1
        if status == 200:  # the demo's drifted world: the risk ranking is reversed
            labels.append(
                {"prediction_id": body["prediction_ids"][0], "label": not row["defaulted"]}
            )
        if len(labels) >= 200:
            client.post(f"/v1/models/{MODEL}/feedback", labels)
            labels = []
        if sent == wanted:
            lap(f"{wanted} requests sent (single rows, one client)")
        if sent >= wanted and time.monotonic() - checked >= 1.0:
            checked = time.monotonic()
            compared = project.maintenance.comparison(run_id).get("requests", 0)
            if compared >= wanted:
                break
    lap(f"{compared} compared pairs in the prediction log (log flush, {sent} sent)")
    return sent, compared


def _clean_rows(folder: Path, n: int) -> list[dict[str, Any]]:
    """Valid loan applications from the demo's generator (its broken rows left out)."""
    path = folder / "data" / "bench-traffic.csv"
    write_loans_batch(path, rows=n, seed=99, first_id=100_000)
    out = []
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            try:
                amount, age = float(row["amount"]), int(row["age"])
            except ValueError:
                continue
            if amount < 0 or not 18 <= age <= 120 or row["country"] not in COUNTRIES:
                continue
            out.append(
                {"amount": amount, "age": age, "country": row["country"],
                 "defaulted": row["defaulted"] == "true"}
            )  # fmt: skip
    return out


def _shifted(row: dict[str, Any]) -> dict[str, Any]:
    """The demo's drifted world: loans 3x larger, applicants 15 years older."""
    return {
        "amount": min(row["amount"] * 3, 1_000_000.0),
        "age": min(row["age"] + 15, 120),
        "country": row["country"],
    }


if __name__ == "__main__":
    main()
