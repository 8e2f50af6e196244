"""The dashboard's overview, rendered server-side over a large project: 50 models, 1,000 versions.

Seeds a project through the real API: 50 declared models, 20 registered versions each
(1,000), a champion for every model and a challenger for every other one, an hour of
prediction log per model (the last 15 minutes are what the overview reads), two
monitoring runs per model over it, and an alert firing on every fifth model (put in
the alerts table as monitoring leaves one). Then asks the dashboard app for ``/ui``
``--repeats`` times in-process (no socket: request in, bytes out) and prints the
median and the spread, as a page sees it within 5 s of the last (the log folders'
listings reused) and with every log folder listed again; the first answer (imports,
every log segment read) is reported apart.

    make bench-dashboard
    .venv/bin/python benchmarks/bench_dashboard.py --repeats 21 --dir /tmp/dash-bench
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

MODELS = 50
VERSIONS = 20
FEATURES = ["x1", "x2", "x3"]
TARGET_MS = 200.0


def project_file(models: int) -> str:
    lines = [
        "project: dashboard-bench",
        "datasets:",
        "  events:",
        "    target: y",
        "    columns:",
        *(f"      {f}: {{type: float}}" for f in FEATURES),
        "      y: {type: bool}",
        "models:",
    ]
    for i in range(models):
        lines += [
            f"  model-{i:02d}:",
            f"    owner: {{name: team-{i % 7}, email: team{i % 7}@example.com}}",
            "    task: binary_classification",
            "    dataset: events",
            f"    features: [{', '.join(FEATURES)}]",
            "    latency_budget_ms: 50",
            "    monitoring: {window: 30m}",
            "    alerts:",
            "      - {name: drift, when: drift}",
        ]
    return "\n".join(lines) + "\n"


class Inputs:
    """Feature rows as serving hands them to the log writer."""

    def __init__(self, matrix: np.ndarray) -> None:
        self.names = list(FEATURES)
        self.whole = matrix
        self.columns = {f: matrix[:, i] for i, f in enumerate(FEATURES)}
        self.passthrough = None


def seed(folder: Path, models: int, versions: int) -> Any:
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import shipyard
    from shipyard.predlog import PREDICTIONS, Chunk, SegmentLog
    from shipyard.storage.tables import alerts

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shipyard.yaml").write_text(project_file(models))
    project = shipyard.open(folder)
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (600, len(FEATURES)))
    y = x[:, 0] + rng.normal(0, 0.5, 600) > 0
    project.ingest("events", pd.DataFrame({**dict(zip(FEATURES, x.T, strict=True)), "y": y}))
    fitted = [LogisticRegression(C=c).fit(pd.DataFrame(x, columns=FEATURES), y) for c in (0.1, 1.0)]
    started = time.perf_counter()
    now = datetime.now(UTC)
    log = SegmentLog(PREDICTIONS, project.artifacts, worker="bench", spool=folder / "spool")
    for i in range(models):
        name = f"model-{i:02d}"
        for v in range(versions):
            project.register(
                fitted[v % 2],
                name,
                dataset="events@1" if v == versions - 1 else None,
                metrics={"roc_auc": 0.7 + 0.01 * (v % 10), "accuracy": 0.8},
                params={"C": [0.1, 1.0][v % 2], "run": v},
            )
        project.models.alias(f"{name}@{versions}", "champion")
        if i % 2:
            project.models.alias(f"{name}@{versions - 1}", "challenger")
        chunks = []
        for minute in range(60):
            rows = rng.normal(0.3 if minute >= 30 else 0.0, 1, (4, len(FEATURES)))
            at = (now - timedelta(minutes=60 - minute)).timestamp()
            scalars = (("time", at), ("version", versions), ("path", "model"),
                       ("degraded", minute % 20 == 0), ("reason", None),
                       ("latency_ms", float(rng.uniform(2, 30))), ("variant", "live"))  # fmt: skip
            answer = (("prediction_id", [f"{i}-{minute}-{k}" for k in range(4)]),
                      ("prediction", [True] * 4), ("probabilities", [[0.4, 0.6]] * 4))  # fmt: skip
            chunks.append(Chunk(name, 4, scalars, answer, Inputs(rows)))
        assert log.write(chunks) == []
        for end in (now - timedelta(minutes=30), now):
            project.monitor(name, window=1800, now=end, notify=False)
        if i % 5 == 0:
            with project.metadata.transaction() as conn:
                conn.execute(
                    alerts.insert().values(
                        model=name,
                        rule="errors",
                        state="firing",
                        severity="critical",
                        route="owner",
                        value=0.2,
                        threshold=0.05,
                        message=f"{name}: error rate 20% > 5%",
                        detail={},
                        started_at=now,
                        fired_at=now,
                        updated_at=now,
                    )
                )
        print(f"  seeded {name} ({time.perf_counter() - started:.0f} s)", flush=True)
    return project


def render(app: Any, path: str) -> tuple[float, int, int, float]:
    """Seconds from request to the whole body, the status, the body's size, and the CPU
    seconds the process spent on it (less moved by other processes on a busy machine)."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "query_string": b"", "headers": []}
    started, cpu = time.perf_counter(), time.process_time()
    asyncio.run(app.handle(scope, receive, send))
    seconds = time.perf_counter() - started
    return seconds, sent[0]["status"], len(sent[1]["body"]), time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--models", type=int, default=MODELS)
    parser.add_argument("--versions", type=int, default=VERSIONS, help="per model")
    parser.add_argument("--dir", type=Path, help="the project folder (kept; seeded if empty)")
    args = parser.parse_args()
    folder = args.dir or Path(tempfile.mkdtemp(prefix="dash-bench-"))
    import shipyard
    from shipyard.dashboard.app import DashboardApp
    from shipyard.dashboard.health import project_health

    if (folder / "shipyard.yaml").exists():
        project = shipyard.open(folder)
        print(f"reusing the project in {folder}")
    else:
        print(f"seeding {args.models} models x {args.versions} versions in {folder}")
        project = seed(folder, args.models, args.versions)
    versions = sum(s.versions for s in project.models.summaries())
    runs = len(project.monitoring.recent_runs(limit=100_000))
    firing = len(project.monitoring.alerts.list(limit=100_000))
    app = DashboardApp(project, threads=1)
    first, status, size, _ = render(app, "/ui")
    assert status == 200, status
    from shipyard.dashboard import live

    warm = [render(app, "/ui") for _ in range(args.repeats)]  # listings reused for 5 s
    kept, live.LIST_TTL_S = live.LIST_TTL_S, 0.0
    listed = [render(app, "/ui") for _ in range(args.repeats)]  # every log folder listed
    live.LIST_TTL_S = kept
    times, fresh = [r[0] for r in warm], [r[0] for r in listed]
    cpu, fresh_cpu = [r[3] for r in warm], [r[3] for r in listed]
    health = []
    for _ in range(min(args.repeats, 7)):
        started = time.perf_counter()
        project_health(project)
        health.append(time.perf_counter() - started)
    app.close()
    median = statistics.median(times) * 1000
    print(
        f"\nproject: {len(project.config.models)} models, {versions} versions, "
        f"{runs} monitoring runs, {firing} open alerts; page {size / 1000:.0f} kB"
    )
    print(f"first /ui (imports, cold): {first * 1000:.0f} ms")
    print(
        f"/ui over {args.repeats} renders: median {median:.0f} ms, "
        f"min {min(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms "
        f"(target < {TARGET_MS:.0f} ms: {'met' if median < TARGET_MS else 'NOT met'}); "
        f"CPU median {statistics.median(cpu) * 1000:.0f} ms"
    )
    print(
        f"/ui listing every log folder again: median {statistics.median(fresh) * 1000:.0f} ms, "
        f"min {min(fresh) * 1000:.0f} ms, max {max(fresh) * 1000:.0f} ms; "
        f"CPU median {statistics.median(fresh_cpu) * 1000:.0f} ms"
    )
    print(f"of which the health read model: median {statistics.median(health) * 1000:.0f} ms")
    project.close()


if __name__ == "__main__":
    main()
