"""Prometheus metrics: counters, gauges and histograms, exposed as text.

Each worker counts on its own, without locks: a counter or histogram update is
a dict lookup and a store into a float64 cell of a memory map. With several
workers that map is the worker's own file in the server's metrics folder, and
``/metrics`` adds up every worker's file (see :mod:`.metric_cells`), so a counter
a scrape shows never goes down, whichever worker answers it, even after a
worker died and was started again. Gauges are each worker's present state,
published about once a second; a scrape adds those of live workers (or takes
the largest, for figures every worker measures alike, such as the spool).

Series are bounded: every label value comes from a bounded set (served model
names or ``unknown``, route templates, statuses, versions loaded), and the map
has a fixed size; past it a new series is not counted, with one ERROR.
"""

from __future__ import annotations

import bisect
import json
import logging
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.storage.safe_files import write_atomic

from .metric_cells import Cells, cells_name, read_folder

logger = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


@dataclass(frozen=True)
class Spec:
    kind: str
    help: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] = ()
    merge: str = "sum"  # gauges over live workers: "sum", or "max" for a figure all share


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
        "counter",
        "Model version switches, and refused ones; challenger_loaded, challenger_dropped "
        "and challenger_refused for the challenger alias.",
        ("model", "result"),
    ),
    "shipyard_shadow_total": Spec(
        "counter",
        "Copies of answered requests for the other version (the challenger, or the champion "
        "for a canary's), off the request path, by outcome: answered, shed (the live model "
        "busy or the queue full), error, timeout.",
        ("model", "outcome"),
    ),
    "shipyard_canary_total": Spec(
        "counter",
        "Requests the canary gave the challenger, by outcome: answered, busy (the champion "
        "answered), shed, error, timeout (the champion answered after it).",
        ("model", "outcome"),
    ),
    "shipyard_prediction_log_rows_total": Spec(
        "counter",
        "Prediction log rows, by where they went (store, spool, or dropped past the buffer bound).",
        ("kind", "destination"),
    ),
    "shipyard_prediction_log_spooled_rows": Spec(
        "gauge", "Log rows waiting on local disk for the artifact store.", (), merge="max"
    ),
    "shipyard_feedback_total": Spec("counter", "Ground-truth labels received.", ("model",)),
    "shipyard_connections_closed_total": Spec(
        "counter",
        "Connections the server closed or refused to protect itself, by why.",
        ("reason",),
    ),
    "shipyard_connections_open": Spec(
        "gauge", "Client connections open now (summed over workers).", ()
    ),
    "shipyard_connections_limit": Spec(
        "gauge", "The connection cap, server.max_connections (summed over workers).", ()
    ),
    # the latest background monitoring run (server.monitor_every), from one worker: each
    # over the model's monitoring window and over every other window an alert rule on it
    # names (``window``, as Prometheus writes it: "1h", "1d"); a window with nothing to
    # judge has no series (shipyard.monitoring.prometheus)
    "shipyard_drift_detected": Spec(
        "gauge",
        "1 when the column drifted in the latest run over the window.",
        ("model", "feature", "kind", "window"),
    ),
    "shipyard_drift_score": Spec(
        "gauge",
        "The deciding drift statistic of the latest run over the window.",
        ("model", "feature", "method", "window"),
    ),
    "shipyard_feature_quality": Spec(
        "gauge",
        "Null rate, out-of-range and unseen-category shares over the window.",
        ("model", "feature", "figure", "window"),
    ),
    "shipyard_model_metric": Spec(
        "gauge",
        "Metrics from ground-truth feedback over the window (enough labels only).",
        ("model", "metric", "window"),
    ),
    "shipyard_service_figure": Spec(
        "gauge",
        "Service figures over the window (share of requests over budget).",
        ("model", "figure", "window"),
    ),
    "shipyard_monitor_last_run_timestamp_seconds": Spec(
        "gauge", "When monitoring last ran.", ("model",)
    ),
}


_NO_SPEC = Spec("counter", "", ())

UNKNOWN = "unknown"
"""The label value for a model a request named but that is not served here."""


def route_label(path: str) -> str:
    """The route ``path`` matches, as a template (``/v1/models/{name}/predict``), else ``other``.

    Label values come from the route table (:mod:`.routes`) only: a path a client
    makes up (a random model name, alias or suffix) never becomes a new series.
    """
    from .routes import route_label as label  # lazy: the table's handlers import this module

    return label(path)


def __getattr__(name: str) -> Any:
    if name == "_PLAIN_ROUTES":  # the labels of the routes without parameters, from the table
        from .routes import PLAIN_LABELS

        return PLAIN_LABELS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def model_label(name: str, served: Any) -> str:
    """``name`` when it is served (a key of ``served``), ``unknown`` when not, ``""`` for none."""
    if not name or name in served:
        return name
    return UNKNOWN


class Metrics:
    """The figures of one worker: counters and histograms in cells, gauges in a dict.

    ``inc`` and ``observe`` add to float64 cells (see :mod:`.metric_cells`): a dict
    lookup and a store, about as cheap as a dict update. With several workers the
    cells are the worker's file in the metrics folder (``SharedMetrics``).
    """

    def __init__(self, cells: Cells | None = None) -> None:
        cells = cells or Cells()  # in memory, unless the worker's file is given
        self._store = cells
        self._cells = cells.cells
        self._index = cells.index
        self._histograms: dict[str, dict[tuple[str, ...], tuple[int, tuple[float, ...], int]]] = {}
        self.gauges: dict[str, dict[tuple[str, ...], float]] = defaultdict(dict)

    def inc(self, name: str, labels: tuple[str, ...] = (), value: float = 1.0) -> None:
        try:
            first = self._index[name][labels]
        except KeyError:
            first = self._new(name, labels)
            if first < 0:
                if _kind(name) == "gauge":
                    series = self.gauges[name]
                    series[labels] = series.get(labels, 0.0) + value
                return
        self._cells[first] += value

    def set(self, name: str, labels: tuple[str, ...], value: float) -> None:
        """Set a gauge (counters only go up: use ``inc``)."""
        self.gauges[name][labels] = value

    def replace(
        self, model: str, window: str, series: Iterable[tuple[str, tuple[str, ...], float]]
    ) -> None:
        """Put ``series`` in place of ``model``'s window-labelled gauges over ``window``:
        a figure the latest run over that window could not judge goes, not stays stale."""
        for name, gauges in self.gauges.items():
            if SPECS.get(name, _NO_SPEC).labels[-1:] == ("window",):
                for labels in [k for k in gauges if k[0] == model and k[-1] == window]:
                    del gauges[labels]
        for name, labels, value in series:
            self.set(name, labels, value)

    def observe(self, name: str, labels: tuple[str, ...], value: float) -> None:
        try:
            first, buckets, total = self._histograms[name][labels]
        except KeyError:
            first = self._new(name, labels)
            if first < 0:
                return
            buckets = SPECS[name].buckets
            total = first + len(buckets) + 1
            self._histograms.setdefault(name, {})[labels] = (first, buckets, total)
        cells = self._cells
        cells[first + bisect.bisect_left(buckets, value)] += 1
        cells[total] += value

    def _new(self, name: str, labels: tuple[str, ...]) -> int:
        kind = _kind(name)
        if kind == "gauge":
            return -1
        size = len(SPECS[name].buckets) + 2 if kind == "histogram" else 1
        return self._store.allocate(name, labels, size)  # buckets, +Inf, sum

    @property
    def values(self) -> dict[str, dict[tuple[str, ...], float]]:
        """Counters and gauges: {name: {label values: value}} (a copy)."""
        return _figures(self._store.series(), self.gauges).values

    @property
    def histograms(self) -> dict[str, dict[tuple[str, ...], list[float]]]:
        """Histograms: {name: {label values: [count per bucket…, +Inf, sum]}} (a copy)."""
        return _figures(self._store.series(), {}).histograms

    def snapshot(self) -> dict[str, Any]:
        """Every figure as JSON-ready lists (a worker publishes the gauges of it)."""
        figures = _figures(self._store.series(), self.gauges)
        return {
            "values": {n: [[list(k), v] for k, v in s.items()] for n, s in figures.values.items()},
            "histograms": {
                n: [[list(k), v] for k, v in s.items()] for n, s in figures.histograms.items()
            },
        }

    def gauge_snapshot(self) -> dict[str, Any]:
        """The gauges alone, in ``snapshot``'s shape: what a worker publishes every second
        (the counters are in its cells file already; reading them all is not needed)."""
        return {"values": {n: [[list(k), v] for k, v in s.items()] for n, s in self.gauges.items()}}

    def render(self) -> str:
        """The Prometheus text exposition format (version 0.0.4)."""
        return _figures(self._store.series(), self.gauges).render()


def _kind(name: str) -> str:
    spec = SPECS.get(name)
    return spec.kind if spec is not None else "counter"


@dataclass
class Figures:
    """Figures added up (over the cells of every worker, and the gauges of live ones)."""

    values: dict[str, dict[tuple[str, ...], float]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    histograms: dict[str, dict[tuple[str, ...], list[float]]] = field(
        default_factory=lambda: defaultdict(dict)
    )

    def add_cells(self, series: Iterable[tuple[tuple[str, tuple[str, ...]], list[float]]]) -> None:
        for (name, labels), cells in series:
            if _kind(name) == "histogram":
                mine = self.histograms[name]
                had = mine.get(labels)
                if had is not None and len(had) == len(cells):
                    mine[labels] = [a + b for a, b in zip(had, cells, strict=True)]
                else:
                    mine[labels] = list(cells)
            else:
                counters = self.values[name]
                counters[labels] = counters.get(labels, 0.0) + cells[0]

    def add_gauges(self, gauges: dict[str, Any]) -> None:
        """Add one worker's gauges ({name: {labels: value}} or the JSON's [[labels, value]])."""
        for name, series in gauges.items():
            mine = self.values[name]
            merge = SPECS[name].merge if name in SPECS else "sum"
            pairs = series.items() if isinstance(series, dict) else series
            for labels, value in pairs:
                key = tuple(labels)
                had = mine.get(key)
                if had is None:
                    mine[key] = value
                else:
                    mine[key] = max(had, value) if merge == "max" else had + value

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


def _figures(
    series: Iterable[tuple[tuple[str, tuple[str, ...]], list[float]]],
    gauges: dict[str, dict[tuple[str, ...], float]],
) -> Figures:
    figures = Figures()
    figures.add_cells(series)
    figures.add_gauges(gauges)
    return figures


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
    """The figures of every worker of one server, in its metrics folder.

    Each worker's counters and histograms are its cells file there, written as
    they change; ``combined`` adds up every cells file, of live and dead workers
    alike, so a counter never goes down between scrapes, whichever worker answers
    them. Gauges are a worker's present state: each worker publishes its gauges
    about once a second (``write``), and ``combined`` adds those of live workers
    (the supervisor removes a dead worker's) to its own.
    """

    def __init__(self, folder: Path | None, worker: str) -> None:
        self.folder = folder
        self.worker = worker
        self.cells: Cells | None = None
        if folder is not None:
            try:
                self.cells = Cells(folder / cells_name(worker))
            except OSError as exc:  # a full disk at start: count alone, say so
                logger.error(
                    "cannot make the metrics file in %s (%s): /metrics counts only the worker "
                    "that answers it",
                    folder,
                    exc,
                )

    def close(self) -> None:
        """Unmap this worker's file (tests that make several workers in one process)."""
        if self.cells is not None:
            self.cells.close()
            self.cells = None

    def write(self, snapshot: dict[str, Any]) -> None:
        """Publish the gauges of this worker's ``Metrics.gauge_snapshot()`` (or ``snapshot()``),
        taken on the event loop."""
        if self.folder is None:
            return
        gauges = {n: s for n, s in snapshot.get("values", {}).items() if _kind(n) == "gauge"}
        # an exclusive temporary file renamed into place: never through a planted link
        # (not fsynced: a snapshot is rewritten every second and means nothing after a crash)
        target = self.folder / f"worker-{self.worker}.json"
        write_atomic(target, json.dumps({"gauges": gauges}).encode(), durable=False)

    def combined(self, metrics: Metrics) -> Metrics | Figures:
        """Every worker's counters and histograms, this worker's gauges and the live workers'."""
        if self.folder is None:
            return metrics
        total = Figures()
        total.add_cells(read_folder(self.folder))
        total.add_gauges(metrics.gauges)
        for path in sorted(self.folder.glob("worker-*.json")):
            if path.name == f"worker-{self.worker}.json":
                continue
            try:
                total.add_gauges(json.loads(path.read_text(encoding="utf-8")).get("gauges", {}))
            except (OSError, ValueError, AttributeError):
                continue  # a worker that just went away
        return total
