"""Prometheus metrics: counters, gauges and histograms kept in memory, exposed as text.

Each worker counts on its own (a dict update per event, no locks: one event
loop). With several workers, each writes a snapshot to a shared folder about
once a second, off the request path, and ``/metrics`` adds the other workers'
latest snapshots to its own live figures, so a scrape sees the whole server.
"""

from __future__ import annotations

import bisect
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.storage.safe_files import write_atomic

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


@dataclass(frozen=True)
class Spec:
    kind: str
    help: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] = ()


SPECS: dict[str, Spec] = {
    "shipyard_requests_total": Spec(
        "counter", "HTTP requests, by route and status.", ("model", "route", "status")
    ),
    "shipyard_request_duration_seconds": Spec(
        "histogram",
        "Time from request to answer of prediction requests, by who answered.",
        ("model", "version", "path"),
        LATENCY_BUCKETS,
    ),
    "shipyard_predictions_total": Spec(
        "counter", "Rows answered, by who answered them.", ("model", "version", "path")
    ),
    "shipyard_degraded_total": Spec(
        "counter",
        "Rows answered by the fallback chain, by link and the model's failure.",
        ("model", "path", "reason"),
    ),
    "shipyard_shed_total": Spec(
        "counter",
        "Prediction requests refused for load (429, or 503 while draining), by why: "
        "over_capacity (not admitted), queue_timeout (the budget ran out in the queue).",
        ("model", "reason"),
    ),
    "shipyard_unanswered_total": Spec(
        "counter", "Rows nothing could answer (a 503).", ("model", "reason")
    ),
    "shipyard_model_failures_total": Spec(
        "counter", "Model calls that raised or ran past the budget.", ("model", "version", "kind")
    ),
    "shipyard_batch_size": Spec(
        "histogram", "Rows per model call (micro-batching).", ("model",), BATCH_BUCKETS
    ),
    "shipyard_model_loaded": Spec(
        "gauge", "1 for each loaded model version (summed over workers).", ("model", "version")
    ),
    "shipyard_circuit_open": Spec(
        "gauge", "1 while the model's circuit breaker is open (summed over workers).", ("model",)
    ),
    "shipyard_switches_total": Spec(
        "counter", "Model version switches, and refused ones.", ("model", "result")
    ),
    "shipyard_prediction_log_rows_total": Spec(
        "counter", "Prediction log rows, by where they went.", ("kind", "destination")
    ),
    "shipyard_prediction_log_spooled_rows": Spec(
        "gauge", "Log rows waiting on local disk for the artifact store.", ()
    ),
    "shipyard_feedback_total": Spec("counter", "Ground-truth labels received.", ("model",)),
    # the latest background monitoring run (server.monitor_every), from one worker
    "shipyard_drift_detected": Spec(
        "gauge", "1 when the column drifted in the latest run.", ("model", "feature", "kind")
    ),
    "shipyard_drift_score": Spec(
        "gauge", "The deciding drift statistic of the latest run.", ("model", "feature", "method")
    ),
    "shipyard_feature_quality": Spec(
        "gauge",
        "Null rate, out-of-range and unseen-category shares.",
        ("model", "feature", "figure"),
    ),
    "shipyard_model_metric": Spec(
        "gauge", "Metrics from ground-truth feedback in the latest run.", ("model", "metric")
    ),
    "shipyard_service_figure": Spec(
        "gauge", "Service figures of the latest run (share over budget).", ("model", "figure")
    ),
    "shipyard_monitor_last_run_timestamp_seconds": Spec(
        "gauge", "When monitoring last ran.", ("model",)
    ),
}


UNKNOWN = "unknown"
"""The label value for a model a request named but that is not served here."""

_PLAIN_ROUTES = frozenset(
    {
        "/healthz", "/readyz", "/metrics", "/invocations", "/ping", "/health", "/openapi.json",
        "/version", "/v1/models", "/v1/admin/reload", "/v1/admin/fault", "/v2",
        "/v2/health/live", "/v2/health/ready",
    }
)  # fmt: skip


def route_label(path: str) -> str:
    """The route ``path`` matches, as a template (``/v1/models/{name}/predict``), else ``other``.

    Label values come from this fixed set only: a path a client makes up (a random
    model name, alias or suffix) never becomes a new series.
    """
    if path in _PLAIN_ROUTES:
        return path
    parts = path.strip("/").split("/")
    if len(parts) < 3 or parts[0] not in ("v1", "v2") or parts[1] != "models":
        return "other"
    base = f"/{parts[0]}/models/{{name}}"
    rest = parts[3:]
    if parts[0] == "v1":
        if len(rest) == 2 and rest[0] == "aliases":
            return base + "/aliases/{alias}"
    elif len(rest) >= 2 and rest[0] == "versions":
        base, rest = base + "/versions/{version}", rest[2:]
    if not rest:
        return base
    if len(rest) == 1 and rest[0] in (
        ("predict", "feedback") if parts[0] == "v1" else ("ready", "infer")
    ):
        return f"{base}/{rest[0]}"
    return "other"


def model_label(name: str, served: Any) -> str:
    """``name`` when it is served (a key of ``served``), ``unknown`` when not, ``""`` for none."""
    if not name or name in served:
        return name
    return UNKNOWN


class Metrics:
    """The figures of one worker."""

    def __init__(self) -> None:
        self.values: dict[str, dict[tuple[str, ...], float]] = defaultdict(dict)
        self.histograms: dict[str, dict[tuple[str, ...], list[float]]] = defaultdict(dict)

    def inc(self, name: str, labels: tuple[str, ...] = (), value: float = 1.0) -> None:
        series = self.values[name]
        series[labels] = series.get(labels, 0.0) + value

    def set(self, name: str, labels: tuple[str, ...], value: float) -> None:
        self.values[name][labels] = value

    def observe(self, name: str, labels: tuple[str, ...], value: float) -> None:
        series = self.histograms[name]
        counts = series.get(labels)
        buckets = SPECS[name].buckets
        if counts is None:
            counts = series[labels] = [0.0] * (len(buckets) + 2)  # buckets, +Inf, sum
        counts[bisect.bisect_left(buckets, value)] += 1
        counts[-1] += value

    def snapshot(self) -> dict[str, Any]:
        return {
            "values": {n: [[list(k), v] for k, v in s.items()] for n, s in self.values.items()},
            "histograms": {
                n: [[list(k), v] for k, v in s.items()] for n, s in self.histograms.items()
            },
        }

    def merge(self, snapshot: dict[str, Any]) -> None:
        """Add another worker's snapshot to these figures."""
        for name, series in snapshot.get("values", {}).items():
            for labels, value in series:
                self.inc(name, tuple(labels), value)
        for name, series in snapshot.get("histograms", {}).items():
            mine = self.histograms[name]
            for labels, counts in series:
                key = tuple(labels)
                if key in mine and len(mine[key]) == len(counts):
                    mine[key] = [a + b for a, b in zip(mine[key], counts, strict=True)]
                else:
                    mine[key] = list(counts)

    def render(self) -> str:
        """The Prometheus text exposition format (version 0.0.4)."""
        lines: list[str] = []
        for name, spec in SPECS.items():
            lines.append(f"# HELP {name} {spec.help}")
            lines.append(f"# TYPE {name} {spec.kind}")
            if spec.kind == "histogram":
                for labels, counts in sorted(self.histograms.get(name, {}).items()):
                    lines += _histogram_lines(name, spec, labels, counts)
            else:
                for labels, value in sorted(self.values.get(name, {}).items()):
                    lines.append(f"{name}{_labels(spec.labels, labels)} {_number(value)}")
        return "\n".join(lines) + "\n"


def _histogram_lines(
    name: str, spec: Spec, labels: tuple[str, ...], counts: list[float]
) -> list[str]:
    lines = []
    running = 0.0
    for bound, count in zip([*spec.buckets, math.inf], counts[:-1], strict=True):
        running += count
        le = "+Inf" if bound == math.inf else _number(bound)
        lines.append(
            f"{name}_bucket{_labels((*spec.labels, 'le'), (*labels, le))} {_number(running)}"
        )
    lines.append(f"{name}_sum{_labels(spec.labels, labels)} {_number(counts[-1])}")
    lines.append(f"{name}_count{_labels(spec.labels, labels)} {_number(running)}")
    return lines


def _labels(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    if not names:
        return ""
    pairs = ",".join(f'{n}="{_escape(str(v))}"' for n, v in zip(names, values, strict=True))
    return "{" + pairs + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


class SharedMetrics:
    """Snapshots of every worker of one server in a folder (``SHIPYARD_METRICS_DIR``)."""

    def __init__(self, folder: Path | None, worker: str) -> None:
        self.folder = folder
        self.worker = worker

    def write(self, snapshot: dict[str, Any]) -> None:
        """Publish this worker's ``Metrics.snapshot()`` (taken on the event loop)."""
        if self.folder is None:
            return
        # an exclusive temporary file renamed into place: never through a planted link
        # (not fsynced: a snapshot is rewritten every second and means nothing after a crash)
        target = self.folder / f"worker-{self.worker}.json"
        write_atomic(target, json.dumps(snapshot).encode(), durable=False)

    def combined(self, metrics: Metrics) -> Metrics:
        """This worker's live figures plus every other worker's latest snapshot."""
        if self.folder is None:
            return metrics
        total = Metrics()
        total.merge(metrics.snapshot())
        for path in sorted(self.folder.glob("worker-*.json")):
            if path.name == f"worker-{self.worker}.json":
                continue
            try:
                total.merge(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue  # a worker that just went away
        return total
